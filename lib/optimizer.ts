// MicroAdam: a torch-style optimizer over many tensors with param groups. Every step is one
// native call covering all tensors, spread over the engine's threads; tensors under `denseBelow`
// elements have native AdamW states instead, stepped in the same call (binding.mixedStep).
import { adamWNative, checkAdamWState, createAdamWState, isAdamWState, type AdamWSnapshot, type AdamWState } from "./adamw";
import { BatchedOptimizer, isOptimizerOfKind, type OptimizerKind, type ParamGroup } from "./batched-optimizer";
import * as checkpoint from "./checkpoint/optimizer-checkpoint";
import { HYPER_FIELDS } from "./hyper";
import { MicroAdamState, resolveStateConfig, STATE_DEFAULTS } from "./state";
import { checkMicroAdamState, microAdamNative, mixedNative } from "./step";
import type { Device, MicroAdamSnapshot, MicroAdamStateConfig, MicroAdamStateDict, NonFinitePolicy, StepTensor } from "./types";
import { rangeError, registerBrand, requireInteger, requireObject, typeError, withCode } from "./validate";

export type { OptimizerStepOptions, ParamGroup, ResolvedParamGroup } from "./batched-optimizer";
export type { MicroAdamStateDict } from "./types";

/** Options of a MicroAdam optimizer; every hyperparameter is a default for the groups. */
export interface MicroAdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  alpha?: number;
  window?: number;
  density?: number;
  topkBlockSize?: number;
  quantBlockSize?: number;
  /** Where every state lives: 'cpu' (the default), 'cuda', or 'auto' (CUDA when a device is usable). */
  device?: Device;
  /** The CUDA device of the states. Default 0. */
  deviceIndex?: number;
  nonFinite?: NonFinitePolicy;
  /**
   * Tensors with fewer elements than this get a native AdamW state (8 bytes per element, exact
   * Adam) instead of a MicroAdam state; 0 gives every tensor a MicroAdam state. Default
   * {@link DEFAULT_DENSE_BELOW} (4096) on the CPU. CUDA states: 0, the only value they take (the
   * native AdamW runs on the CPU only).
   */
  denseBelow?: number;
}

/**
 * The default `denseBelow` on the CPU, as bitsandbytes' `min_8bit_size`: biases and norms are a
 * tiny share of a model's state, and compressing them costs a small model much of its accuracy
 * (docs/algorithm.md, "Small tensors").
 */
export const DEFAULT_DENSE_BELOW = 4096;

const LAYOUT_KEYS = ["window", "density", "topkBlockSize", "quantBlockSize"] as const;

/** The state of one tensor of a MicroAdam: a MicroAdamState, or under denseBelow an AdamWState. */
export type MicroAdamTensorState = MicroAdamState | AdamWState;

function checkTensorState(state: unknown, name: string): MicroAdamTensorState {
  return isAdamWState(state) ? checkAdamWState(state, name) : checkMicroAdamState(state, name);
}

const MICROADAM_KIND: OptimizerKind<MicroAdamTensorState> = {
  hyperKeys: HYPER_FIELDS,
  native: microAdamNative,
  checkState: checkTensorState,
  dense: { native: adamWNative, mixed: mixedNative, isDense: isAdamWState },
};

/** True only for a real MicroAdam (not a look-alike made from its prototype). */
export function isMicroAdam(value: unknown): value is MicroAdam {
  return isOptimizerOfKind(value, MICROADAM_KIND);
}

export class MicroAdam extends BatchedOptimizer<MicroAdamTensorState> {
  /** Tensors with fewer elements than this have AdamW states (options.denseBelow). */
  readonly denseBelow: number;
  private readonly placement: { device: "cpu" | "cuda"; config: Omit<MicroAdamStateConfig, "numel" | "device" | "deviceIndex"> };

