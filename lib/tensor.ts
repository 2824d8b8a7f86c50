// Tensors as the native layer takes them: raw typed array plus a dtype code, or for CUDA device
// memory a DeviceArray's native object or a checked { ptr, numel, dtype, device } record.
import { types } from "util";
import type { NativeDeviceArray, NativeDeviceTensorRecord } from "./binding";
import { isDeviceArray } from "./device-array";
import type { Dtype, StepTensor } from "./types";
import { describe, isPlainObject, isTypedArray, rangeError, requireInteger, requireOneOf, typeError, withCode } from "./validate";

/** Dtype codes of csrc/core/call_format.h (test/call-format.test.ts compares). */
export const DTYPE_CODE: Readonly<Record<Dtype, number>> = { f32: 0, bf16: 1, f16: 2 };

export interface NormalizedTensor {
  /** Host memory, or (device: 'cuda') what the native layer reads for device memory. */
  data: Float32Array | Uint16Array | NativeDeviceArray | NativeDeviceTensorRecord;
  dtype: Dtype;
  /** 'cuda' for device memory; absent for host memory. */
  device?: "cuda";
}

/** Elements of a normalized tensor. */
export function normalizedNumel(t: NormalizedTensor): number {
  return t.device === "cuda" ? (t.data as NativeDeviceTensorRecord).numel : (t.data as Float32Array).length;
}

/** What makes two tensors the same memory: the typed array, or the device address. */
export function tensorIdentity(t: NormalizedTensor): unknown {
  return t.device === "cuda" ? (t.data as NativeDeviceTensorRecord).ptr : t.data;
}

/** How errors describe a tensor they received. */
export function describeTensor(t: NormalizedTensor): string {
  if (t.device !== "cuda") return describe(t.data);
  const kind = "device" in t.data ? "a CUDA device tensor" : "a DeviceArray";
  return `${kind} of ${normalizedNumel(t)} elements (dtype '${t.dtype}')`;
}

const DTYPES = ["f32", "bf16", "f16"] as const;
const DEVICE_TENSOR_EXPECTED = "a device tensor { ptr: bigint, numel, dtype: 'f32' | 'bf16' | 'f16', device: 'cuda' }";

/** A DeviceArray, or a { ptr, numel, dtype, device } record checked field by field. */
function normalizeDeviceTensor(value: Record<string, unknown>, name: string): NormalizedTensor {
  if (isDeviceArray(value)) {
    if (value.freed) {
      throw withCode(new Error(`${name} was freed: a DeviceArray cannot be used after free()`), "ERR_MICROADAM_STATE");
    }
    return { data: value.native, dtype: value.dtype, device: "cuda" };
  }
  const { ptr, numel, dtype, device } = value;
  if (device !== "cuda") throw typeError(`${name}.device`, `'cuda' (${DEVICE_TENSOR_EXPECTED})`, device);
  if (typeof ptr !== "bigint") throw typeError(`${name}.ptr`, "a bigint (a device address)", ptr);
  if (ptr <= 0n || ptr >= 1n << 64n) throw rangeError(`${name}.ptr`, "a bigint in [1, 2^64 - 1] (a device address)", ptr);
  const n = requireInteger(numel, `${name}.numel`, 1, Number.MAX_SAFE_INTEGER);
  const d = requireOneOf(dtype, `${name}.dtype`, DTYPES);
  return { data: { ptr, numel: n, dtype: d, device: "cuda" }, dtype: d, device: "cuda" };
}

const TENSOR_EXPECTED = "a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' }";

// The built-in getters, taken once: an own `buffer` or `resizable` property on a tensor cannot
// hide what its memory is. util.types reads the buffer's internal slots, and throws nothing (a
// step checks two tensors per state: an exception each would dominate a step over many tensors).
const bufferOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "buffer")!.get!;
const isResizable = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "resizable")?.get;
const { isSharedArrayBuffer } = types;

/** What is wrong with a typed array's memory for a step, or undefined (docs/reliability.md). */
function memoryProblem(data: Float32Array | Uint16Array): string | undefined {
  const buffer = bufferOf.call(data) as ArrayBufferLike;
  if (isSharedArrayBuffer(buffer)) return "a SharedArrayBuffer";
  return isResizable?.call(buffer) ? "a resizable ArrayBuffer" : undefined;
}

/**
 * Tensor memory must be a fixed-length ArrayBuffer of this thread: a SharedArrayBuffer would race
 * with the engine, and a resizable one could shrink under a step (docs/reliability.md).
 */
function checkMemory<T extends Float32Array | Uint16Array>(data: T, name: string): T {
  const kind = memoryProblem(data);
  if (kind !== undefined) {
    throw withCode(new TypeError(`Expected ${name} to be backed by a fixed-length ArrayBuffer but it is backed by ${kind}`), "ERR_INVALID_ARG_TYPE");
  }
  return data;
}

/**
 * `value` if it is a Float32Array in memory a step takes (what normalizeTensor accepts as
 * { data: value, dtype: 'f32' }); undefined for anything normalizeTensor must look at. Allocates
 * nothing: the common tensor of a step over many tensors.
 */
export function plainFloat32(value: unknown): Float32Array | undefined {
  return isTypedArray(value, Float32Array) && memoryProblem(value) === undefined ? value : undefined;
}

export function normalizeTensor(value: unknown, name: string): NormalizedTensor {
  if (isTypedArray(value, Float32Array)) return { data: checkMemory(value, name), dtype: "f32" };
  if (isDeviceArray(value)) return normalizeDeviceTensor(value as unknown as Record<string, unknown>, name);
  if (!isPlainObject(value)) throw typeError(name, TENSOR_EXPECTED, value);
  if ("ptr" in value || "device" in value) return normalizeDeviceTensor(value, name);
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

export function tensorNumel(t: StepTensor): number {
  if (isTypedArray(t, Float32Array)) return t.length;
  return "data" in t ? t.data.length : t.numel;
}
