// What MicroAdam and AdamW share: torch-style param groups, one state per tensor, and one
// native call per step covering every tensor.
import type { NativeStepReport, NativeTensorData } from "./binding";
import { checkHyper, HYPER_FIELDS, NON_FINITE_POLICIES, policyCode, writeHyper, type ResolvedHyper } from "./hyper";
import {
  checkPlacement,
  checkStreamTarget,
  checkTensorPair,
  isFloat32Pair,
  runPackedStep,
  runPackedStepAsync,
  stepArgs,
  type NativeStepFunctions,
  type PackedStepCall,
  type SteppableState,
} from "./native-call";
import { checkStream } from "./device-array";
import { DTYPE_CODE, normalizedNumel, normalizeTensor, tensorIdentity, tensorNumel } from "./tensor";
import type { GroupRecord, NonFinitePolicy, StepResult, StepTensor } from "./types";
import { warnFirstSkippedStep } from "./skip-warning";
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
  /**
   * MicroAdam's small tensors: the states `isDense` picks are native AdamW states. A call of them
   * alone goes to `native`, a call of both kinds to `mixed` (one native call, checked and scanned
   * for non-finite gradients as a whole: all or nothing).
   */
  dense?: { native: NativeStepFunctions; mixed: NativeStepFunctions; isDense(state: S): boolean };
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

/** Names by index ("grads[7]"), each made once: a step over thousands of tensors builds no strings. */
class IndexedNames {
  private readonly names: string[] = [];
  constructor(private readonly prefix: string) {}
  at(i: number): string {
    return (this.names[i] ??= `${this.prefix}[${i}]`);
  }
}

const STATE_NAMES = new IndexedNames("states");
const GRAD_NAMES = new IndexedNames("grads");
const GROUP_NAMES = new IndexedNames("paramGroups");
const PARAM_NAMES: IndexedNames[] = []; // by group: params[g].params[k]

function paramName(g: number, k: number): string {
  return (PARAM_NAMES[g] ??= new IndexedNames(`params[${g}].params`)).at(k);
}

/** A group's hyperparameters as last read, and what checkHyper made of them. */
interface CheckedHyper {
  given: Record<(typeof HYPER_FIELDS)[number], unknown>;
  hyper: ResolvedHyper;
}

/**
 * What steps reuse: the packed dtype codes and hyperparameters of the call format (the native
 * layer copies them out during the call, so an async step in flight does not hold them), and for
 * each tensor the checked hyperparameters its slice of `hyper` holds.
 */
interface PackedBuffers {
  dtypes: Uint8Array;
  hyper: Float64Array;
  written: (ResolvedHyper | undefined)[];
}

