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

export function normalizeTensor(value: unknown, name: string): NormalizedTensor {
  if (isTypedArray(value, Float32Array)) return { data: value, dtype: "f32" };
  if (!isPlainObject(value)) throw typeError(name, TENSOR_EXPECTED, value);
  const { data, dtype } = value as { data?: unknown; dtype?: unknown };
  if (dtype === "bf16" || dtype === "f16") {
    if (!isTypedArray(data, Uint16Array)) throw typeError(`${name}.data`, `a Uint16Array (dtype '${dtype}')`, data);
    return { data, dtype };
  }
  if (dtype === "f32") {
    if (!isTypedArray(data, Float32Array)) throw typeError(`${name}.data`, "a Float32Array (dtype 'f32')", data);
    return { data, dtype };
  }
  throw typeError(`${name}.dtype`, "one of 'f32', 'bf16', 'f16'", dtype);
}

export function tensorNumel(t: Tensor): number {
  return isTypedArray(t, Float32Array) ? t.length : (t as { data: ArrayLike<number> }).data.length;
}
