// DeviceArray: CUDA device memory this library owns, for params and grads that live on the GPU
// without another framework (csrc/napi/device_array_wrap.cc). synchronize(): wait for a stream.
import { binding, type NativeDeviceArray } from "./binding";
import type { Dtype, HalfTensor, Float32Tensor } from "./types";
import { isPlainObject, isTypedArray, rangeError, registerBrand, rejectUnknownKeys, requireInteger, requireObject, requireOneOf, typeError } from "./validate";

export interface DeviceArrayOptions {
  /** The CUDA device to allocate on. Default 0. */
  deviceIndex?: number;
}

export interface SynchronizeOptions {
  /** Default 0. */
  deviceIndex?: number;
  /** The cudaStream_t to wait for; 0n or absent: every stream of the device. */
  stream?: bigint;
}

const DTYPES = ["f32", "bf16", "f16"] as const;
const MAX_DEVICE_INDEX = 65535;

/** Every DeviceArray this module constructed: a look-alike made from the prototype is not one. */
const constructed = new WeakSet<object>();

/** True only for a real DeviceArray (instanceof is true for Object.create(prototype) too). */
export function isDeviceArray(value: unknown): value is DeviceArray {
  return typeof value === "object" && value !== null && constructed.has(value);
}

function readDeviceIndex(options: unknown, name: string): number {
  const o = requireObject(options ?? {}, name);
  rejectUnknownKeys(o, name, ["deviceIndex"]);
  return o.deviceIndex === undefined ? 0 : requireInteger(o.deviceIndex, `${name}.deviceIndex`, 0, MAX_DEVICE_INDEX);
}

/** A cudaStream_t given as a bigint: undefined stays undefined. */
export function checkStream(value: unknown, name: string): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "bigint") throw typeError(name, "a bigint (a cudaStream_t; 0n for the engine's own stream)", value);
  if (value < 0n || value >= 1n << 64n) throw rangeError(name, "a bigint in [0, 2^64 - 1] (a cudaStream_t)", value);
  return value;
}

/**
 * `numel` elements of one dtype in CUDA device memory, usable directly as params or grads of a
 * CUDA state's step. The memory is freed by `free()` or, failing that, when the object is
 * garbage-collected (the collector does not see device memory: free large arrays explicitly). A
 * step in flight keeps the memory until it is done, even if `free()` comes first.
 */
export class DeviceArray {
  /** @internal The native object; use the methods of this class instead. */
  readonly native: NativeDeviceArray;

  /** Allocates (uninitialized). Throws an Error with code ERR_MICROADAM_DEVICE where no CUDA device is usable. */
  constructor(numel: number, dtype: Dtype, options?: DeviceArrayOptions) {
    const n = requireInteger(numel, "numel", 1, Number.MAX_SAFE_INTEGER);
    const d = requireOneOf(dtype, "dtype", DTYPES);
    const deviceIndex = readDeviceIndex(options, "options");
    this.native = new binding.NativeDeviceArray(n, d, deviceIndex);
    constructed.add(this);
  }

  /** A new DeviceArray holding a copy of a host tensor (its numel and dtype). */
  static from(source: Float32Array | HalfTensor | Float32Tensor, options?: DeviceArrayOptions): DeviceArray {
    const { data, dtype } = hostSource(source, "source");
    const array = new DeviceArray(data.length, dtype, options);
    try {
      array.upload(data);
    } catch (error) {
      array.free();
      throw error;
    }
    return array;
  }

  /** Where the tensor lives. */
  get device(): "cuda" {
    return "cuda";
  }

  /** The device address (a CUdeviceptr), for other frameworks. Throws once freed. */
  get ptr(): bigint {
    return this.native.ptr;
  }

  get numel(): number {
    return this.native.numel;
  }

  get dtype(): Dtype {
    return this.native.dtype;
  }

  get deviceIndex(): number {
    return this.native.deviceIndex;
  }

  get byteLength(): number {
    return this.native.byteLength;
  }

  /** True once free() was called. */
  get freed(): boolean {
    return this.native.freed;
  }

  /**
   * Copies a host tensor of this array's dtype and numel into it (a Float32Array for f32, a
   * Uint16Array or { data, dtype } for bf16/f16). Waits for every stream of the device first.
   */
  upload(source: Float32Array | Uint16Array | HalfTensor | Float32Tensor): void {
    let data: unknown = source;
    if (!isTypedArray(source, Uint16Array) && !isTypedArray(source, Float32Array)) {
      const host = hostSource(source, "source");
      if (host.dtype !== this.dtype) throw typeError("source.dtype", `'${this.dtype}' (the DeviceArray's dtype)`, host.dtype);
      data = host.data;
    }
    this.native.upload(this.checkHost(data as Float32Array | Uint16Array, "source"));
  }

  /**
   * Copies the array to host memory: into `destination` (a Float32Array for f32, a Uint16Array
   * for bf16/f16, of numel elements) or a new typed array, which is returned. Waits for every
   * stream of the device first, so a step enqueued on a caller's stream has finished.
   */
  download<T extends Float32Array | Uint16Array>(destination?: T): T {
    const target = destination ?? ((this.dtype === "f32" ? new Float32Array(this.numel) : new Uint16Array(this.numel)) as T);
    return this.native.download(this.checkHost(target, "destination"));
  }

  /** Frees the device memory now (a step in flight finishes first). Idempotent; later use throws. */
  free(): void {
    this.native.free();
  }

  private checkHost<T>(data: T, name: string): T {
    const type = (this.dtype === "f32" ? Float32Array : Uint16Array) as { name: string; prototype: Float32Array | Uint16Array };
    if (!isTypedArray(data, type)) throw typeError(name, `a ${type.name} (the DeviceArray's dtype is '${this.dtype}')`, data);
    if ((data as unknown as Float32Array).length !== this.numel)
      throw rangeError(name, `a ${type.name} of ${this.numel} elements (the DeviceArray's numel)`, data);
    return data;
  }
}
registerBrand(DeviceArray, isDeviceArray);

function hostSource(value: unknown, name: string): { data: Float32Array | Uint16Array; dtype: Dtype } {
  if (isTypedArray(value, Float32Array)) return { data: value, dtype: "f32" };
  if (isPlainObject(value)) {
    const dtype = requireOneOf(value.dtype, `${name}.dtype`, DTYPES);
    const type = dtype === "f32" ? Float32Array : Uint16Array;
    if (!isTypedArray(value.data, type as { name: string; prototype: Float32Array | Uint16Array }))
      throw typeError(`${name}.data`, `a ${type.name} (dtype '${dtype}')`, value.data);
    return { data: value.data as Float32Array | Uint16Array, dtype };
  }
  throw typeError(name, "a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' }", value);
}

/**
 * Waits until the work on a CUDA stream (default: every stream of device 0) has finished; throws
 * an Error with code ERR_MICROADAM_CUDA carrying the first asynchronous CUDA error.
 */
export function synchronize(options?: SynchronizeOptions): void {
  const o = requireObject(options ?? {}, "options");
  rejectUnknownKeys(o, "options", ["deviceIndex", "stream"]);
  const deviceIndex = o.deviceIndex === undefined ? 0 : requireInteger(o.deviceIndex, "options.deviceIndex", 0, MAX_DEVICE_INDEX);
  binding.synchronize(deviceIndex, checkStream(o.stream, "options.stream") ?? 0n);
}