export abstract class BatchedOptimizer<S extends OptimizerState> {
  readonly paramGroups: ResolvedParamGroup[];
  /** One state per tensor, in the order of the flattened groups. */
  readonly states: S[];
  /** What a non-finite gradient does: 'skip' (default), 'error' or 'ignore'. */
  nonFinite: NonFinitePolicy;
  /**
   * Steps skipped because a gradient held NaN or ±Inf (nonFinite 'skip'): nothing changed and the
   * step counter did not advance. The first one also emits a process warning with code
   * 'MICROADAM_STEP_SKIPPED'.
   */
  skippedSteps = 0;
  private readonly kind: OptimizerKind<S>;
  /** By group index; checked again only when a group's values change (users set lr between steps). */
  private readonly checkedHyper: (CheckedHyper | undefined)[] = [];
  private packed?: PackedBuffers;
  /** The native functions of the last call's kinds of state, and its tensor count (kind.dense only). */
  private nativeOfCount?: { count: number; native: NativeStepFunctions };

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
    const call = this.buildCall(grads, options, false);
    return this.result(runPackedStep(this.nativeFor(call), call));
  }

  /** The same step off the event loop; do not touch params or grads until it settles. */
  async stepAsync(grads: StepTensor[], options?: OptimizerStepOptions): Promise<StepResult> {
    const call = this.buildCall(grads, options, true);
    return this.result(await runPackedStepAsync(this.nativeFor(call), call));
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
    if (skipped && ++this.skippedSteps === 1) warnFirstSkippedStep(this.constructor.name, steps[0] + 1);
    return { step: steps[0], skipped };
  }

  /**
   * Checks every tensor and packs the call. In order, for each tensor: its state, its params and
   * grads (checkTensorPair), and at the first tensor of each group the group's hyperparameters;
   * the first failure throws, naming the argument. Per tensor nothing is allocated in the common
   * case (Float32Arrays, unchanged hyperparameters) but its entries of the three arrays the
   * binding takes.
   */
  private buildCall(grads: StepTensor[], options: OptimizerStepOptions | undefined, async: boolean): PackedStepCall {
    const count = this.states.length;
    if (!Array.isArray(grads) || grads.length !== count)
      throw typeError("grads", `an array of ${count} tensors (one per parameter)`, grads);
    const o = requireObject(options ?? {}, "options");
    rejectUnknownKeys(o, "options", ["stream"]);
    const stream = checkStream(o.stream, "options.stream");
    const policy = policyCode(requireOneOf(this.nonFinite, "nonFinite", NON_FINITE_POLICIES));
    const packed = this.packedBuffers(count);
    const natives: object[] = new Array(count);
    const paramsData: NativeTensorData[] = new Array(count);
    const gradsData: NativeTensorData[] = new Array(count);
    const paramNames: string[] | undefined = async ? new Array(count) : undefined;
    let i = 0;
    // As forEach would: lengths read once, holes skipped.
    const groups = this.paramGroups;
    for (let g = 0, groupCount = groups.length; g < groupCount; g++) {
      if (!(g in groups)) continue;
      const group = groups[g];
      const tensors = group.params;
      let hyper: ResolvedHyper | undefined;
      for (let k = 0, tensorCount = tensors.length; k < tensorCount; k++) {
        if (!(k in tensors)) continue;
        const tensor = tensors[k];
        const state = this.kind.checkState(this.states[i], STATE_NAMES.at(i));
        const grad = grads[i];
        if (isFloat32Pair(state, tensor, grad)) {
          paramsData[i] = tensor as Float32Array;
          gradsData[i] = grad as Float32Array;
          packed.dtypes[2 * i] = DTYPE_CODE.f32;
          packed.dtypes[2 * i + 1] = DTYPE_CODE.f32;
        } else {
          const pair = checkTensorPair(state, tensor, grad, paramName(g, k), GRAD_NAMES.at(i));
          paramsData[i] = pair.params.data;
          gradsData[i] = pair.grads.data;
          packed.dtypes[2 * i] = DTYPE_CODE[pair.params.dtype];
          packed.dtypes[2 * i + 1] = DTYPE_CODE[pair.grads.dtype];
        }
        hyper ??= this.groupHyper(group, g);
        if (packed.written[i] !== hyper) {
          writeHyper(packed.hyper, i, hyper);
          packed.written[i] = hyper;
        }
        natives[i] = state.native;
        if (paramNames !== undefined) paramNames[i] = paramName(g, k);
        i++;
      }
    }
    checkStreamTarget(i === 0 ? undefined : this.states[0], stream, "options.stream");
    if (i === count) return { args: stepArgs(natives, paramsData, gradsData, packed.dtypes, packed.hyper, policy, stream), paramNames };
    // Fewer tensors than states (a group's params were shortened after construction): the call has
    // what was visited.
    natives.length = paramsData.length = gradsData.length = i;
    if (paramNames !== undefined) paramNames.length = i;
    const args = stepArgs(natives, paramsData, gradsData, packed.dtypes.slice(0, 2 * i), packed.hyper.slice(0, HYPER_FIELDS.length * i), policy, stream);
    return { args, paramNames };
  }

  /** The native functions for the kinds of state in a call (its tensors are states[0..count)). */
  private nativeFor(call: PackedStepCall): NativeStepFunctions {
    const dense = this.kind.dense;
    if (dense === undefined) return this.kind.native;
    const count = call.args[0].length;
    if (this.nativeOfCount?.count !== count) {
      let denseCount = 0;
      for (let i = 0; i < count; i++) if (dense.isDense(this.states[i])) denseCount++;
      const native = denseCount === 0 ? this.kind.native : denseCount === count ? dense.native : dense.mixed;
      this.nativeOfCount = { count, native };
    }
    return this.nativeOfCount.native;
  }

  private packedBuffers(count: number): PackedBuffers {
    if (this.packed === undefined || this.packed.written.length !== count)
      this.packed = { dtypes: new Uint8Array(2 * count), hyper: new Float64Array(HYPER_FIELDS.length * count), written: new Array(count).fill(undefined) };
    return this.packed;
  }

  /** checkHyper of a group, again only when one of its values changed since the last step. */
  private groupHyper(group: ResolvedParamGroup, g: number): ResolvedHyper {
    const { lr, beta1, beta2, eps, weightDecay, alpha } = group as unknown as Record<string, unknown>;
    const cached = this.checkedHyper[g];
    if (
      cached !== undefined &&
      Object.is(cached.given.lr, lr) &&
      Object.is(cached.given.beta1, beta1) &&
      Object.is(cached.given.beta2, beta2) &&
      Object.is(cached.given.eps, eps) &&
      Object.is(cached.given.weightDecay, weightDecay) &&
      Object.is(cached.given.alpha, alpha)
    )
      return cached.hyper;
    const given = { lr, beta1, beta2, eps, weightDecay, alpha };
    const hyper = checkHyper(given, GROUP_NAMES.at(g));
    this.checkedHyper[g] = { given, hyper };
    return hyper;
  }
}
