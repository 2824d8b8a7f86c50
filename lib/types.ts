// Public types of microadam-native. The algorithm they describe is defined in docs/algorithm.md.
import type { AdamWSnapshot } from "./adamw";
import type { DeviceArray } from "./device-array";

/** Element type of a tensor: IEEE float32, bfloat16 or IEEE float16. */
export type Dtype = "f32" | "bf16" | "f16";

/** A 16-bit tensor: the raw bits of each element in a Uint16Array. */
export interface HalfTensor {
  data: Uint16Array;
  dtype: "bf16" | "f16";
}

/** A float32 tensor given with its dtype spelled out. */
export interface Float32Tensor {
  data: Float32Array;
  dtype: "f32";
}

/** A host tensor: a bare Float32Array means f32. */
export type Tensor = Float32Array | HalfTensor | Float32Tensor;

/**
 * Memory on a CUDA device that another framework owns (a torch tensor's `data_ptr()`, say):
 * its address, element count and dtype. Only CUDA states take it, and the library cannot check
 * the address: the caller promises a live allocation of at least numel elements on the state's
 * device, kept until the step that uses it has finished (docs/reliability.md).
 */
export interface DeviceTensor {
  ptr: bigint;
  numel: number;
  dtype: Dtype;
  device: "cuda";
}

/**
 * What a step takes as params or grads: a host tensor, a device tensor, or a DeviceArray (device
 * memory this library owns). CPU states take host tensors only; CUDA states take all three.
 */
export type StepTensor = Tensor | DeviceTensor | DeviceArray;

/** Where a state lives: 'auto' is CUDA when a device is usable, else the CPU. The default is 'cpu'. */
export type Device = "cpu" | "cuda" | "auto";

/** What a step does with a gradient that holds NaN or ±Inf. */
export type NonFinitePolicy = "skip" | "error" | "ignore";

/** Layout options, fixed when a state is created. */
export interface MicroAdamStateOptions {
  /** Number of parameters in the tensor (a positive integer). */
  numel: number;
  /** m: how many past sparse gradients the window keeps. Default 10. */
  window?: number;
  /** δ: fraction of each Top-K block kept per step. Default 0.01. */
  density?: number;
  /** B: elements per Top-K block. Default 4096. */
  topkBlockSize?: number;
  /** Q: elements per quantization bucket of the error feedback. Default 64. */
  quantBlockSize?: number;
  /**
   * Default 'cpu': typed arrays stay where they are. 'cuda' (or 'auto' where a device is usable)
   * puts the state in device memory, for device tensors; typed arrays then cross to the device
   * and back every step.
   */
  device?: Device;
  /** The CUDA device a CUDA state lives on. Default 0. */
  deviceIndex?: number;
}

/** The resolved layout of a state. */
export interface MicroAdamStateConfig {
  numel: number;
  window: number;
  density: number;
  topkBlockSize: number;
  quantBlockSize: number;
  device: "cpu" | "cuda";
  /** The CUDA device (CUDA states only). */
  deviceIndex?: number;
}

/** Hyperparameters of one step. lr and weightDecay may change every step (schedules). */
export interface MicroAdamStepOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Error-injection factor of the paper's α (0 ≤ α < 1). Default 0. */
  alpha?: number;
  /** Default 'skip'. */
  nonFinite?: NonFinitePolicy;
  /**
   * CUDA states only: the cudaStream_t to enqueue the step on (a host framework's stream). 0n or
   * absent: the engine's own stream, and the call returns when the step is done. With a stream
   * and device tensors it returns once the step is enqueued: synchronize({ stream }) before
   * reading the results on the host.
   */
  stream?: bigint;
}

export interface StepResult {
  /** The step counter t after the call. */
  step: number;
  /** True when the gradient was not finite and nothing was changed ('skip' policy). */
  skipped: boolean;
}

/** Copies of a state's buffers, in the layout of docs/algorithm.md. */
export interface MicroAdamSnapshot {
  step: number;
  errorCodes: Uint8Array;
  errorMin: Uint16Array;
  errorMax: Uint16Array;
  /** Row-major m × K. */
  windowIndices: Uint16Array;
  /** Row-major m × K, bf16 bits. */
  windowValues: Uint16Array;
}

/** A param group as a state dict records it: its resolved hyperparameters and the sizes of its tensors. */
export type GroupRecord = Required<Pick<MicroAdamStepOptions, "lr" | "beta1" | "beta2" | "eps" | "weightDecay" | "alpha">> & {
  numels: number[];
};

/**
 * What MicroAdam.stateDict() returns and loadStateDict() takes (structuredClone copies it).
 * Version 1 (what 0.1 wrote) when every tensor has a MicroAdam state; version 2 when some have
 * AdamW states (under denseBelow): their entries of `states` are AdamW snapshots.
 */
export interface MicroAdamStateDict {
  format: "microadam-native/state-dict";
  version: 1 | 2;
  layout: Omit<MicroAdamStateConfig, "numel" | "device" | "deviceIndex">;
  /** Version 2: the optimizer's denseBelow, for the reader (each state's kind is its snapshot's). */
  denseBelow?: number;
  paramGroups: GroupRecord[];
  states: (MicroAdamSnapshot | AdamWSnapshot)[];
}
