// What MicroAdam and AdamW share: torch-style param groups, one state per tensor, and one
// native call per step covering every tensor.
import type { NativeStepReport } from "./binding";
import { checkHyper, NON_FINITE_POLICIES, policyCode, type ResolvedHyper } from "./hyper";
import {
  checkPlacement,
  checkTensorPair,
  runStep,
  runStepAsync,
  type NativeStepCall,
  type NativeStepFunctions,
  type SteppableState,
} from "./native-call";
import { checkStream } from "./device-array";
import { normalizedNumel, normalizeTensor, tensorIdentity, tensorNumel } from "./tensor";
import type { GroupRecord, NonFinitePolicy, StepResult, StepTensor } from "./types";
import { isPlainObject, rangeError, rejectUnknownKeys, requireObject, requireOneOf, typeError } from "./validate";

/** A group of tensors sharing hyperparameters (like a torch param group). */
export interface ParamGroup {
  params: StepTensor[];
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  alpha?: number;
}

/** A group after defaults were applied; change lr/weightDecay here between steps. */
export interface ResolvedParamGroup extends ResolvedHyper {
  params: StepTensor[];
}

/** Options of one optimizer step. */
export interface OptimizerStepOptions {
  /** CUDA states only: the cudaStream_t to enqueue the step on (MicroAdamStepOptions.stream). */
  stream?: bigint;
}

export interface OptimizerState extends SteppableState {
  readonly step: number;
  readonly stateBytes: number;
  dispose(): void;
}

/** How a concrete optimizer differs: its option names, its states, its native functions. */
export interface OptimizerKind<S extends OptimizerState> {
  hyperKeys: readonly string[];
  native: NativeStepFunctions;
  checkState(state: unknown, name: string): S;
}

/** The kind of every optimizer this module constructed: a look-alike made from a prototype has none. */
const constructed = new WeakMap<object, object>();

/** True only for an optimizer constructed with `kind` (instanceof is true for Object.create(prototype) too). */
export function isOptimizerOfKind(value: unknown, kind: object): boolean {
  return typeof value === "object" && value !== null && constructed.get(value) === kind;
}

const GROUP_EXPECTED = "a param group { params: [tensors], ...hyperparameters }";

function isGroup(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && "params" in value;
}

/**
 * `params` as groups, checked: a non-empty array of tensors, or of param groups (not a mix), each
 * group a non-empty array of distinct tensors with at least one element each. Errors name the
 * entry as the caller wrote it (params[2], params[1].params[0]).
 */
function normalizeGroups(params: unknown, hyperKeys: readonly string[]): { given: Record<string, unknown>; params: StepTensor[] }[] {
  if (!Array.isArray(params) || params.length === 0)
    throw typeError("params", "a non-empty array of tensors or of param groups", params);
  const entries: unknown[] = Array.from(params); // each element read once
  const seen = new Map<unknown, string>();
  const checkTensor = (value: unknown, name: string, topLevel: boolean): StepTensor => {
    if (topLevel && isPlainObject(value) && !("data" in value) && !("dtype" in value))
      throw typeError(name, `a tensor (a Float32Array or { data, dtype }) or ${GROUP_EXPECTED}`, value);
    const tensor = normalizeTensor(value, name);
    const { data } = tensor;
    if (normalizedNumel(tensor) === 0) throw rangeError(name, "a tensor of at least 1 element", data);
    const other = seen.get(tensorIdentity(tensor));
    if (other !== undefined) throw rangeError(name, `a tensor other than ${other} (each tensor has one state)`, data);
    seen.set(tensorIdentity(tensor), name);
    return value as StepTensor;
  };
  if (!isGroup(entries[0]))
    return [
      {
        given: {},
        params: entries.map((entry, i) => {
          if (isGroup(entry)) throw typeError(`params[${i}]`, "a tensor (params[0] is a tensor, so every entry must be one)", entry);
          return checkTensor(entry, `params[${i}]`, true);
        }),
      },
    ];
  return entries.map((entry, g) => {
    const name = `params[${g}]`;
    if (!isGroup(entry)) throw typeError(name, `${GROUP_EXPECTED} (params[0] is a param group, so every entry must be one)`, entry);
    rejectUnknownKeys(entry, name, ["params", ...hyperKeys]);
    const tensors = entry.params;
    if (!Array.isArray(tensors) || tensors.length === 0) throw typeError(`${name}.params`, "a non-empty array of tensors", tensors);
    const given = Object.fromEntries(Object.entries(entry).filter(([k, v]) => v !== undefined && k !== "params"));
    return { given, params: Array.from(tensors as unknown[], (t, k) => checkTensor(t, `${name}.params[${k}]`, false)) };
  });
}

export abstract class BatchedOptimizer<S extends OptimizerState> {
  readonly paramGroups: ResolvedParamGroup[];
  /** One state per tensor, in the order of the flattened groups. */
  readonly states: S[];
  /** What a non-finite gradient does: 'skip' (default), 'error' or 'ignore'. */
  nonFinite: NonFinitePolicy;
  private readonly kind: OptimizerKind<S>;

