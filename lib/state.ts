// MicroAdamState: the compressed optimizer state of one tensor.
import { binding, type CudaInfo, type NativeLayout, type NativeState } from "./binding";
import * as checkpoint from "./checkpoint/state-checkpoint";
import type { MicroAdamSnapshot, MicroAdamStateConfig, MicroAdamStateOptions } from "./types";
import { isTypedArray, rangeError, registerBrand, rejectUnknownKeys, renameArgument, requireInteger, requireNumberIn, requireObject, requireOneOf, typeError, withCode } from "./validate";

export const STATE_DEFAULTS = { window: 10, density: 0.01, topkBlockSize: 4096, quantBlockSize: 64 } as const;
const STATE_OPTION_KEYS = ["numel", "window", "density", "topkBlockSize", "quantBlockSize", "device", "deviceIndex"] as const;

/** Checks options and fills defaults (docs/algorithm.md, "Configuration"). */
export function resolveStateConfig(options: unknown, name = "options"): MicroAdamStateConfig {
  const o = requireObject(options, name);
  rejectUnknownKeys(o, name, STATE_OPTION_KEYS);
  const numel = requireInteger(o.numel, `${name}.numel`, 1, Number.MAX_SAFE_INTEGER);
  const window = requireInteger(o.window ?? STATE_DEFAULTS.window, `${name}.window`, 1, 1024);
  const density = requireNumberIn(o.density ?? STATE_DEFAULTS.density, `${name}.density`, 0, 1, { lowerOpen: true });
  const quantBlockSize = requireInteger(o.quantBlockSize ?? STATE_DEFAULTS.quantBlockSize, `${name}.quantBlockSize`, 2, 65536);
  if (quantBlockSize % 2 !== 0) throw rangeError(`${name}.quantBlockSize`, "an even integer", quantBlockSize);
  const topkBlockSize = requireInteger(o.topkBlockSize ?? STATE_DEFAULTS.topkBlockSize, `${name}.topkBlockSize`, 1, 65536);
  if (topkBlockSize % quantBlockSize !== 0)
    throw rangeError(`${name}.topkBlockSize`, `a multiple of quantBlockSize (${quantBlockSize})`, topkBlockSize);
  const deviceIndex = o.deviceIndex === undefined ? undefined : requireInteger(o.deviceIndex, `${name}.deviceIndex`, 0, 65535);
  const device = resolveDevice(o.device ?? "cpu", `${name}.device`, deviceIndex ?? 0, `${name}.deviceIndex`, topkBlockSize);
  const config: MicroAdamStateConfig = { numel, window, density, topkBlockSize, quantBlockSize, device };
  if (device === "cuda") config.deviceIndex = deviceIndex ?? 0;
  return config;
}

/** The CUDA runtime's answer, kept once it found devices (they do not go away); a failure is asked again. */
let usableCuda: CudaInfo | undefined;
function cudaProbe(): CudaInfo {
  if (usableCuda) return usableCuda;
  const cuda = binding.buildInfo().cuda;
  if (cuda.usable) usableCuda = cuda;
  return cuda;
}

/**
 * 'auto' is CUDA when a device is usable and the layout fits it (its Top-K block in one thread
 * block's shared memory), else the CPU; 'cuda' where no device is usable throws
 * ERR_MICROADAM_DEVICE with the runtime's reason.
 */
function resolveDevice(value: unknown, name: string, deviceIndex: number, indexName: string, topkBlockSize: number): "cpu" | "cuda" {
  const device = requireOneOf(value, name, ["cpu", "cuda", "auto"] as const);
  if (device === "cpu") return "cpu";
  const cuda = cudaProbe();
  if (!cuda.usable) {
    if (device === "auto") return "cpu";
    // Worded as the native backends word it (csrc/core/backend.h, requireDevice).
    const why = cuda.compiled ? `the CUDA runtime reports ${cuda.error} (error ${cuda.errorCode})` : cuda.error;
    throw withCode(new Error(`${name} 'cuda' needs a usable CUDA device but ${why}`), "ERR_MICROADAM_DEVICE");
  }
  const found = cuda.devices.find((d) => d.index === deviceIndex);
  if (!found) throw rangeError(indexName, `the index of a CUDA device (${cuda.devices.length} found)`, deviceIndex);
  return device === "auto" && topkBlockSize > found.largestTopkBlockSize ? "cpu" : "cuda";
}

const SNAPSHOT_ARRAYS = [
  ["errorCodes", Uint8Array],
  ["errorMin", Uint16Array],
  ["errorMax", Uint16Array],
  ["windowIndices", Uint16Array],
  ["windowValues", Uint16Array],
] as const;

/** Every MicroAdamState this module constructed: a look-alike made from the prototype is not one. */
const constructed = new WeakSet<object>();

/** True only for a real MicroAdamState (instanceof is true for Object.create(prototype) too). */
export function isMicroAdamState(value: unknown): value is MicroAdamState {
  return typeof value === "object" && value !== null && constructed.has(value);
}

export class MicroAdamState {
  /** The layout this state was created with. */
  readonly config: Readonly<MicroAdamStateConfig>;
  /** @internal The native object; use the methods of this class instead. */
  readonly native: NativeState;
  private readonly nativeLayout: NativeLayout;
  private disposedFlag = false;

