// What MicroAdamOptimizer and AdamWOptimizer share: a tf.Optimizer whose state lives in native
// memory, one state per variable, created when the variable first gets a gradient.
//
// One step (applyGradients): each gradient is read with dataSync (on the CPU backend, the
// backend's own array, not copied), each variable's values are copied into a fresh Float32Array
// (dataSync().slice()), one native call over every variable (both kinds of state, MicroAdam and
// AdamW, together) updates those copies in place on all the engine's threads, and variable.assign() takes each copy as the new value (a
// tensor over the array, not copied again on the CPU backend). What this costs against tfjs's own
// Adam is measured in docs/convergence.md ("Cost of the tfjs wrappers").
import * as tf from "@tensorflow/tfjs";
import { adamWNative, createAdamWState, type AdamWState } from "../adamw";
import { checkHyper, NON_FINITE_POLICIES, policyCode } from "../hyper";
import { runStep, type NativeStepCall, type NativeStepFunctions } from "../native-call";
import { createMicroAdamState, type MicroAdamState } from "../state";
import { microAdamNative, mixedNative } from "../step";
import type { NonFinitePolicy } from "../types";
import { warnFirstSkippedStep } from "../skip-warning";
import { rangeError, requireObject, requireOneOf, typeError, withCode } from "../validate";
import {
  checkWeightDecay,
  optionsToConfig,
  settingsFor,
  type ResolvedOptions,
  type VariableOverride,
  type VariableSettings,
} from "./options";
import { checkLearningRate, learningRateAt, type LearningRate } from "./schedule";
import { createDecodedState, decodeState, encodeState, type DecodedState, type StateKind } from "./state-weights";

/** A gradient as tfjs's array form of applyGradients gives it. */
export interface NamedGradient {
  name: string;
  tensor: tf.Tensor | null | undefined;
}

/** One optimizer weight (tfjs's NamedTensor, which the tfjs package does not export). */
export interface NamedWeight {
  name: string;
  tensor: tf.Tensor;
}

/** The native state of one variable. */
export interface VariableState {
  /** The variable's name (for a restored state not yet matched to a variable: the saved name). */
  readonly variableName: string;
  readonly kind: StateKind;
  readonly state: MicroAdamState | AdamWState;
  /** False for a state restored by setWeights that no variable has claimed yet. */
  readonly bound: boolean;
}

interface Slot {
  name: string;
  kind: StateKind;
  state: MicroAdamState | AdamWState;
  settings: VariableSettings;
}

interface PendingSlot {
  savedName: string;
  decoded: DecodedState;
  state: MicroAdamState | AdamWState;
}

interface Work {
  variable: tf.Variable;
  grads: Float32Array;
  slot: Slot;
}

/** Suffix of an optimizer weight's name, after the variable's name. */
const WEIGHT_SUFFIX: Readonly<Record<StateKind, string>> = { microadam: "/microadam", adamw: "/adamw" };

export abstract class NativeOptimizer extends tf.Optimizer {
  /**
   * Steps skipped because a gradient held NaN or ±Inf (nonFinite 'skip'). The first one also emits
   * a process warning with code 'MICROADAM_STEP_SKIPPED'.
   */
  skippedSteps = 0;
  private readonly options: ResolvedOptions;
  private readonly slots: Slot[] = [];
  private readonly slotByName = new Map<string, Slot>();
  /** States restored by setWeights, waiting for their variables (in saved order). */
  private pending: PendingSlot[] = [];
  private disposedFlag = false;

  protected constructor(options: ResolvedOptions) {
    super();
    this.options = options;
  }

  /** The learning rate: a number, or a schedule (iteration) => number; may change between steps. */
  get learningRate(): LearningRate {
    return this.options.learningRate;
  }
  set learningRate(value: LearningRate) {
    this.options.learningRate = checkLearningRate(value, "learningRate");
  }

  /** Decoupled weight decay of variables without an override; may change between steps. */
  get weightDecay(): number {
    return this.options.weightDecay;
  }
  set weightDecay(value: number) {
    this.options.weightDecay = checkWeightDecay(value, "weightDecay");
  }

  get nonFinite(): NonFinitePolicy {
    return this.options.nonFinite;
  }
  set nonFinite(value: NonFinitePolicy) {
    this.options.nonFinite = requireOneOf(value, "nonFinite", NON_FINITE_POLICIES);
  }

