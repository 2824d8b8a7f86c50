// The params of a ShardedMicroAdam as the user gives them (tensors, or param groups with their
// own hyperparameters), checked: non-empty, no two sharing memory, host tensors on device 'cpu'
// (float32, or bf16/f16 as { data: Uint16Array, dtype }) and float32 device tensors on 'cuda'.
// Errors name the entry as written.
import type { DeviceArray } from "../device-array";
import { HYPER_FIELDS } from "../hyper";
import type { DeviceTensor, HalfTensor } from "../types";
import { isPlainObject, isTypedArray, rangeError, rejectUnknownKeys, typeError } from "../validate";
import { deviceRef, type DeviceRef } from "./device-shards";

/**
 * A param of a sharded optimizer: on device 'cpu' a Float32Array, or bf16/f16 params as
 * { data: Uint16Array, dtype: 'bf16' | 'f16' } (their gradients are Float32Arrays: the reduce sums
 * in float32); on device 'cuda' a DeviceArray of dtype 'f32' or a
 * { ptr, numel, dtype: 'f32', device: 'cuda' } record.
 */
export type ShardedTensor = Float32Array | HalfTensor | DeviceArray | DeviceTensor;

/** What the optimizer reads of a param: host memory (a Float32Array or a half tensor), or a device address. */
export type ParamRef = Float32Array | HalfTensor | DeviceRef;

/**
 * params as groups of distinct, non-empty float32 tensors (Float32Arrays on device 'cpu', device
 * tensors on 'cuda'); errors name the entry as written. `refs` are what the optimizer reads.
 */
export function normalizeGroups(
  params: unknown,
  device: "cpu" | "cuda",
  deviceIndex: number,
): { given: Record<string, unknown>; params: ShardedTensor[]; refs: ParamRef[] }[] {
  if (!Array.isArray(params) || params.length === 0) throw typeError("params", "a non-empty array of float32 tensors or of param groups", params);
  const ranges: [unknown, number, number, string][] = [];
  const overlapCheck = (memory: unknown, begin: number, end: number, name: string, value: unknown): void => {
    for (const [other, b, e, otherName] of ranges)
      if (other === memory && begin < e && b < end) throw rangeError(name, `a tensor whose memory does not overlap ${otherName}`, value);
    ranges.push([memory, begin, end, name]);
  };
  const tensor = (value: unknown, name: string): ParamRef => {
    if (device === "cuda") {
      const ref = deviceRef(value, name, deviceIndex);
      // Device addresses as one space: numbers are exact below 2^53, enough to order them.
      overlapCheck("cuda", Number(ref.ptr), Number(ref.ptr) + 4 * ref.numel, name, value);
      return ref;
    }
    if (isPlainObject(value) && "dtype" in value) {
      const { data, dtype } = value;
      if (dtype !== "bf16" && dtype !== "f16") throw typeError(`${name}.dtype`, "'bf16' or 'f16' (or a Float32Array for float32)", dtype);
      if (!isTypedArray(data, Uint16Array)) throw typeError(`${name}.data`, `a Uint16Array (dtype '${dtype}')`, data);
      if (data.length === 0) throw rangeError(`${name}.data`, "a tensor of at least 1 element", data);
      overlapCheck(data.buffer, data.byteOffset, data.byteOffset + data.byteLength, name, value);
      return { data, dtype };
    }
    if (!(value instanceof Float32Array)) throw typeError(name, "a Float32Array, or { data: Uint16Array, dtype: 'bf16' | 'f16' }", value);
    if (value.length === 0) throw rangeError(name, "a tensor of at least 1 element", value);
    overlapCheck(value.buffer, value.byteOffset, value.byteOffset + value.byteLength, name, value);
    return value;
  };
  const isGroup = (v: unknown): v is Record<string, unknown> => isPlainObject(v) && "params" in v && !("ptr" in v);
  if (!isGroup(params[0])) return [{ given: {}, params: params as ShardedTensor[], refs: params.map((t, i) => tensor(t, `params[${i}]`)) }];
  return params.map((g, i) => {
    if (!isGroup(g)) throw typeError(`params[${i}]`, "a param group { params: [tensors], ...hyperparameters }", g);
    rejectUnknownKeys(g, `params[${i}]`, ["params", ...HYPER_FIELDS]);
    if (!Array.isArray(g.params) || g.params.length === 0) throw typeError(`params[${i}].params`, "a non-empty array of float32 tensors", g.params);
    const given = Object.fromEntries(Object.entries(g).filter(([k, v]) => v !== undefined && k !== "params"));
    return { given, params: g.params as ShardedTensor[], refs: (g.params as unknown[]).map((t, k) => tensor(t, `params[${i}].params[${k}]`)) };
  });
}
