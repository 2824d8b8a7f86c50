// The CUDA side of ShardedMicroAdam (docs/distributed.md, "GPUs: NCCL"): the params and
// gradients are float32 device tensors, the collectives run over NCCL on the device, and this
// rank's pieces are stepped by a MicroAdam with CUDA states on views of the params. What is
// exchanged, and in which order it is summed, is what the MPI group does on the CPU
// (csrc/core/shard_cuts.h), so the reduced gradient has the same bits.
import type { NativeCommunicator } from "../binding";
import { DeviceArray, isDeviceArray } from "../device-array";
import { normalizeTensor, normalizedNumel, type NormalizedTensor } from "../tensor";
import type { DeviceTensor } from "../types";
import { rangeError, typeError } from "../validate";
import { joinNccl, type NcclBootstrap } from "./nccl";
import type { Piece } from "./partition";

/** A float32 device tensor: its address and size (and the DeviceArray, if it is one). */
export interface DeviceRef {
  ptr: bigint;
  numel: number;
}

/** `value` as a float32 device tensor (a DeviceArray, or { ptr, numel, dtype: 'f32', device: 'cuda' }), or a TypeError naming `name`. */
export function deviceRef(value: unknown, name: string, deviceIndex: number): DeviceRef {
  if (!isDeviceArray(value) && !(typeof value === "object" && value !== null && "ptr" in value))
    throw typeError(name, "a float32 device tensor (a DeviceArray of dtype 'f32', or { ptr, numel, dtype: 'f32', device: 'cuda' }) for device 'cuda'", value);
  const t: NormalizedTensor = normalizeTensor(value, name);
  if (t.dtype !== "f32") throw typeError(`${name}.dtype`, "'f32' (the distributed optimizer takes float32 tensors)", t.dtype);
  if (isDeviceArray(value) && value.deviceIndex !== deviceIndex)
    throw rangeError(`${name}.deviceIndex`, `${deviceIndex} (options.deviceIndex)`, value.deviceIndex);
  return { ptr: isDeviceArray(value) ? value.ptr : (value as DeviceTensor).ptr, numel: normalizedNumel(t) };
}

function view(ptr: bigint, begin: number, numel: number): DeviceTensor {
  return { ptr: ptr + 4n * BigInt(begin), numel, dtype: "f32", device: "cuda" };
}

export class DeviceShards {
  /** This rank's reduced gradient, its pieces one after another (at least 1 element: a DeviceArray cannot be empty). */
  private readonly reduced: DeviceArray;
  private communicator?: NativeCommunicator;

  constructor(
    readonly deviceIndex: number,
    private readonly params: readonly DeviceRef[],
    private readonly own: readonly Piece[],
    private readonly counts: Int32Array,
    private readonly offsets: Int32Array,
  ) {
    const ownCount = own.reduce((n, p) => n + p.end - p.begin, 0);
    this.reduced = new DeviceArray(Math.max(1, ownCount), "f32", { deviceIndex });
  }

  /** Joins every rank's NCCL communicator (collective). */
  async connect(group: NcclBootstrap, timeoutSeconds: number): Promise<void> {
    this.communicator = await joinNccl(group, this.deviceIndex, timeoutSeconds);
  }

  /** Views of this rank's pieces of the params, in piece order (what the local MicroAdam steps). */
  pieceParams(): DeviceTensor[] {
    return this.own.map((p) => view(this.params[p.tensor].ptr, p.begin, p.end - p.begin));
  }

  /** Views of this rank's reduced gradient, one per piece. */
  pieceGrads(): DeviceTensor[] {
    let from = 0;
    return this.own.map((p) => {
      const v = view(this.reduced.ptr, from, p.end - p.begin);
      from += p.end - p.begin;
      return v;
    });
  }

  /** Every rank's gradients of this rank's pieces, summed in rank order; true when any result is not finite. */
  reduceScatter(grads: readonly DeviceRef[], mean: boolean, chunkElements: number): Promise<boolean> {
    return this.connected().reduceScatterInRankOrder(
      grads.map((g) => g.ptr),
      this.params.map((p) => p.numel),
      this.counts,
      this.offsets,
      this.reduced.ptr,
      mean,
      chunkElements,
    );
  }

  /** Every rank's stepped pieces to every rank, in place in the params. */
  allGather(): Promise<void> {
    return this.connected().allGatherInPlace(
      this.params.map((p) => p.ptr),
      this.params.map((p) => p.numel),
      this.counts,
      this.offsets,
    );
  }

  /** A host copy of this rank's reduced gradient. */
  reducedCopy(): Float32Array {
    const ownCount = this.own.reduce((n, p) => n + p.end - p.begin, 0);
    return this.reduced.download(new Float32Array(this.reduced.numel)).slice(0, ownCount);
  }

  /** Device bytes beside the state: the reduce's slots (world size × chunk floats) and the reduced range. */
  bufferBytes(size: number, chunk: number): number {
    return 4 * (size * chunk + this.reduced.numel) + 4;
  }

  dispose(): void {
    this.communicator?.abort();
    this.communicator = undefined;
    this.reduced.free();
  }

  private connected(): NativeCommunicator {
    if (!this.communicator) throw new Error("microadam-native/distributed: the NCCL communicator is not connected (use ShardedMicroAdam.create)");
    return this.communicator;
  }
}