  get beta1(): number {
    return this.options.beta1;
  }
  get beta2(): number {
    return this.options.beta2;
  }
  get epsilon(): number {
    return this.options.epsilon;
  }
  get overrides(): readonly VariableOverride[] {
    return this.options.overrides;
  }

  /** MicroAdam's layout, alpha and denseBelow; null for AdamWOptimizer. */
  protected get microAdamOptions(): Readonly<NonNullable<ResolvedOptions["microAdam"]>> | null {
    return this.options.microAdam;
  }

  /** Exact bytes of every native state (AdamW: 8 per element; MicroAdam: docs/algorithm.md). */
  get stateBytes(): number {
    return this.variableStates().reduce((sum, v) => sum + v.state.stateBytes, 0);
  }

  /** The states, in the order the variables first got a gradient, then any unclaimed restored ones. */
  variableStates(): VariableState[] {
    return [
      ...this.slots.map((s) => ({ variableName: s.name, kind: s.kind, state: s.state, bound: true })),
      ...this.pending.map((p) => ({ variableName: p.savedName, kind: p.decoded.kind, state: p.state, bound: false })),
    ];
  }

  /** The learning rate the next step gives `variable` (its override's, else the optimizer's). */
  currentLearningRate(variable?: tf.Variable): number {
    const lr = variable === undefined ? this.options.learningRate : this.settingsOf(variable).learningRate ?? this.options.learningRate;
    return learningRateAt(lr, this.iterations, "learningRate");
  }

  /** Which native optimizer steps a variable that has no state yet. */
  protected abstract kindFor(variable: tf.Variable, settings: VariableSettings): StateKind;

  /**
   * One step. `variableGradients` maps variable names to gradients (tf.variableGrads's `grads`), or
   * lists { name, tensor } (what minimize passes with a varList); a null gradient is left out.
   */
  override applyGradients(variableGradients: tf.NamedTensorMap | NamedGradient[]): void {
    this.checkNotDisposed();
    const named: { name: string; tensor: tf.Tensor }[] = Array.isArray(variableGradients)
      ? variableGradients.filter((g) => g != null && g.tensor != null).map((g) => ({ name: g.name, tensor: g.tensor as tf.Tensor }))
      : Object.keys(requireMap(variableGradients))
          .filter((name) => variableGradients[name] != null)
          .map((name) => ({ name, tensor: variableGradients[name] }));
    const variables = named.map(({ name, tensor }, i) => checkPair(name, tensor, i));
    const twice = named.find(({ name }, i) => named.findIndex((n) => n.name === name) !== i);
    if (twice !== undefined) {
      throw withCode(new RangeError(`variableGradients holds two gradients for variable '${twice.name}'`), "ERR_OUT_OF_RANGE");
    }
    const slots = this.slotsFor(variables);
    const work: Work[] = variables.map((variable, i) => ({ variable, slot: slots[i], grads: named[i].tensor.dataSync() as Float32Array }));
    const params = work.map(({ variable }) => (variable.dataSync() as Float32Array).slice());
    // One native call over every variable, both kinds of state (binding.mixedStep where there are
    // both): checked and scanned for non-finite gradients as a whole, so the step is all or nothing.
    const { native, call } = this.nativeCall(work, params);
    if (runStep(native, call).skipped) return this.skipStep();
    tf.tidy(() => work.forEach(({ variable }, i) => variable.assign(tf.tensor(params[i], variable.shape, "float32"))));
    this.incrementIterations();
  }

  /** The native call stepping every variable in `work` (params: their copies), and the functions for its kinds of state. */
  private nativeCall(work: Work[], params: Float32Array[]): { native: NativeStepFunctions; call: NativeStepCall } {
    const o = this.options;
    const iteration = this.iterations;
    const call: NativeStepCall = {
      states: work.map((w) => w.slot.state),
      params: params.map((data) => ({ data, dtype: "f32" })),
      grads: work.map((w) => ({ data: w.grads, dtype: "f32" })),
      hyper: work.map(({ slot }) =>
        checkHyper(
          {
            lr: learningRateAt(slot.settings.learningRate ?? o.learningRate, iteration, `learningRate of '${slot.name}'`),
            beta1: o.beta1,
            beta2: o.beta2,
            eps: o.epsilon,
            weightDecay: slot.settings.weightDecay ?? o.weightDecay,
            alpha: slot.kind === "microadam" ? o.microAdam?.alpha : 0,
          },
          `the step of '${slot.name}'`,
        ),
      ),
      policy: policyCode(o.nonFinite),
    };
    const kinds = new Set(work.map((w) => w.slot.kind));
    const native = kinds.size === 2 ? mixedNative : kinds.has("microadam") ? microAdamNative : adamWNative;
    return { native, call };
  }