  constructor(params: StepTensor[] | ParamGroup[], options: MicroAdamOptions) {
    const o = requireObject(options, "options");
    const layout = {
      window: o.window ?? STATE_DEFAULTS.window,
      density: o.density ?? STATE_DEFAULTS.density,
      topkBlockSize: o.topkBlockSize ?? STATE_DEFAULTS.topkBlockSize,
      quantBlockSize: o.quantBlockSize ?? STATE_DEFAULTS.quantBlockSize,
      device: o.device ?? "cpu",
      deviceIndex: o.deviceIndex,
    };
    // Layout errors name options.<key>, once; 'auto' is resolved once, for every state.
    const resolved = resolveStateConfig({ numel: 1, ...layout }, "options");
    const { device, deviceIndex } = resolved;
    const placed = { ...layout, device, deviceIndex };
    const denseBelow = resolveDenseBelow(o.denseBelow, device);
    // Tensor i's kind: by its size, or as microAdamWithKinds says (ShardedMicroAdam's pieces).
    const kinds = kindsOfNext;
    kindsOfNext = undefined;
    let index = 0;
    super(
      params,
      o,
      MICROADAM_KIND,
      [...LAYOUT_KEYS, "device", "deviceIndex", "denseBelow"],
      (numel, name) =>
        (kinds ? kinds(index++) : numel < denseBelow)
          ? createAdamWState({ numel })
          : new MicroAdamState(resolveStateConfig({ numel, ...placed }, `options (for ${name})`)),
    );
    this.denseBelow = denseBelow;
    const { window, density, topkBlockSize, quantBlockSize } = resolved;
    this.placement = { device, config: { window, density, topkBlockSize, quantBlockSize } };
  }

  /** Where the MicroAdam states live: 'cpu' or 'cuda' (AdamW states live on the CPU). */
  get device(): "cpu" | "cuda" {
    return this.placement.device;
  }

  /** Number of tensors with AdamW states (fewer than denseBelow elements). */
  get denseTensorCount(): number {
    return this.states.reduce((n, s) => n + (isAdamWState(s) ? 1 : 0), 0);
  }

  /** Everything needed to resume bit-identically: layout, group hyperparameters, every state. */
  stateDict(): MicroAdamStateDict {
    const dict: MicroAdamStateDict = {
      format: "microadam-native/state-dict",
      version: 1,
      layout: { ...this.placement.config },
      paramGroups: this.groupRecords(),
      states: this.states.map((s) => s.snapshot()),
    };
    // Version 1 when every state is MicroAdam's: what 0.1 wrote and reads.
    if (this.denseTensorCount > 0) Object.assign(dict, { version: 2, denseBelow: this.denseBelow });
    return dict;
  }

  /**
   * Restores a stateDict() of an optimizer with the same groups and tensor sizes. Checks
   * everything first; if a state still refuses its snapshot, every state is put back as it was.
   */
  loadStateDict(stateDict: MicroAdamStateDict): void {
    const sd = requireObject(stateDict, "stateDict");
    if (sd.format !== "microadam-native/state-dict")
      throw typeError("stateDict.format", "'microadam-native/state-dict'", sd.format);
    if (sd.version !== 1 && sd.version !== 2) throw rangeError("stateDict.version", "1 or 2", sd.version);
    const layout = requireObject(sd.layout, "stateDict.layout");
    const c = this.placement.config;
    for (const key of LAYOUT_KEYS)
      if (layout[key] !== c[key]) throw rangeError(`stateDict.layout.${key}`, `${c[key]} (this optimizer's)`, layout[key]);
    const hypers = this.checkGroupRecords(sd.paramGroups, "stateDict.paramGroups");
    const states = sd.states;
    if (!Array.isArray(states) || states.length !== this.states.length)
      throw rangeError("stateDict.states", `an array of ${this.states.length} snapshots`, states);
    // A snapshot of the other kind is named before anything changes (a tensor under denseBelow here
    // but not in the saved optimizer, or the reverse).
    this.states.forEach((s, i) => checkSnapshotKind(s, states[i], `stateDict.states[${i}]`, this.denseBelow));
    this.restoreAll(
      states as (MicroAdamSnapshot | AdamWSnapshot)[],
      hypers,
      (s) => s.snapshot(),
      (s, snapshot, name) => (isAdamWState(s) ? s.restore(snapshot as AdamWSnapshot, name) : s.restore(snapshot as MicroAdamSnapshot, name)),
      "stateDict.states",
    );
  }

