// MicroAdam: a torch-style optimizer over many tensors with param groups. Every step is one
// native call covering all tensors, spread over the engine's threads.
import { checkHyper, NON_FINITE_POLICIES, policyCode, type ResolvedHyper } from "./hyper";
import { MicroAdamState, resolveStateConfig, STATE_DEFAULTS } from "./state";
import { checkStateUsable, checkTensorPair, runStep, runStepAsync, type NativeStepCall } from "./step";
import { tensorNumel } from "./tensor";
import type {
  Device,
  MicroAdamSnapshot,
  MicroAdamStateConfig,
  NonFinitePolicy,
  StepResult,
  Tensor,
} from "./types";
import { isPlainObject, rangeError, rejectUnknownKeys, requireObject, requireOneOf, typeError } from "./validate";

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
  device?: Device;
  nonFinite?: NonFinitePolicy;
}

/** A group of tensors sharing hyperparameters (like a torch param group). */
export interface ParamGroup {
  params: Tensor[];
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  alpha?: number;
}

/** A group after defaults were applied; change lr/weightDecay here between steps. */
export interface ResolvedParamGroup extends ResolvedHyper {
  params: Tensor[];
}

export interface MicroAdamStateDict {
  format: "microadam-native/state-dict";
  version: 1;
  layout: Omit<MicroAdamStateConfig, "numel" | "device">;
  paramGroups: (ResolvedHyper & { numels: number[] })[];
  states: MicroAdamSnapshot[];
}

const OPTION_KEYS = [
  "lr", "beta1", "beta2", "eps", "weightDecay", "alpha",
  "window", "density", "topkBlockSize", "quantBlockSize", "device", "nonFinite",
] as const;
const GROUP_KEYS = ["params", "lr", "beta1", "beta2", "eps", "weightDecay", "alpha"] as const;

export class MicroAdam {
  readonly paramGroups: ResolvedParamGroup[];
  /** One state per tensor, in the order of the flattened groups. */
  readonly states: MicroAdamState[];
  /** What a non-finite gradient does (see docs/algorithm.md, step 0). */
  nonFinite: NonFinitePolicy;

  constructor(params: Tensor[] | ParamGroup[], options: MicroAdamOptions) {
    const o = requireObject(options, "options");
    rejectUnknownKeys(o, "options", OPTION_KEYS);
    const defaults = checkHyper(o, "options");
    this.nonFinite = requireOneOf(o.nonFinite ?? "skip", "options.nonFinite", NON_FINITE_POLICIES);
    if (!Array.isArray(params) || params.length === 0)
      throw typeError("params", "a non-empty array of tensors or of param groups", params);

    const groups: ParamGroup[] =
      isPlainObject(params[0]) && "params" in (params[0] as object)
        ? (params as ParamGroup[])
        : [{ params: params as Tensor[] }];
    this.paramGroups = groups.map((group, g) => {
      const name = `params[${g}]`;
      const raw = requireObject(group, name);
      rejectUnknownKeys(raw, name, GROUP_KEYS);
      if (!Array.isArray(raw.params) || raw.params.length === 0)
        throw typeError(`${name}.params`, "a non-empty array of tensors", raw.params);
      const hyper = checkHyper({ ...defaults, ...withoutUndefined(raw) }, name);
      return { ...hyper, params: raw.params as Tensor[] };
    });

    const layout = {
      window: o.window ?? STATE_DEFAULTS.window,
      density: o.density ?? STATE_DEFAULTS.density,
      topkBlockSize: o.topkBlockSize ?? STATE_DEFAULTS.topkBlockSize,
      quantBlockSize: o.quantBlockSize ?? STATE_DEFAULTS.quantBlockSize,
      device: o.device ?? "auto",
    };
    this.states = [];
    this.forEachParam((tensor, name) => {
      const numel = tensorNumel(tensor);
      if (!(typeof numel === "number")) throw typeError(name, "a tensor", tensor);
      this.states.push(new MicroAdamState(resolveStateConfig({ numel, ...layout }, `options (for ${name})`)));
    });
  }

  /** Steps taken (t of the first state; all states step together). */
  get stepCount(): number {
    return this.states[0].step;
  }

