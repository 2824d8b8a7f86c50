// A process group: this process's rank among the processes mpirun started, and the collectives
// over them (docs/distributed.md). Every collective runs on one communication thread, in call
// order, so each rank must call the same collectives in the same order; each returns a Promise.
import { rangeError, requireInteger, requireNumberIn, requireObject, rejectUnknownKeys, typeError, withCode } from "../validate";
import { backends, setNumThreads } from "../threads";
import { distributedBinding, type CollectiveArray, type DistributedBinding } from "./binding";
import { singleProcessBinding } from "./single-process";

export interface ProcessGroupOptions {
  /**
   * Seconds a collective may take before it fails with ERR_MICROADAM_DISTRIBUTED_TIMEOUT (a rank
   * died, hung, or called something else); the group is unusable afterwards. Default 300.
   */
  timeoutSeconds?: number;
  /**
   * The CPU engine's threads in this process (first init only). 'auto' (default): where several
   * ranks share this machine (the launcher says how many: OMPI_COMM_WORLD_LOCAL_SIZE, or
   * MPI_LOCALNRANKS), its hardware threads divided among them, at least 1, so the ranks' engine
   * pools do not take turns on the same cores; with one rank here, unchanged. A number: that many.
   * 'keep': unchanged (setNumThreads decides).
   */
  threadsPerRank?: "auto" | "keep" | number;
}

let theGroup: ProcessGroup | undefined;

/** Ranks on this machine, as the launcher says (Open MPI, MPICH/Hydra); 1 when it says nothing. */
function localRankCount(): number {
  for (const name of ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]) {
    const value = Number(process.env[name]);
    if (Number.isInteger(value) && value >= 1) return value;
  }
  return 1;
}

export class ProcessGroup {
  /** This process's rank, 0 … size − 1. */
  readonly rank: number;
  /** The number of processes (the world size). */
  readonly size: number;
  /** The MPI library's own description (MPI_Get_library_version). */
  readonly library: string;
  /** Ranks on this machine (the launcher's count; 1 when it gives none). */
  readonly localSize: number;
  /** @internal */
  readonly native: DistributedBinding;
  private finalizedFlag = false;

  private constructor(native: DistributedBinding, info: { rank: number; size: number; library: string }) {
    this.native = native;
    this.rank = info.rank;
    this.size = info.size;
    this.library = info.library;
    this.localSize = localRankCount();
  }

  /**
   * The process group of this process (MPI_COMM_WORLD), initialized on first call; a later call
   * returns the same group and sets its timeout (for the collectives that start after it).
   * Outside mpirun it is a group of one. MPI cannot start again after finalize().
   */
  static init(options: ProcessGroupOptions = {}): ProcessGroup {
    const o = requireObject(options, "options");
    rejectUnknownKeys(o, "options", ["timeoutSeconds", "threadsPerRank"]);
    const timeout = requireNumberIn(o.timeoutSeconds ?? 300, "options.timeoutSeconds", 0, 1e6, { lowerOpen: true });
    const threads = o.threadsPerRank ?? "auto";
    if (threads !== "auto" && threads !== "keep") requireInteger(threads, "options.threadsPerRank", 1, 1024);
    if (theGroup?.finalizedFlag) throw withCode(new Error("microadam-native/distributed: the process group was finalized; MPI cannot be initialized again in this process"), "ERR_MICROADAM_DISTRIBUTED");
    const native = distributedBinding();
    const info = native.init(timeout);
    if (theGroup === undefined) {
      theGroup = new ProcessGroup(native, info);
      if (typeof threads === "number") setNumThreads(threads);
      else if (threads === "auto" && theGroup.localSize > 1)
        setNumThreads(Math.max(1, Math.floor(backends().cpu.hardwareThreads / theGroup.localSize)));
    }
    return theGroup;
  }

  /**
   * A group of this process alone, without MPI: the distributed addon is not loaded (it need not
   * be built), every collective is what MPI gives at world size 1, and the engine's threads are
   * left as they are. For running a data-parallel script as one process (on one GPU, say) where
   * no MPI is installed; under mpirun use init(), or each process would train alone.
   */
  static single(): ProcessGroup {
    return new ProcessGroup(singleProcessBinding, singleProcessBinding.init(0));
  }

  get finalized(): boolean {
    return this.finalizedFlag;
  }

  /** Every rank's `data` (same type on all ranks; lengths may differ), in rank order. */
  async allGather<T extends CollectiveArray>(data: T): Promise<T[]> {
    requireCollectiveArray(data, "data");
    const lengths = await this.native.allReduce(oneHot(this.size, this.rank, data.length), "sum");
    const counts = Array.from(lengths);
    const Type = data.constructor as new (n: number) => T;
    const all = new Type(counts.reduce((a, b) => a + b, 0));
    await this.native.allGatherV(data.slice() as T, all, counts);
    const result: T[] = [];
    let at = 0;
    for (const n of counts) {
      result.push(all.slice(at, at + n) as T);
      at += n;
    }
    return result;
  }

  /** Element-wise max, min or sum of every rank's `values` (same length everywhere). */
  allReduce<T extends Int32Array | Float64Array>(values: T, op: "max" | "min" | "sum"): Promise<T> {
    if (!(values instanceof Int32Array) && !(values instanceof Float64Array)) throw typeError("values", "an Int32Array or Float64Array", values);
    if (op !== "max" && op !== "min" && op !== "sum") throw typeError("op", "'max', 'min' or 'sum'", op);
    return this.native.allReduce(values.slice() as T, op);
  }

  /** `data` of rank `root` on every rank (the same length everywhere); returns this rank's copy. */
  async broadcast<T extends CollectiveArray>(data: T, root: number): Promise<T> {
    requireCollectiveArray(data, "data");
    requireInteger(root, "root", 0, this.size - 1);
    const copy = data.slice() as T;
    await this.native.broadcast(copy, root);
    return copy;
  }

  /** Resolves once every rank has called it. */
  barrier(): Promise<void> {
    return this.native.barrier();
  }

  /**
   * Waits for the collectives in flight and shuts MPI down (MPI_Finalize). Called at process exit
   * too, if not before; mpirun reports a process that exits without it as failed.
   */
  finalize(): void {
    this.finalizedFlag = true;
    this.native.finalize();
  }
}

function requireCollectiveArray(data: unknown, name: string): void {
  if (!(data instanceof Uint8Array || data instanceof Int32Array || data instanceof Float32Array || data instanceof Float64Array))
    throw typeError(name, "a Uint8Array, Int32Array, Float32Array or Float64Array", data);
}

function oneHot(size: number, rank: number, value: number): Int32Array {
  if (value > 2 ** 31 - 1) throw rangeError("data", `at most ${2 ** 31 - 1} elements`, value);
  const a = new Int32Array(size);
  a[rank] = value;
  return a;
}
