// Float32 arithmetic and the 16-bit float formats of docs/algorithm.md ("Numbers"), written
// from the doc alone so that this model and the native engine check each other.
//
// Every helper takes and returns float32 values held in JS numbers. A float64 operation on
// two float32 values followed by Math.fround is exactly the float32 operation (float64 has
// more than 2·24 + 2 significand bits), so one fround per operation is one float32 rounding.

const f32Box = new Float32Array(1);
const bitsBox = new Uint32Array(f32Box.buffer);

/** The float32 bit pattern of x (x is rounded to float32 first). */
export function f32Bits(x: number): number {
  f32Box[0] = x;
  return bitsBox[0];
}

/** The float32 whose bit pattern is `bits` (NaN payloads do not survive a JS number). */
export function f32FromBits(bits: number): number {
  bitsBox[0] = bits;
  return f32Box[0];
}

export const f32 = Math.fround;
export const add = (a: number, b: number): number => Math.fround(a + b);
export const sub = (a: number, b: number): number => Math.fround(a - b);
export const mul = (a: number, b: number): number => Math.fround(a * b);
export const div = (a: number, b: number): number => Math.fround(a / b);
export const sqrt = (a: number): number => Math.fround(Math.sqrt(a));

/** True when the float32 x has its sign bit set (tells −0 from +0). */
export function signBitSet(x: number): boolean {
  return Number.isNaN(x) ? false : (f32Bits(x) & 0x80000000) !== 0;
}

// ---- bfloat16 ----

export const BF16_NAN = 0x7fc0;
export const BF16_MAX = 0x7f7f;
export const BF16_NEG_MAX = 0xff7f;

/** bf16 → float32 is exact: the 16 bits become the high half. */
export function bf16ToF32(bits: number): number {
  return f32FromBits((bits & 0xffff) * 0x10000);
}

/** float32 → bf16, nearest, ties to even on the bit pattern; every NaN becomes 0x7FC0. */
export function f32ToBf16(x: number): number {
  if (Number.isNaN(x)) return BF16_NAN;
  const bits = f32Bits(x);
  const kept = bits >>> 16;
  const dropped = bits & 0xffff;
  // A carry out of the mantissa walks into the exponent, which is how values past the
  // largest finite bf16 become ±Inf.
  if (dropped > 0x8000 || (dropped === 0x8000 && (kept & 1) === 1)) return kept + 1;
  return kept;
}

/**
 * Largest bf16 ≤ x, saturating at ±(largest finite bf16); never ±Inf. x must not be NaN.
 * Cutting the low half moves a value toward zero, so it rounds a positive x down and a
 * negative x up; −0 stays −0 (and up() of a tiny negative x gives −0, not +0).
 */
export function bf16Down(x: number): number {
  if (Number.isNaN(x)) throw new Error("bf16Down of NaN");
  const bits = f32Bits(x);
  const kept = bits >>> 16;
  const exact = (bits & 0xffff) === 0;
  const negative = (bits & 0x80000000) !== 0;
  return saturateToFinite(exact || !negative ? kept : kept + 1);
}

/** Smallest bf16 ≥ x, saturating at ±(largest finite bf16); never ±Inf. x must not be NaN. */
export function bf16Up(x: number): number {
  if (Number.isNaN(x)) throw new Error("bf16Up of NaN");
  const bits = f32Bits(x);
  const kept = bits >>> 16;
  const exact = (bits & 0xffff) === 0;
  const negative = (bits & 0x80000000) !== 0;
  return saturateToFinite(exact || negative ? kept : kept + 1);
}

/** Maps bf16 ±Inf (from an infinite x or a carry past the top binade) to ±0x7F7F. */
function saturateToFinite(bits: number): number {
  if (bits === 0x7f80) return BF16_MAX;
  if (bits === 0xff80) return BF16_NEG_MAX;
  return bits;
}

// ---- IEEE binary16 ----

export const F16_NAN = 0x7e00;

/** binary16 → float32, exact (every binary16 value is a float32 value). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0x1f) return fraction !== 0 ? NaN : sign * Infinity;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

function roundHalfToEven(v: number): number {
  const floor = Math.floor(v);
  const fraction = v - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * float32 → binary16, nearest, ties to even, with subnormals and overflow to ±Inf; every NaN
 * becomes 0x7E00. Counts the value in units of the binary16 spacing at its magnitude (exact in
 * float64), rounds that count, and lets a carry run into the exponent field.
 */
export function f32ToF16(x: number): number {
  if (Number.isNaN(x)) return F16_NAN;
  const bits = f32Bits(x);
  const sign = bits & 0x80000000 ? 0x8000 : 0;
  const magnitude = Math.abs(f32FromBits(bits));
  if (magnitude === Infinity) return sign | 0x7c00;
  if (magnitude < 2 ** -14) {
    // Subnormal range: spacing 2^-24; a count of 1024 is the smallest normal, 0x0400.
    return sign | roundHalfToEven(magnitude * 2 ** 24);
  }
  const exponent = ((bits >>> 23) & 0xff) - 127;
  if (exponent > 15) return sign | 0x7c00;
  const count = roundHalfToEven(magnitude / 2 ** (exponent - 10)); // 1024 … 2048
  // count = 2048 carries into the next exponent (0x7C00, Inf, from the top binade).
  return sign | (((exponent + 15) << 10) + count - 1024);
}

// ---- Top-K ordering ----

/**
 * The Top-K key: the bits of |a| as an unsigned integer. A JS NaN has no payload, so every NaN
 * gets the key of the canonical quiet NaN; the tests only feed canonical NaNs, for which
 * g + deq gives that same key on IEEE hardware.
 */
export function magnitudeKey(a: number): number {
  if (Number.isNaN(a)) return 0x7fc00000;
  return (f32Bits(a) & 0x7fffffff) >>> 0;
}