  private skipStep(): void {
    if (++this.skippedSteps === 1) warnFirstSkippedStep(this.getClassName(), this.iterations + 1);
    this.incrementIterations();
  }

  /**
   * The iteration count, then one int32 tensor per variable holding its complete native state as
   * a checkpoint (lib/tfjs/state-weights.ts), named '<variable>/microadam' or '<variable>/adamw'. The tensors
   * are new: dispose them when done.
   */
  override async getWeights(): Promise<NamedWeight[]> {
    this.checkNotDisposed();
    const weights: NamedWeight[] = [await this.saveIterations()];
    for (const v of this.variableStates())
      weights.push({
        name: `${v.variableName}${WEIGHT_SUFFIX[v.kind]}`,
        tensor: tf.tensor1d(encodeState(v.kind, v.state, `the state of '${v.variableName}'`), "int32"),
      });
    return weights;
  }

  /**
   * Replaces every state with the ones getWeights saved (checked first; on error nothing
   * changes). A restored state goes to the variable of its saved name; states whose name no
   * variable has are claimed in order by the variables that get a gradient without having a
   * state, as tfjs's own optimizers restore by position (a model rebuilt in the same process gets
   * new variable names). Sizes and layouts are checked when a variable claims a state.
   */
  override async setWeights(weightValues: NamedWeight[]): Promise<void> {
    this.checkNotDisposed();
    if (!Array.isArray(weightValues) || weightValues.length === 0)
      throw typeError("weightValues", "an array starting with the 'iter' weight (from getWeights)", weightValues);
    weightValues.forEach((w, i) => {
      const weight = requireObject(w, `weightValues[${i}]`);
      if (typeof weight.name !== "string") throw typeError(`weightValues[${i}].name`, "a string", weight.name);
      if (!(weight.tensor instanceof tf.Tensor)) throw typeError(`weightValues[${i}].tensor`, "a tf.Tensor", weight.tensor);
    });
    const iterations = (await weightValues[0].tensor.data())[0];
    if (!Number.isInteger(iterations) || iterations < 0)
      throw rangeError("weightValues[0] (iterations)", "an integer ≥ 0", iterations);
    const decoded: { savedName: string; decoded: DecodedState; where: string }[] = [];
    for (let i = 1; i < weightValues.length; i++) {
      const { name, tensor } = weightValues[i];
      if (tensor.dtype !== "int32") throw typeError(`weightValues[${i}] ('${name}')`, "an int32 tensor (from getWeights)", tensor.dtype);
      const where = `weightValues[${i}] ('${name}')`;
      const state = decodeState((await tensor.data()) as Int32Array, where);
      const suffix = WEIGHT_SUFFIX[state.kind];
      decoded.push({ savedName: name.endsWith(suffix) ? name.slice(0, -suffix.length) : name, decoded: state, where });
      this.checkLayout(state, where);
    }
    const created: PendingSlot[] = [];
    try {
      for (const { savedName, decoded: d, where } of decoded) created.push({ savedName, decoded: d, state: createDecodedState(d, where) });
    } catch (error) {
      created.forEach((p) => p.state.dispose());
      throw error;
    }
    this.disposeStates();
    this.pending = created;
    this.iterations_ = iterations;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return optionsToConfig(this.options);
  }

  /** Frees every native state. The optimizer cannot step afterwards. */
  override dispose(): void {
    this.disposeStates();
    this.disposedFlag = true;
    super.dispose();
  }

  private disposeStates(): void {
    for (const v of this.variableStates()) v.state.dispose();
    this.slots.length = 0;
    this.slotByName.clear();
    this.pending = [];
  }

  private checkNotDisposed(): void {
    if (this.disposedFlag) {
      throw withCode(new Error(`This ${this.getClassName()} was disposed`), "ERR_MICROADAM_STATE");
    }
  }

  private settingsOf(variable: tf.Variable): VariableSettings {
    return this.slotByName.get(variable.name)?.settings ?? settingsFor(this.options.overrides, variable);
  }

