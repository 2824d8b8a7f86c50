// Loads the native addon. node-gyp-build looks in build/Release (a source build: a checkout, or a
// consumer's `npm rebuild`), then prebuilds/<platform>-<arch>/ (shipped in the npm package, made
// by scripts/prebuild.js), so a fresh build wins and an installed package needs no compiler.
import * as fs from "fs";
import * as path from "path";

/** Layout facts of a native state. */
export interface NativeLayout {
  numel: number;
  window: number;
  density: number;
  topkBlockSize: number;
  quantBlockSize: number;
  blockCount: number;
  bucketCount: number;
  rowLength: number;
  stateBytes: number;
}

export interface NativeSnapshot {
  step: number;
  errorCodes: Uint8Array;
  errorMin: Uint16Array;
  errorMax: Uint16Array;
  windowIndices: Uint16Array;
  windowValues: Uint16Array;
}

export interface NativeState {
  readonly numel: number;
  readonly step: number;
  readonly stateBytes: number;
  readonly busy: boolean;
  readonly device: "cpu" | "cuda";
  layout(): NativeLayout;
  snapshot(): NativeSnapshot;
  restore(snapshot: NativeSnapshot): void;
  dispose(): void;
  /** Holds the state busy (no step runs) until release(); throws if a step is in flight. */
  acquire(): void;
  release(): void;
  /** Copies destination.byteLength bytes of buffer 0-4 (errorCodes, errorMin, errorMax, windowIndices, windowValues) from byteOffset. */
  readBytes(buffer: number, byteOffset: number, destination: Uint8Array): void;
  /** CPU states (a checkpoint's staging state): writes source into buffer 0-4 at byteOffset. */
  writeBytes(buffer: number, byteOffset: number, source: Uint8Array): void;
  /** CPU states: sets the step counter and runs restore()'s checks on the buffers as they are. */
  checkContents(step: number): void;
  /** Takes a checked CPU staging state's contents and step (a CPU state swaps buffers with it: adopting again undoes it). */
  adopt(staging: NativeState): void;
}

export interface NativeAdamWState {
  readonly numel: number;
  readonly step: number;
  readonly stateBytes: number;
  readonly busy: boolean;
  snapshot(): { step: number; expAvg: Float32Array; expAvgSq: Float32Array };
  restore(snapshot: { step: number; expAvg: Float32Array; expAvgSq: Float32Array }): void;
  dispose(): void;
}

/** What backends().cuda reports: whether CUDA was compiled in, whether a device is usable, and why not. */
export interface CudaInfo {
  /** True when this build of the addon includes the CUDA engine. */
  compiled: boolean;
  /** True when a CUDA device can run it (a driver and a device were found). */
  usable: boolean;
  runtimeVersion?: number;
  errorCode?: number;
  error: string;
  devices: {
    index: number;
    name: string;
    totalMemoryBytes: number;
    computeCapability: string;
    /** The largest topkBlockSize a state on this device takes (a Top-K block lives in one thread block's shared memory). */
    largestTopkBlockSize: number;
  }[];
}

export interface NativeBuildInfo {
  hardwareThreads: number;
  /** The CPU kernel build in use: 'avx512', 'avx2' or 'baseline' (MICROADAM_CPU_PATH forces one); 'unavailable' when that variable names no path this CPU runs. */
  cpuKernel: string;
  /** Why cpuKernel is 'unavailable' (CPU steps then throw this message). */
  cpuKernelError?: string;
  compiler: string;
  cuda: CudaInfo;
}

/** CUDA device memory owned by the addon (lib/device-array.ts wraps it as DeviceArray). */
export interface NativeDeviceArray {
  /** The device address; throws once freed. */
  readonly ptr: bigint;
  readonly numel: number;
  readonly dtype: "f32" | "bf16" | "f16";
  readonly deviceIndex: number;
  readonly byteLength: number;
  readonly freed: boolean;
  upload(source: Float32Array | Uint16Array): void;
  download<T extends Float32Array | Uint16Array>(destination: T): T;
  free(): void;
}

/** A device tensor as the native step reads it: checked by the facade, read again natively. */
export interface NativeDeviceTensorRecord {
  ptr: bigint;
  numel: number;
  dtype: "f32" | "bf16" | "f16";
  device: "cuda";
}

export type NativeTensorData = Float32Array | Uint16Array | NativeDeviceArray | NativeDeviceTensorRecord;

/**
 * The packed step call of csrc/core/call_format.h: (states, params, grads, dtypes: 2 codes per
 * tensor, hyper: 6 per tensor, policy, stream?: a cudaStream_t).
 */