  /** @internal Use createMicroAdamState. */
  constructor(config: MicroAdamStateConfig) {
    this.config = Object.freeze({ ...config });
    this.native = new binding.NativeState(config);
    this.nativeLayout = this.native.layout();
    constructed.add(this);
  }

  get numel(): number {
    return this.config.numel;
  }

  /** Where the state's buffers live: 'cpu' (host memory) or 'cuda' (device memory). */
  get device(): "cpu" | "cuda" {
    return this.config.device;
  }

  /** The CUDA device of a CUDA state; undefined for a CPU state. */
  get deviceIndex(): number | undefined {
    return this.config.deviceIndex;
  }

  /** Steps taken so far (t). */
  get step(): number {
    return this.native.step;
  }

  /** Exact bytes of the state's buffers: ⌈n/2⌉ + 4⌈n/Q⌉ + 4·m·K. */
  get stateBytes(): number {
    return this.nativeLayout.stateBytes;
  }

  /** K: window slots per row (sum of the per-block k_j). */
  get rowLength(): number {
    return this.nativeLayout.rowLength;
  }

  get blockCount(): number {
    return this.nativeLayout.blockCount;
  }

  get bucketCount(): number {
    return this.nativeLayout.bucketCount;
  }

  /** True while an async step on this state is in flight. */
  get busy(): boolean {
    return this.native.busy;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Copies of the state's buffers, in the layout of docs/algorithm.md: the same bytes on every
   * backend (a CUDA state first waits for the work on its device, a caller's stream included).
   */
  snapshot(): MicroAdamSnapshot {
    return this.native.snapshot();
  }

  /** Replaces the state with a snapshot of the same layout; checks everything first. Errors call it `name`. */
  restore(snapshot: MicroAdamSnapshot, name = "snapshot"): void {
    const s = requireObject(snapshot, name);
    requireInteger(s.step, `${name}.step`, 0, Number.MAX_SAFE_INTEGER);
    const windowLength = this.config.window * this.rowLength;
    const lengths = {
      errorCodes: Math.ceil(this.numel / 2),
      errorMin: this.bucketCount,
      errorMax: this.bucketCount,
      windowIndices: windowLength,
      windowValues: windowLength,
    };
    for (const [key, type] of SNAPSHOT_ARRAYS) {
      const array = s[key];
      if (!isTypedArray(array, type as { name: string; prototype: Uint8Array | Uint16Array })) throw typeError(`${name}.${key}`, `a ${type.name}`, array);
      if (array.length !== lengths[key])
        throw rangeError(`${name}.${key}`, `a ${type.name} of length ${lengths[key]}`, array);
    }
    try {
      this.native.restore(snapshot);
    } catch (error) {
      throw renameArgument(error, "snapshot", name);
    }
  }

  /**
   * Writes a checkpoint to `path` (docs/checkpoint-format.md) atomically: a temporary file,
   * fsync, rename, so a crash mid-save leaves the previous file intact.
   */
  save(path: string): void {
    checkpoint.saveStateFile(this, path);
  }

  /**
   * save() with every write off the event loop. The state is held until the promise settles: a
   * step on it meanwhile is refused as busy.
   */
  saveAsync(path: string): Promise<void> {
    return checkpoint.saveStateFileAsync(this, path);
  }

  /** The checkpoint as bytes (what save writes). */
  toBuffer(): Buffer {
    return checkpoint.stateCheckpointBuffer(this);
  }

  /** Replaces this state with a checkpoint file of the same layout; checks it all first, changes nothing on error. */
  load(path: string): void {
    checkpoint.loadStateFile(this, path);
  }

  /**
   * load() with every read off the event loop. The file is streamed into a fresh staging state
   * first; this state is replaced only when all of it checked out (a step meanwhile is allowed, and
   * is then replaced too).
   */
  loadAsync(path: string): Promise<void> {
    return checkpoint.loadStateFileAsync(this, path);
  }

  /** load() from bytes (a toBuffer() result, say). */
  loadBuffer(buffer: Uint8Array): void {
    checkpoint.loadStateBuffer(this, buffer);
  }

  /** A new state with the layout and content of a checkpoint file. */
  static fromFile(path: string, options?: checkpoint.FromCheckpointOptions): MicroAdamState {
    return checkpoint.stateFromFile(path, options, createMicroAdamState);
  }

  /** fromFile() with every read off the event loop. */
  static fromFileAsync(path: string, options?: checkpoint.FromCheckpointOptions): Promise<MicroAdamState> {
    return checkpoint.stateFromFileAsync(path, options, createMicroAdamState);
  }

  /** fromFile() from bytes. */
  static fromBuffer(buffer: Uint8Array, options?: checkpoint.FromCheckpointOptions): MicroAdamState {
    return checkpoint.stateFromBuffer(buffer, options, createMicroAdamState);
  }

  /** Frees the native memory now (a step in flight finishes first). Later use throws. */
  dispose(): void {
    this.disposedFlag = true;
    this.native.dispose();
  }
}
registerBrand(MicroAdamState, isMicroAdamState);

/** Creates a zeroed MicroAdam state for a tensor of `numel` elements. */
export function createMicroAdamState(options: MicroAdamStateOptions): MicroAdamState {
  return new MicroAdamState(resolveStateConfig(options));
}
