// GPU collectives between the ranks of a process group: NCCL, opened at run time by the main
// addon (cuda/nccl_library.h), so neither installing nor loading microadam-native needs it. The
// ranks join through the CPU group: rank 0's NCCL id travels to the others by MPI broadcast
// (docs/distributed.md, "GPUs: NCCL").
import { binding, type NativeCommunicator } from "../binding";
import { withCode } from "../validate";

export interface NcclInfo {
  /** True when this build can open NCCL (its CUDA backend is compiled in). */
  compiled: boolean;
  /** True once NCCL was found and opened (it is opened on the first call). */
  available: boolean;
  /** The file opened: MICROADAM_NCCL_LIBRARY, or libnccl.so.2 from the loader's path. */
  path: string;
  /** "2.27.3"; undefined when not available. */
  version?: string;
  /** Why it is not available. */
  error?: string;
}

/** Whether NCCL can be used in this process, and which (opens it on the first call). */
export function ncclInfo(): NcclInfo {
  const c = binding.collectives();
  return {
    compiled: c.compiled,
    available: c.available,
    path: c.path,
    ...(c.available ? { version: versionString(c.version) } : { error: c.error }),
  };
}

/** NCCL's version code as "major.minor.patch" (2.8 and older: 2804; later: 22703). */
export function versionString(code: number): string {
  const c = code >= 10000 ? code : Math.floor(code / 1000) * 10000 + (Math.floor(code / 100) % 10) * 100 + (code % 100);
  return `${Math.floor(c / 10000)}.${Math.floor(c / 100) % 100}.${c % 100}`;
}

/** What joining needs from the CPU group (a ProcessGroup has it). */
export interface NcclBootstrap {
  readonly rank: number;
  readonly size: number;
  broadcast(data: Uint8Array, root: number): Promise<Uint8Array>;
  allReduce(values: Int32Array, op: "sum"): Promise<Int32Array>;
}

/**
 * This rank's NCCL communicator on CUDA device `deviceIndex`, joined with every rank of `group`
 * (each calls it). Every rank first checks that it can (NCCL opens, the device is usable), and
 * they agree: a rank that cannot throws its own reason, the others name it, and none waits.
 */
export async function joinNccl(group: NcclBootstrap, deviceIndex: number, timeoutSeconds: number): Promise<NativeCommunicator> {
  let problem: unknown;
  let id: Uint8Array = new Uint8Array(128);
  try {
    binding.requireCollectives(deviceIndex);
    if (group.rank === 0) id = binding.newCommunicatorId();
  } catch (error) {
    problem = error;
  }
  const failed = new Int32Array(group.size);
  failed[group.rank] = problem === undefined ? 0 : 1;
  const failedRanks = Array.from(await group.allReduce(failed, "sum")).flatMap((v, r) => (v !== 0 ? [r] : []));
  if (problem !== undefined) throw problem;
  if (failedRanks.length > 0)
    throw withCode(
      new Error(`microadam-native/distributed: NCCL could not start on rank${failedRanks.length > 1 ? "s" : ""} ${failedRanks.join(", ")} (each says why); this rank (${group.rank}) could`),
      "ERR_MICROADAM_DISTRIBUTED",
    );
  id = await group.broadcast(id, 0);
  return binding.createCommunicator(id, group.size, group.rank, deviceIndex, timeoutSeconds);
}
