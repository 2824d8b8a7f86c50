// Loads the optional distributed addon (csrc/distributed/, built by CMake only where MPI is
// found, into build/distributed/). It is apart from the main addon so that the main addon and
// its prebuild never need libmpi: only this subpath does, and it says what is missing.
import * as fs from "fs";
import * as path from "path";
import { withCode } from "../validate";

export interface NativeGroupInfo {
  rank: number;
  size: number;
  threadLevel: number;
  library: string;
  finalized: boolean;
}

export type CollectiveArray = Uint8Array | Int32Array | Float32Array | Float64Array;

export interface DistributedBinding {
  /** MPI_Init_thread on the communication thread (first call), or a new timeout (later calls). */
  init(timeoutSeconds: number): NativeGroupInfo;
  /**
   * For tensor t, rank r owns [offsets[t·size + r], + counts[t·size + r]). `out` gets this rank's
   * ranges (tensor after tensor): the rank-order float32 sum of every rank's values (÷ world size
   * when mean), exchanged in rounds of at most chunkElements elements of each rank's range.
   * Resolves true when any result is not finite.
   */
  reduceScatterInRankOrder(tensors: Float32Array[], counts: Int32Array, offsets: Int32Array, out: Float32Array, mean: boolean, chunkElements: number): Promise<boolean>;
  /** Every rank's own ranges (as above) of every tensor to every rank, in place. */
  allGatherInPlace(tensors: (Float32Array | Uint16Array)[], counts: Int32Array, offsets: Int32Array): Promise<void>;
  // The same, waiting on the JS thread (for synchronous hosts: a tfjs optimizer's applyGradients).
  reduceScatterInRankOrderSync(tensors: Float32Array[], counts: Int32Array, offsets: Int32Array, out: Float32Array, mean: boolean, chunkElements: number): boolean;
  allGatherInPlaceSync(tensors: (Float32Array | Uint16Array)[], counts: Int32Array, offsets: Int32Array): void;
  allReduceSync<T extends Int32Array | Float64Array>(values: T, op: "max" | "min" | "sum"): T;
  broadcastSync(buffer: CollectiveArray, root: number): void;
  allGatherV<T extends CollectiveArray>(send: T, recv: T, counts: number[]): Promise<void>;
  allReduce<T extends Int32Array | Float64Array>(values: T, op: "max" | "min" | "sum"): Promise<T>;
  broadcast(buffer: CollectiveArray, root: number): Promise<void>;
  barrier(): Promise<void>;
  finalize(): void;
}

const packageRoot = path.join(__dirname, "..", "..");
/** MICROADAM_DISTRIBUTED_ADDON names another build of the addon (and lets tests name a missing one). */
const addonPath = process.env.MICROADAM_DISTRIBUTED_ADDON || path.join(packageRoot, "build", "distributed", "microadam_distributed.node");

let loaded: DistributedBinding | undefined;

/** The addon, loaded on first use; throws ERR_MICROADAM_DISTRIBUTED_UNAVAILABLE saying what to install. */
export function distributedBinding(): DistributedBinding {
  if (loaded) return loaded;
  const howTo =
    "It is built from source where an MPI library is found: on Debian/Ubuntu 'apt-get install libopenmpi-dev openmpi-bin', " +
    "then 'npx microadam-native-build-distributed' in your project (the prebuilds do not carry it), or 'npm run build:native' in a checkout of microadam-native. " +
    "Launch the ranks with 'mpirun -np <N> node your-script.js' " +
    "(docs/distributed.md).";
  if (!fs.existsSync(addonPath))
    throw withCode(new Error(`microadam-native/distributed: the distributed addon is not built (looked for ${addonPath}). ${howTo}`), "ERR_MICROADAM_DISTRIBUTED_UNAVAILABLE");
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(addonPath) as DistributedBinding;
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw withCode(
      new Error(`microadam-native/distributed: could not load ${addonPath} (${detail}); its MPI library (libmpi) is probably missing. ${howTo}`, { cause }),
      "ERR_MICROADAM_DISTRIBUTED_UNAVAILABLE",
    );
  }
  return loaded;
}