  /**
   * Writes a checkpoint of every state and the groups' hyperparameters to `path`
   * (docs/checkpoint-format.md), atomically: a crash mid-save leaves the previous file intact.
   */
  save(path: string): void {
    checkpoint.saveOptimizerFile(this, path);
  }

  /** save() with every write off the event loop; every state is held (steps refused as busy) until it settles. */
  saveAsync(path: string): Promise<void> {
    return checkpoint.saveOptimizerFileAsync(this, path);
  }

  /** The checkpoint as bytes (what save writes). */
  toBuffer(): Buffer {
    return checkpoint.optimizerCheckpointBuffer(this);
  }

  /**
   * Restores a checkpoint of an optimizer with the same groups and tensor layouts, like
   * loadStateDict: checks it all first, changes nothing on error.
   */
  load(path: string): void {
    checkpoint.loadOptimizerFile(this, path);
  }

  /** load() with every read off the event loop; the states are replaced only once all of the file checked out. */
  loadAsync(path: string): Promise<void> {
    return checkpoint.loadOptimizerFileAsync(this, path);
  }

  /** load() from bytes (a toBuffer() result, say). */
  loadBuffer(buffer: Uint8Array): void {
    checkpoint.loadOptimizerBuffer(this, buffer);
  }
}

registerBrand(MicroAdam, isMicroAdam);

/** The kinds for the next MicroAdam constructed (microAdamWithKinds), read once by its constructor. */
let kindsOfNext: ((index: number) => boolean) | undefined;

/**
 * @internal A MicroAdam whose tensor i has an AdamW state where `isDense(i)`, instead of where its
 * size is under denseBelow: ShardedMicroAdam's pieces take the kind of their whole tensor (a
 * piece of a large tensor may be small). On device 'cuda' isDense must say false (no CUDA AdamW).
 */
export function microAdamWithKinds(params: StepTensor[] | ParamGroup[], options: MicroAdamOptions, isDense: (index: number) => boolean): MicroAdam {
  kindsOfNext = isDense;
  try {
    return new MicroAdam(params, options);
  } finally {
    kindsOfNext = undefined;
  }
}

function resolveDenseBelow(value: unknown, device: "cpu" | "cuda"): number {
  if (device === "cuda") {
    if (value !== undefined && value !== 0)
      throw rangeError("options.denseBelow", "0 for CUDA states (the native AdamW runs on the CPU only)", value);
    return 0;
  }
  return requireInteger(value ?? DEFAULT_DENSE_BELOW, "options.denseBelow", 0, Number.MAX_SAFE_INTEGER);
}

/** A snapshot of `state`'s kind: an AdamW snapshot has moments, a MicroAdam one error codes. */
function checkSnapshotKind(state: MicroAdamTensorState, snapshot: unknown, name: string, denseBelow: number): void {
  const s = requireObject(snapshot, name);
  const dense = isAdamWState(state);
  if (dense === "expAvg" in s && dense !== "errorCodes" in s) return;
  const [saved, here] = dense ? ["a MicroAdam snapshot", "an AdamW state"] : ["an AdamW snapshot", "a MicroAdam state"];
  const why = `its tensor has ${state.numel} elements, ${dense ? "under" : "not under"} this optimizer's denseBelow (${denseBelow})`;
  throw withCode(
    new RangeError(`${name} is ${saved} but this optimizer has ${here} there (${why}): construct the optimizer with the denseBelow it was saved with (0 for a state dict of version 1 with small tensors)`),
    "ERR_OUT_OF_RANGE",
  );
}
