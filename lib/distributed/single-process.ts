// The collectives of a group of one process, without MPI (ProcessGroup.single()): a data-parallel
// script runs unchanged on one machine or one GPU where no MPI library is installed, and the GPU
// test of the NCCL path runs where there is a GPU but no MPI. Each collective is what MPI gives
// at world size 1: the reduce-scatter copies this rank's ranges (the sum of one value, ÷ 1 for
// the mean, is the value itself, so the bits are MPI's), the gathers and the broadcast leave
// everything as it is.
import { rangeError } from "../validate";
import type { CollectiveArray, DistributedBinding, NativeGroupInfo } from "./binding";

const INFO: NativeGroupInfo = { rank: 0, size: 1, threadLevel: 0, library: "none (a single process: ProcessGroup.single())", finalized: false };

function copyOwnRanges(tensors: Float32Array[], counts: Int32Array, offsets: Int32Array, out: Float32Array): boolean {
  if (counts.length !== tensors.length || offsets.length !== tensors.length) throw rangeError("counts", `${tensors.length} entries (one per tensor at world size 1)`, counts.length);
  let at = 0;
  let nonFinite = false;
  tensors.forEach((t, i) => {
    const range = t.subarray(offsets[i], offsets[i] + counts[i]);
    out.set(range, at);
    at += range.length;
    for (const v of range) nonFinite ||= !Number.isFinite(v);
  });
  if (at !== out.length) throw rangeError("out", `${at} elements (this rank's ranges)`, out.length);
  return nonFinite;
}

function requireRootZero(root: number): void {
  if (root !== 0) throw rangeError("root", "0 (the only rank of a single process)", root);
}

export const singleProcessBinding: DistributedBinding = {
  init: () => ({ ...INFO }),
  reduceScatterInRankOrder: async (tensors, counts, offsets, out) => copyOwnRanges(tensors, counts, offsets, out),
  allGatherInPlace: async () => undefined,
  reduceScatterInRankOrderSync: (tensors, counts, offsets, out) => copyOwnRanges(tensors, counts, offsets, out),
  allGatherInPlaceSync: () => undefined,
  allReduceSync: (values) => values.slice() as typeof values,
  broadcastSync: (_buffer: CollectiveArray, root: number) => requireRootZero(root),
  allGatherV: async (send, recv) => {
    recv.set(send as never);
  },
  allReduce: async (values) => values.slice() as typeof values,
  broadcast: async (_buffer: CollectiveArray, root: number) => requireRootZero(root),
  barrier: async () => undefined,
  finalize: () => undefined,
};
