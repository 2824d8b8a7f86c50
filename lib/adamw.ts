// The native fused AdamW: the uncompressed baseline (two float32 moments, 8 bytes per parameter)
// with MicroAdam's API, threads, dtypes and batching, so switching is one line.
import { BatchedOptimizer, isOptimizerOfKind, type OptimizerKind, type ParamGroup } from "./batched-optimizer";
import { binding, type NativeAdamWState } from "./binding";
import { ADAMW_HYPER_FIELDS, resolveStepOptions } from "./hyper";
import { checkState, checkTensorPair, runStep, runStepAsync, type NativeStepCall, type NativeStepFunctions } from "./native-call";
import type { GroupRecord, NonFinitePolicy, StepResult, Tensor } from "./types";
import { rangeError, registerBrand, rejectUnknownKeys, renameArgument, requireInteger, requireObject, typeError, isTypedArray } from "./validate";

export interface AdamWSnapshot {
  step: number;
  /** First moment (torch's exp_avg). */
  expAvg: Float32Array;
  /** Second moment (torch's exp_avg_sq). */
  expAvgSq: Float32Array;
}

export interface AdamWStepOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled (AdamW) weight decay. Default 0. */
  weightDecay?: number;
  nonFinite?: NonFinitePolicy;
}

export type AdamWOptions = AdamWStepOptions;

const ADAMW_STEP_KEYS = [...ADAMW_HYPER_FIELDS, "nonFinite"] as const;

/** The binding's AdamW step functions (also lib/tfjs's AdamW variables step through them). */
export const adamWNative: NativeStepFunctions = {
  step: (...args) => binding.adamWStep(...args),
  stepAsync: (...args) => binding.adamWStepAsync(...args),
};

/** Every AdamWState this module constructed: a look-alike made from the prototype is not one. */
const constructed = new WeakSet<object>();

/** True only for a real AdamWState (instanceof is true for Object.create(prototype) too). */
export function isAdamWState(value: unknown): value is AdamWState {
  return typeof value === "object" && value !== null && constructed.has(value);
}

export class AdamWState {
  /** @internal */
  readonly native: NativeAdamWState;
  private disposedFlag = false;

  /** @internal Use createAdamWState. */
  constructor(numel: number) {
    this.native = new binding.NativeAdamWState({ numel });
    constructed.add(this);
  }

  get numel(): number {
    return this.native.numel;
  }
  get step(): number {
    return this.native.step;
  }
  /** 8 bytes per parameter. */
  get stateBytes(): number {
    return this.native.stateBytes;
  }
  get busy(): boolean {
    return this.native.busy;
  }
  get disposed(): boolean {
    return this.disposedFlag;
  }

  snapshot(): AdamWSnapshot {
    return this.native.snapshot();
  }

  /** Replaces both moments and the step counter; checks everything first. Errors call it `name`. */
  restore(snapshot: AdamWSnapshot, name = "snapshot"): void {
    const s = requireObject(snapshot, name);
    requireInteger(s.step, `${name}.step`, 0, Number.MAX_SAFE_INTEGER);
    for (const key of ["expAvg", "expAvgSq"] as const) {
      if (!isTypedArray(s[key], Float32Array)) throw typeError(`${name}.${key}`, "a Float32Array", s[key]);
      if ((s[key] as Float32Array).length !== this.numel)
        throw rangeError(`${name}.${key}`, `a Float32Array of length ${this.numel}`, s[key]);
    }
    try {
      this.native.restore(snapshot);
    } catch (error) {
      throw renameArgument(error, "snapshot", name);
    }
  }

  dispose(): void {
    this.disposedFlag = true;
    this.native.dispose();
  }
}
registerBrand(AdamWState, isAdamWState);

/** Creates a zeroed AdamW state (two float32 moments) for a tensor of `numel` elements. */
export function createAdamWState(options: { numel: number }): AdamWState {
  const o = requireObject(options, "options");
  rejectUnknownKeys(o, "options", ["numel"]);
  return new AdamWState(requireInteger(o.numel, "options.numel", 1, Number.MAX_SAFE_INTEGER));
}

export function checkAdamWState(state: unknown, name: string): AdamWState {
  return checkState(state, name, isAdamWState, "an AdamWState (from createAdamWState)");
}

function singleCall(state: unknown, params: Tensor, grads: Tensor, options: unknown): NativeStepCall {
  const s = checkAdamWState(state, "state");
  const pair = checkTensorPair(s, params, grads, "params", "grads");
  const { hyper, policy } = resolveStepOptions(options, "options", ADAMW_STEP_KEYS);
  return { states: [s], params: [pair.params], grads: [pair.grads], hyper: [hyper], policy, paramNames: ["params"] };
}

/** One AdamW step (torch.optim.AdamW's update, decoupled weight decay) on `params` in place. */
export function adamWStep(state: AdamWState, params: Tensor, grads: Tensor, options: AdamWStepOptions): StepResult {
  const { skipped, steps } = runStep(adamWNative, singleCall(state, params, grads, options));
  return { step: steps[0], skipped };
}

/** The same step off the event loop. */
export async function adamWStepAsync(
  state: AdamWState,
  params: Tensor,
  grads: Tensor,
  options: AdamWStepOptions,
): Promise<StepResult> {
  const { skipped, steps } = await runStepAsync(adamWNative, singleCall(state, params, grads, options));
  return { step: steps[0], skipped };
}

export interface AdamWStateDict {
  format: "microadam-native/adamw-state-dict";
  version: 1;
  paramGroups: GroupRecord[];
  states: AdamWSnapshot[];
}

const ADAMW_KIND: OptimizerKind<AdamWState> = { hyperKeys: ADAMW_HYPER_FIELDS, native: adamWNative, checkState: checkAdamWState };

/** True only for a real AdamW (not a look-alike made from its prototype). */
export function isAdamW(value: unknown): value is AdamW {
  return isOptimizerOfKind(value, ADAMW_KIND);
}

/** AdamW over many tensors with param groups: MicroAdam's API, uncompressed state. */
export class AdamW extends BatchedOptimizer<AdamWState> {
  constructor(params: Tensor[] | Omit<ParamGroup, "alpha">[], options: AdamWOptions) {
    super(
      params,
      requireObject(options, "options"),
      ADAMW_KIND,
      [],
      (numel) => new AdamWState(numel),
    );
  }

  stateDict(): AdamWStateDict {
    return {
      format: "microadam-native/adamw-state-dict",
      version: 1,
      paramGroups: this.groupRecords(),
      states: this.states.map((s) => s.snapshot()),
    };
  }

  loadStateDict(stateDict: AdamWStateDict): void {
    const sd = requireObject(stateDict, "stateDict");
    if (sd.format !== "microadam-native/adamw-state-dict")
      throw typeError("stateDict.format", "'microadam-native/adamw-state-dict'", sd.format);
    if (sd.version !== 1) throw rangeError("stateDict.version", "1", sd.version);
    const hypers = this.checkGroupRecords(sd.paramGroups, "stateDict.paramGroups");
    const states = sd.states;
    if (!Array.isArray(states) || states.length !== this.states.length)
      throw rangeError("stateDict.states", `an array of ${this.states.length} snapshots`, states);
    this.restoreAll(
      states as AdamWSnapshot[],
      hypers,
      (s) => s.snapshot(),
      (s, snapshot, name) => s.restore(snapshot, name),
      "stateDict.states",
    );
  }
}

registerBrand(AdamW, isAdamW);
