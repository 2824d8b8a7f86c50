// The params of a ShardedMicroAdam as the user gives them (tensors, or param groups with their
// own hyperparameters), checked: float32, non-empty, no two sharing memory, host tensors on device
// 'cpu' and device tensors on 'cuda'. Errors name the entry as written.
import type { DeviceArray } from "../device-array";
import { HYPER_FIELDS } from "../hyper";
import type { DeviceTensor } from "../types";
import { isPlainObject, rangeError, rejectUnknownKeys, typeError } from "../validate";
import { deviceRef, type DeviceRef } from "./device-shards";

/**
 * A float32 tensor of a sharded optimizer: a Float32Array (device 'cpu'), or on device 'cuda' a
 * DeviceArray of dtype 'f32' or a { ptr, numel, dtype: 'f32', device: 'cuda' } record.
 */
export type ShardedTensor = Float32Array | DeviceArray | DeviceTensor;

/**
 * params as groups of distinct, non-empty float32 tensors (Float32Arrays on device 'cpu', device
 * tensors on 'cuda'); errors name the entry as written. `refs` are what the optimizer reads.
 */
export function normalizeGroups(
  params: unknown,
  device: "cpu" | "cuda",
  deviceIndex: number,
): { given: Record<string, unknown>; params: ShardedTensor[]; refs: (Float32Array | DeviceRef)[] }[] {
  if (!Array.isArray(params) || params.length === 0) throw typeError("params", "a non-empty array of float32 tensors or of param groups", params);
  const ranges: [unknown, number, number, string][] = [];
  const overlapCheck = (memory: unknown, begin: number, end: number, name: string, value: unknown): void => {
    for (const [other, b, e, otherName] of ranges)
      if (other === memory && begin < e && b < end) throw rangeError(name, `a tensor whose memory does not overlap ${otherName}`, value);
    ranges.push([memory, begin, end, name]);
  };
  const tensor = (value: unknown, name: string): Float32Array | DeviceRef => {
    if (device === "cuda") {
      const ref = deviceRef(value, name, deviceIndex);
      // Device addresses as one space: numbers are exact below 2^53, enough to order them.
      overlapCheck("cuda", Number(ref.ptr), Number(ref.ptr) + 4 * ref.numel, name, value);
      return ref;
    }
    if (!(value instanceof Float32Array)) throw typeError(name, "a Float32Array (the distributed optimizer takes float32 params)", value);
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
