// Conversions between float32 and the 16-bit formats, with the rounding the engine uses
// (docs/algorithm.md, "Numbers"), for users who keep params in bf16 or f16.
import { isTypedArray, requireInteger, requireNumber, requireObject, requireOneOf, typeError } from "./validate";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

function fromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

export function floatToBf16Bits(x: number): number {
  const b = bitsOf(requireNumber(x, "x"));
  if ((b & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToFloat(h: number): number {
  return fromBits((requireInteger(h, "bits", 0, 0xffff) & 0xffff) << 16);
}

export function floatToF16Bits(x: number): number {
  const b = bitsOf(requireNumber(x, "x"));
  const sign = (b >>> 16) & 0x8000;
  const ax = b & 0x7fffffff;
  if (ax > 0x7f800000) return 0x7e00;
  if (ax >= 0x477ff000) return sign | 0x7c00;
  if (ax >= 0x38800000) {
    let r = ax - 0x38000000;
    r += 0xfff + ((r >>> 13) & 1);
    return sign | (r >>> 13);
  }
  const exponent = ax >>> 23;
  if (exponent < 102) return sign;
  const mantissa = (ax & 0x7fffff) | 0x800000;
  const shift = 126 - exponent;
  let q = mantissa >>> shift;
  const rem = mantissa & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (q & 1))) q++;
  return sign | q;
}

export function f16BitsToFloat(h: number): number {
  requireInteger(h, "bits", 0, 0xffff);
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return (sign ? -1 : 1) * mantissa * 2 ** -24;
  if (exponent === 31) return fromBits(sign | 0x7f800000 | (mantissa << 13));
  return fromBits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

const NUMBER_ARRAYS: { name: string; prototype: ArrayBufferView }[] = [
  Float32Array, Float64Array, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
];

/** `values` as numbers: a typed array of numbers, or an array whose every element is a number. */
function numbersOf(values: unknown): ArrayLike<number> {
  if (NUMBER_ARRAYS.some((type) => isTypedArray(values, type))) return values as ArrayLike<number>;
  if (!Array.isArray(values)) throw typeError("values", "a typed array or an array of numbers", values);
  values.forEach((v, i) => requireNumber(v, `values[${i}]`));
  return values;
}

function encode(values: unknown, round: (x: number) => number): Uint16Array {
  const numbers = numbersOf(values);
  const data = new Uint16Array(numbers.length);
  for (let i = 0; i < numbers.length; i++) data[i] = round(numbers[i]);
  return data;
}

/** float32 values -> a bf16 tensor (round to nearest even). */
export function toBf16(values: ArrayLike<number>): { data: Uint16Array; dtype: "bf16" } {
  return { data: encode(values, floatToBf16Bits), dtype: "bf16" };
}

/** float32 values -> an f16 tensor (round to nearest even). */
export function toF16(values: ArrayLike<number>): { data: Uint16Array; dtype: "f16" } {
  return { data: encode(values, floatToF16Bits), dtype: "f16" };
}

/** Any host tensor's values as float32. */
export function toFloat32(tensor: Float32Array | { data: Uint16Array | Float32Array; dtype: string }): Float32Array {
  if (isTypedArray(tensor, Float32Array)) return Float32Array.from(tensor);
  const t = requireObject(tensor, "tensor");
  const dtype = requireOneOf(t.dtype, "tensor.dtype", ["f32", "bf16", "f16"] as const);
  const type = dtype === "f32" ? Float32Array : Uint16Array;
  if (!isTypedArray(t.data, type as { name: string; prototype: Float32Array | Uint16Array }))
    throw typeError("tensor.data", `a ${type.name} (dtype '${dtype}')`, t.data);
  if (dtype === "f32") return Float32Array.from(t.data);
  return Float32Array.from(t.data, dtype === "bf16" ? bf16BitsToFloat : f16BitsToFloat);
}