  /** A restored MicroAdam state must have this optimizer's layout. */
  private checkLayout(decoded: DecodedState, name: string): void {
    const own = this.options.microAdam;
    if (decoded.kind !== "microadam") return;
    if (own === null) throw rangeError(name, "an AdamW state (this is an AdamWOptimizer)", "a MicroAdam state");
    for (const key of ["window", "density", "topkBlockSize", "quantBlockSize"] as const)
      if (decoded.layout[key] !== own[key])
        throw rangeError(`${name} ${key}`, `${own[key]} (this optimizer's ${key})`, decoded.layout[key]);
  }

  /**
   * The state of each variable: its own, else a restored one (by name, then in order), else a new
   * one. Everything is checked before any state is claimed or created.
   */
  private slotsFor(variables: tf.Variable[]): Slot[] {
    type Plan = { own: Slot } | { restored: PendingSlot } | { fresh: true };
    const plan: Plan[] = variables.map((v) => {
      const own = this.slotByName.get(v.name);
      return own !== undefined ? { own } : { fresh: true };
    });
    const unclaimed = [...this.pending];
    const claim = (i: number, p: PendingSlot) => {
      plan[i] = { restored: p };
      unclaimed.splice(unclaimed.indexOf(p), 1);
    };
    variables.forEach((v, i) => {
      const byName = unclaimed.find((p) => p.savedName === v.name);
      if ("fresh" in plan[i] && byName !== undefined) claim(i, byName);
    });
    variables.forEach((_, i) => {
      if ("fresh" in plan[i] && unclaimed.length > 0) claim(i, unclaimed[0]);
    });

    const settings = variables.map((v, i) => {
      const p = plan[i];
      return "own" in p ? p.own.settings : settingsFor(this.options.overrides, v);
    });
    variables.forEach((v, i) => {
      const p = plan[i];
      if (!("restored" in p)) return;
      const name = `the restored state '${p.restored.savedName}' claimed by variable '${v.name}'`;
      const { numel, kind } = p.restored.decoded;
      if (numel !== v.size) throw rangeError(name, `a state of ${v.size} elements (the variable's size)`, numel);
      const expected = this.kindFor(v, settings[i]);
      if (kind !== expected) throw rangeError(name, `a ${expected} state (as this optimizer routes the variable)`, kind);
    });

    return variables.map((v, i) => {
      const p = plan[i];
      if ("own" in p) return p.own;
      let slot: Slot;
      if ("restored" in p) {
        slot = { name: v.name, kind: p.restored.decoded.kind, state: p.restored.state, settings: settings[i] };
        this.pending = this.pending.filter((q) => q !== p.restored);
      } else {
        const kind = this.kindFor(v, settings[i]);
        slot = { name: v.name, kind, state: this.createState(kind, v.size), settings: settings[i] };
      }
      this.slots.push(slot);
      this.slotByName.set(v.name, slot);
      return slot;
    });
  }

  private createState(kind: StateKind, numel: number): MicroAdamState | AdamWState {
    if (kind === "adamw") return createAdamWState({ numel });
    const m = this.options.microAdam!;
    return createMicroAdamState({ numel, window: m.window, density: m.density, topkBlockSize: m.topkBlockSize, quantBlockSize: m.quantBlockSize });
  }
}

function requireMap(value: unknown): tf.NamedTensorMap {
  if (typeof value !== "object" || value === null)
    throw typeError("variableGradients", "a map of variable names to gradients, or an array of { name, tensor }", value);
  return value as tf.NamedTensorMap;
}

/** The registered float32 variable `name`, with a float32 gradient of its shape. */
function checkPair(name: string, tensor: tf.Tensor, i: number): tf.Variable {
  const variable = tf.engine().registeredVariables[name];
  if (variable === undefined) throw rangeError(`variableGradients ('${name}')`, "the name of a registered tf.Variable", name);
  if (variable.dtype !== "float32") throw typeError(`variable '${name}'`, "a float32 variable", variable.dtype);
  if (!(tensor instanceof tf.Tensor)) throw typeError(`the gradient of '${name}' (entry ${i})`, "a tf.Tensor", tensor);
  if (tensor.dtype !== "float32") throw typeError(`the gradient of '${name}'`, "a float32 tensor", tensor.dtype);
  if (tensor.size !== variable.size)
    throw rangeError(`the gradient of '${name}'`, `a tensor of ${variable.size} elements (the variable's size)`, tensor.size);
  return variable;
}