export type NativeStepArgs = [
  states: object[],
  params: NativeTensorData[],
  grads: NativeTensorData[],
  dtypes: Uint8Array,
  hyper: Float64Array,
  policy: number,
  stream?: bigint,
];

/** The call format's names, each at its code (test/call-format.test.ts holds lib's constants to it). */
export interface NativeCallFormat {
  hyperFields: string[];
  dtypes: string[];
  nonFinitePolicies: string[];
  dtypesPerTensor: number;
}

/** skipped, and each state's step counter after the call. */
export interface NativeStepReport {
  skipped: boolean;
  steps: number[];
}

/** The CUDA backend's collective library (NCCL, opened at run time): csrc/napi/communicator_wrap.h. */
export interface NativeCollectives {
  compiled: boolean;
  available: boolean;
  name: string;
  path: string;
  /** NCCL's version code (22703 for 2.27.3); 0 when not available. */
  version: number;
  error: string;
}

/** One rank's NCCL communicator; every method is collective (all ranks, same order, same cuts). */
export interface NativeCommunicator {
  readonly rank: number;
  readonly size: number;
  readonly deviceIndex: number;
  /** For tensor t, rank r owns [offsets[t·size + r], + counts[t·size + r]); out (device) gets this rank's rank-order sums. Resolves true when any is not finite. */
  reduceScatterInRankOrder(tensors: bigint[], lengths: number[], counts: Int32Array, offsets: Int32Array, out: bigint, mean: boolean, chunkElements: number): Promise<boolean>;
  allGatherInPlace(tensors: bigint[], lengths: number[], counts: Int32Array, offsets: Int32Array): Promise<void>;
  abort(): void;
}

export interface NativeBinding {
  NativeState: new (options: {
    numel: number;
    window: number;
    density: number;
    topkBlockSize: number;
    quantBlockSize: number;
    device?: "cpu" | "cuda";
    deviceIndex?: number;
  }) => NativeState;
  NativeDeviceArray: new (numel: number, dtype: "f32" | "bf16" | "f16", deviceIndex: number) => NativeDeviceArray;
  /** Waits for `stream` (0n: every stream) on CUDA device `deviceIndex`. */
  synchronize(deviceIndex: number, stream: bigint): void;
  step(...args: NativeStepArgs): NativeStepReport;
  stepAsync(...args: NativeStepArgs): Promise<NativeStepReport>;
  NativeAdamWState: new (options: { numel: number }) => NativeAdamWState;
  adamWStep(...args: NativeStepArgs): NativeStepReport;
  adamWStepAsync(...args: NativeStepArgs): Promise<NativeStepReport>;
  /** MicroAdam's NativeStates and the NativeAdamWStates of its small tensors in one call (csrc/core/step_entry.h, MixedBatch). */
  mixedStep(...args: NativeStepArgs): NativeStepReport;
  mixedStepAsync(...args: NativeStepArgs): Promise<NativeStepReport>;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  /** The packed step call of csrc/core/call_format.h: each name at its code. */
  callFormat(): NativeCallFormat;
  buildInfo(): NativeBuildInfo;
  collectives(): NativeCollectives;
  /** Throws unless the collective library loaded and CUDA device `deviceIndex` is usable. */
  requireCollectives(deviceIndex: number): void;
  newCommunicatorId(): Uint8Array;
  createCommunicator(id: Uint8Array, size: number, rank: number, deviceIndex: number, timeoutSeconds: number): Promise<NativeCommunicator>;
}

const packageRoot = path.join(__dirname, "..");

/** The platform folders under prebuilds/, as the load error names them. */
function shippedPlatforms(): string {
  try {
    const found = fs.readdirSync(path.join(packageRoot, "prebuilds"), { withFileTypes: true }).filter((e) => e.isDirectory());
    return found.length ? found.map((e) => e.name).join(", ") : "no platform";
  } catch {
    return "no platform";
  }
}

function load(): NativeBinding {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require("node-gyp-build") as (dir: string) => unknown;
  try {
    return nodeGypBuild(packageRoot) as NativeBinding;
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new Error(
      `microadam-native: could not load the native addon.\n` +
        `Tried ${path.join(packageRoot, "build", "Release")} and ` +
        `${path.join(packageRoot, "prebuilds", `${process.platform}-${process.arch}`)}.\n` +
        `This package ships binaries for ${shippedPlatforms()} (glibc >= 2.28); elsewhere it builds from source.\n` +
        `To build it (needs CMake >= 3.18 and a C++20 compiler; nvcc adds the CUDA engine), run in your project:\n` +
        `  MICROADAM_NATIVE_FORCE_BUILD=1 npm rebuild microadam-native\n` +
        `Cause: ${detail}`,
      { cause },
    );
  }
}

export const binding: NativeBinding = load();
