// Host tensors as the native layer takes them: raw typed array plus a dtype code.
import type { Dtype, Tensor } from "./types";
import { isPlainObject, isTypedArray, typeError } from "./validate";

/** Dtype codes shared with csrc/core/tensor.h. */
export const DTYPE_CODE: Readonly<Record<Dtype, number>> = { f32: 0, bf16: 1, f16: 2 };

export interface NormalizedTensor {
  data: Float32Array | Uint16Array;
  dtype: Dtype;
}

const TENSOR_EXPECTED = "a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' }";

// The built-in getters, taken once: an own `buffer` or `resizable` property on a tensor cannot
// hide what its memory is.
const bufferOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "buffer")!.get!;
const isResizable = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "resizable")?.get;
const sharedByteLength = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "byteLength")!.get!;

function isShared(buffer: ArrayBufferLike): boolean {
  try {
    sharedByteLength.call(buffer); // throws for anything but a SharedArrayBuffer
    return true;
  } catch {
    return false;
  }
}

/**
 * Tensor memory must be a fixed-length ArrayBuffer of this thread: a SharedArrayBuffer would race
 * with the engine, and a resizable one could shrink under a step (docs/reliability.md).
 */
function checkMemory<T extends Float32Array | Uint16Array>(data: T, name: string): T {
  const buffer = bufferOf.call(data) as ArrayBufferLike;
  const kind = isShared(buffer) ? "a SharedArrayBuffer" : isResizable?.call(buffer) ? "a resizable ArrayBuffer" : undefined;
  if (kind !== undefined) {
    const e = new TypeError(`Expected ${name} to be backed by a fixed-length ArrayBuffer but it is backed by ${kind}`);
    (e as TypeError & { code: string }).code = "ERR_INVALID_ARG_TYPE";
    throw e;
  }
  return data;
}

export function normalizeTensor(value: unknown, name: string): NormalizedTensor {
  if (isTypedArray(value, Float32Array)) return { data: checkMemory(value, name), dtype: "f32" };
  if (!isPlainObject(value)) throw typeError(name, TENSOR_EXPECTED, value);
  const { data, dtype } = value as { data?: unknown; dtype?: unknown };
  if (dtype === "bf16" || dtype === "f16") {
    if (!isTypedArray(data, Uint16Array)) throw typeError(`${name}.data`, `a Uint16Array (dtype '${dtype}')`, data);
    return { data: checkMemory(data, `${name}.data`), dtype };
  }
  if (dtype === "f32") {
    if (!isTypedArray(data, Float32Array)) throw typeError(`${name}.data`, "a Float32Array (dtype 'f32')", data);
    return { data: checkMemory(data, `${name}.data`), dtype };
  }
  throw typeError(`${name}.dtype`, "one of 'f32', 'bf16', 'f16'", dtype);
}

export function tensorNumel(t: Tensor): number {
  return isTypedArray(t, Float32Array) ? t.length : (t as { data: ArrayLike<number> }).data.length;
}
