// MicroAdam: a torch-style optimizer over many tensors with param groups. Every step is one
// native call covering all tensors, spread over the engine's threads.
import { BatchedOptimizer, isOptimizerOfKind, type OptimizerKind, type ParamGroup } from "./batched-optimizer";
import * as checkpoint from "./checkpoint/optimizer-checkpoint";
import { HYPER_FIELDS } from "./hyper";
import { MicroAdamState, resolveStateConfig, STATE_DEFAULTS } from "./state";
import { checkMicroAdamState, microAdamNative } from "./step";
import type { Device, MicroAdamSnapshot, MicroAdamStateDict, NonFinitePolicy, StepTensor } from "./types";
import { rangeError, registerBrand, requireObject, typeError } from "./validate";

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
}

const LAYOUT_KEYS = ["window", "density", "topkBlockSize", "quantBlockSize"] as const;

const MICROADAM_KIND: OptimizerKind<MicroAdamState> = { hyperKeys: HYPER_FIELDS, native: microAdamNative, checkState: checkMicroAdamState };

/** True only for a real MicroAdam (not a look-alike made from its prototype). */
export function isMicroAdam(value: unknown): value is MicroAdam {
  return isOptimizerOfKind(value, MICROADAM_KIND);
}

export class MicroAdam extends BatchedOptimizer<MicroAdamState> {
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
    const { device, deviceIndex } = resolveStateConfig({ numel: 1, ...layout }, "options");
    const placed = { ...layout, device, deviceIndex };
    super(
      params,
      o,
      MICROADAM_KIND,
      [...LAYOUT_KEYS, "device", "deviceIndex"],
      (numel, name) => new MicroAdamState(resolveStateConfig({ numel, ...placed }, `options (for ${name})`)),
    );
  }

  /** Where the states live: 'cpu' or 'cuda'. */
  get device(): "cpu" | "cuda" {
    return this.states[0].device;
  }

  /** Everything needed to resume bit-identically: layout, group hyperparameters, every state. */
  stateDict(): MicroAdamStateDict {
    const c = this.states[0].config;
    return {
      format: "microadam-native/state-dict",
      version: 1,
      layout: { window: c.window, density: c.density, topkBlockSize: c.topkBlockSize, quantBlockSize: c.quantBlockSize },
      paramGroups: this.groupRecords(),
      states: this.states.map((s) => s.snapshot()),
    };
  }

  /**
   * Restores a stateDict() of an optimizer with the same groups and tensor sizes. Checks
   * everything first; if a state still refuses its snapshot, every state is put back as it was.
   */
  loadStateDict(stateDict: MicroAdamStateDict): void {
    const sd = requireObject(stateDict, "stateDict");
    if (sd.format !== "microadam-native/state-dict")
      throw typeError("stateDict.format", "'microadam-native/state-dict'", sd.format);
    if (sd.version !== 1) throw rangeError("stateDict.version", "1", sd.version);
    const layout = requireObject(sd.layout, "stateDict.layout");
    const c = this.states[0].config;
    for (const key of LAYOUT_KEYS)
      if (layout[key] !== c[key]) throw rangeError(`stateDict.layout.${key}`, `${c[key]} (this optimizer's)`, layout[key]);
    const hypers = this.checkGroupRecords(sd.paramGroups, "stateDict.paramGroups");
    const states = sd.states;
    if (!Array.isArray(states) || states.length !== this.states.length)
      throw rangeError("stateDict.states", `an array of ${this.states.length} snapshots`, states);
    this.restoreAll(
      states as MicroAdamSnapshot[],
      hypers,
      (s) => s.snapshot(),
      (s, snapshot, name) => s.restore(snapshot, name),
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