  protected constructor(
    params: StepTensor[] | ParamGroup[],
    options: Record<string, unknown>,
    kind: OptimizerKind<S>,
    extraOptionKeys: readonly string[],
    createState: (numel: number, name: string) => S,
  ) {
    this.kind = kind;
    const o = requireObject(options, "options");
    rejectUnknownKeys(o, "options", [...kind.hyperKeys, "nonFinite", ...extraOptionKeys]);
    const defaults = checkHyper(o, "options");
    this.nonFinite = requireOneOf(o.nonFinite ?? "skip", "options.nonFinite", NON_FINITE_POLICIES);
    this.paramGroups = normalizeGroups(params, kind.hyperKeys).map(({ given, params }, g) => ({
      ...checkHyper({ ...defaults, ...given }, `params[${g}]`),
      params,
    }));
    this.states = [];
    try {
      this.forEachParam((tensor, name) => {
        const state = createState(tensorNumel(tensor), name);
        this.states.push(state);
        checkPlacement(state, normalizeTensor(tensor, name), name); // a device tensor needs a CUDA state
      });
    } catch (error) {
      this.dispose(); // the states made so far
      throw error;
    }
    constructed.set(this, kind);
  }

  /** Steps taken (t of the first state; all states step together). */
  get stepCount(): number {
    return this.states[0].step;
  }

  /** Exact bytes of all optimizer state. */
  get stateBytes(): number {
    return this.states.reduce((sum, s) => sum + s.stateBytes, 0);
  }

  /** Number of parameters (elements) across all tensors. */
  get numel(): number {
    return this.states.reduce((sum, s) => sum + s.numel, 0);
  }

  /** One step over every tensor; `grads` in the order of the flattened param groups. */
  step(grads: StepTensor[], options?: OptimizerStepOptions): StepResult {
    return this.result(runStep(this.kind.native, this.buildCall(grads, options)));
  }

  /** The same step off the event loop; do not touch params or grads until it settles. */
  async stepAsync(grads: StepTensor[], options?: OptimizerStepOptions): Promise<StepResult> {
    return this.result(await runStepAsync(this.kind.native, this.buildCall(grads, options)));
  }

  /** Frees every state's native memory (a step in flight finishes first). */
  dispose(): void {
    for (const s of this.states) s.dispose();
  }

  /** Each group's hyperparameters and tensor sizes, for a state dict. */
  protected groupRecords(): GroupRecord[] {
    return this.paramGroups.map((g) => ({
      lr: g.lr,
      beta1: g.beta1,
      beta2: g.beta2,
      eps: g.eps,
      weightDecay: g.weightDecay,
      alpha: g.alpha,
      numels: g.params.map(tensorNumel),
    }));
  }

  /** Checks a state dict's groups against this optimizer; returns their hyperparameters. */
  protected checkGroupRecords(groups: unknown, name: string): ResolvedHyper[] {
    if (!Array.isArray(groups) || groups.length !== this.paramGroups.length)
      throw rangeError(name, `an array of ${this.paramGroups.length} groups`, groups);
    return groups.map((g, i) => {
      const group = requireObject(g, `${name}[${i}]`);
      const numels = this.paramGroups[i].params.map(tensorNumel);
      if (!Array.isArray(group.numels) || group.numels.join() !== numels.join())
        throw rangeError(`${name}[${i}].numels`, `[${numels.join(", ")}]`, group.numels);
      return checkHyper(group, `${name}[${i}]`);
    });
  }

  /**
   * Restores every state from `snapshots` (already checked in length) and then the groups'
   * hyperparameters; if a state refuses its snapshot, every state is put back as it was.
   */
  protected restoreAll<T>(
    snapshots: T[],
    hypers: ResolvedHyper[],
    snapshotOf: (s: S) => T,
    restore: (s: S, t: T, name: string) => void,
    name: string,
  ): void {
    this.states.forEach((s, i) => this.kind.checkState(s, `states[${i}]`));
    const previous = this.states.map(snapshotOf);
    try {
      this.states.forEach((s, i) => restore(s, snapshots[i], `${name}[${i}]`));
    } catch (error) {
      this.states.forEach((s, i) => restore(s, previous[i], `states[${i}]`));
      throw error;
    }
    hypers.forEach((h, i) => Object.assign(this.paramGroups[i], h));
  }

  protected forEachParam(fn: (tensor: StepTensor, name: string, group: ResolvedParamGroup, groupIndex: number) => void): void {
    this.paramGroups.forEach((group, g) => group.params.forEach((t, k) => fn(t, `params[${g}].params[${k}]`, group, g)));
  }

  private result({ skipped, steps }: NativeStepReport): StepResult {
    return { step: steps[0], skipped };
  }

  private buildCall(grads: StepTensor[], options: OptimizerStepOptions | undefined): NativeStepCall {
    if (!Array.isArray(grads) || grads.length !== this.states.length)
      throw typeError("grads", `an array of ${this.states.length} tensors (one per parameter)`, grads);
    const o = requireObject(options ?? {}, "options");
    rejectUnknownKeys(o, "options", ["stream"]);
    const stream = checkStream(o.stream, "options.stream");
    const policy = policyCode(requireOneOf(this.nonFinite, "nonFinite", NON_FINITE_POLICIES));
    const call: NativeStepCall = { states: [], params: [], grads: [], hyper: [], policy, paramNames: [], stream, streamName: "options.stream" };
    let i = 0;
    this.forEachParam((tensor, name, group, g) => {
      const state = this.kind.checkState(this.states[i], `states[${i}]`);
      const pair = checkTensorPair(state, tensor, grads[i], name, `grads[${i}]`);
      call.states.push(state);
      call.params.push(pair.params);
      call.grads.push(pair.grads);
      call.paramNames!.push(name);
      call.hyper.push(checkHyper(group as unknown as Record<string, unknown>, `paramGroups[${g}]`));
      i++;
    });
    return call;
  }
}