  /** Exact bytes of all optimizer state. Adam would need 8 bytes per parameter. */
  get stateBytes(): number {
    return this.states.reduce((sum, s) => sum + s.stateBytes, 0);
  }

  /** Number of parameters (elements) across all tensors. */
  get numel(): number {
    return this.states.reduce((sum, s) => sum + s.numel, 0);
  }

  /** One step over every tensor; `grads` in the order of the flattened param groups. */
  step(grads: Tensor[]): StepResult {
    const call = this.buildCall(grads);
    const { skipped, steps } = runStep(call);
    return { step: steps[0], skipped };
  }

  /** The same step off the event loop. */
  async stepAsync(grads: Tensor[]): Promise<StepResult> {
    const call = this.buildCall(grads);
    const { skipped, steps } = await runStepAsync(call);
    return { step: steps[0], skipped };
  }

  /** Everything needed to resume bit-identically: layout, group hyperparameters, every state. */
  stateDict(): MicroAdamStateDict {
    const c = this.states[0].config;
    return {
      format: "microadam-native/state-dict",
      version: 1,
      layout: { window: c.window, density: c.density, topkBlockSize: c.topkBlockSize, quantBlockSize: c.quantBlockSize },
      paramGroups: this.paramGroups.map((g) => ({
        lr: g.lr,
        beta1: g.beta1,
        beta2: g.beta2,
        eps: g.eps,
        weightDecay: g.weightDecay,
        alpha: g.alpha,
        numels: g.params.map(tensorNumel),
      })),
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
    for (const key of ["window", "density", "topkBlockSize", "quantBlockSize"] as const)
      if (layout[key] !== c[key]) throw rangeError(`stateDict.layout.${key}`, `${c[key]} (this optimizer's)`, layout[key]);
    const groups = sd.paramGroups;
    if (!Array.isArray(groups) || groups.length !== this.paramGroups.length)
      throw rangeError("stateDict.paramGroups", `an array of ${this.paramGroups.length} groups`, groups);
    const hypers = groups.map((g, i) => {
      const group = requireObject(g, `stateDict.paramGroups[${i}]`);
      const numels = this.paramGroups[i].params.map(tensorNumel);
      if (!Array.isArray(group.numels) || group.numels.join() !== numels.join())
        throw rangeError(`stateDict.paramGroups[${i}].numels`, `[${numels.join(", ")}]`, group.numels);
      return checkHyper(group, `stateDict.paramGroups[${i}]`);
    });
    const states = sd.states;
    if (!Array.isArray(states) || states.length !== this.states.length)
      throw rangeError("stateDict.states", `an array of ${this.states.length} snapshots`, states);
    this.states.forEach((s, i) => checkStateUsable(s, `states[${i}]`));

    const previous = this.states.map((s) => s.snapshot());
    try {
      this.states.forEach((s, i) => s.restore(states[i] as MicroAdamSnapshot));
    } catch (error) {
      this.states.forEach((s, i) => s.restore(previous[i]));
      throw error;
    }
    hypers.forEach((h, i) => Object.assign(this.paramGroups[i], h));
  }

  /** Frees every state's native memory. */
  dispose(): void {
    for (const s of this.states) s.dispose();
  }

  private forEachParam(fn: (tensor: Tensor, name: string, group: ResolvedParamGroup) => void): void {
    this.paramGroups.forEach((group, g) => group.params.forEach((t, k) => fn(t, `params[${g}].params[${k}]`, group)));
  }

  private buildCall(grads: Tensor[]): NativeStepCall {
    if (!Array.isArray(grads) || grads.length !== this.states.length)
      throw typeError("grads", `an array of ${this.states.length} tensors (one per parameter)`, grads);
    const call: NativeStepCall = { states: [], params: [], grads: [], hyper: [], policy: policyCode(this.nonFinite) };
    let i = 0;
    this.forEachParam((tensor, name, group) => {
      const state = checkStateUsable(this.states[i], `states[${i}]`);
      const pair = checkTensorPair(state, tensor, grads[i], name, `grads[${i}]`);
      call.states.push(state);
      call.params.push(pair.params);
      call.grads.push(pair.grads);
      call.hyper.push(checkHyper(group as unknown as Record<string, unknown>, `paramGroups[${this.paramGroups.indexOf(group)}]`));
      i++;
    });
    return call;
  }
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== "params"));
}
