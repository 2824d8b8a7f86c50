// Options of the tfjs optimizers: checks, defaults, per-variable overrides, and their saved form
// (getConfig/fromConfig).
import type * as tf from "@tensorflow/tfjs";
import { NON_FINITE_POLICIES, STEP_DEFAULTS } from "../hyper";
import { DEFAULT_DENSE_BELOW } from "../optimizer";
import { resolveStateConfig, STATE_DEFAULTS } from "../state";
import type { NonFinitePolicy } from "../types";
import { isPlainObject, rejectUnknownKeys, requireInteger, requireNumberIn, requireObject, requireOneOf, typeError, withCode } from "../validate";
import { checkLearningRate, learningRateFromConfig, learningRateToConfig, type LearningRate } from "./schedule";
import type { StateKind } from "./state-weights";

/** Which variables an override applies to: an exact name, a RegExp tested on the name, or a predicate. */
export type VariableMatcher = string | RegExp | ((variable: tf.Variable) => boolean);

/**
 * Settings for some variables. Every override whose `match` accepts a variable applies, in
 * order; a later one's fields replace an earlier one's.
 */
export interface VariableOverride {
  match: VariableMatcher;
  /** The learning rate (or schedule) of these variables instead of the optimizer's. */
  learningRate?: LearningRate;
  /** Decoupled weight decay of these variables; 0 excludes them from decay. */
  weightDecay?: number;
  /** MicroAdamOptimizer only: step these variables with MicroAdam or with the native AdamW. */
  optimizer?: StateKind;
}

/** Options of AdamWOptimizer (and the part MicroAdamOptimizer shares). */
export interface AdamWOptimizerOptions {
  /** A number, or a schedule: a function of the step about to be taken (from 0). */
  learningRate: LearningRate;
  beta1?: number;
  beta2?: number;
  /** Default 1e-8 (as PyTorch; tfjs's own Adam takes the backend's epsilon, 1e-7). */
  epsilon?: number;
  /** Decoupled (AdamW) weight decay. Default 0. */
  weightDecay?: number;
  /** What a NaN/Inf gradient does: 'skip' the whole step (default), throw ('error'), or 'ignore'. */
  nonFinite?: NonFinitePolicy;
  overrides?: VariableOverride[];
}

/** Options of MicroAdamOptimizer: the algorithm's layout (docs/algorithm.md) and denseBelow. */
export interface MicroAdamOptimizerOptions extends AdamWOptimizerOptions {
  /** The paper's error injection α. Default 0. */
  alpha?: number;
  /** m, the sparse gradients kept. Default 10. */
  window?: number;
  /** δ, the fraction of each Top-K block kept per step. Default 0.01. */
  density?: number;
  topkBlockSize?: number;
  quantBlockSize?: number;
  /**
   * Variables with fewer elements than this are stepped by the native AdamW (8 bytes per
   * element) instead of MicroAdam. Default 4096 ({@link DEFAULT_DENSE_BELOW}): biases and small
   * layers train as with Adam, as bitsandbytes keeps tensors under 4096 elements in 32 bits;
   * 0 steps every variable with MicroAdam, as in the paper.
   */
  denseBelow?: number;
}

/** Options after checks and defaults. */
export interface ResolvedOptions {
  learningRate: LearningRate;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  nonFinite: NonFinitePolicy;
  overrides: VariableOverride[];
  /** null for AdamWOptimizer. */
  microAdam: {
    alpha: number;
    window: number;
    density: number;
    topkBlockSize: number;
    quantBlockSize: number;
    denseBelow: number;
  } | null;
}

// The default `denseBelow` of MicroAdamOptimizer is MicroAdam's: variables with fewer elements use
// the native AdamW. A tiny model trained with MicroAdam everywhere lags Adam by far (docs/tfjs.md,
// "denseBelow").
export { DEFAULT_DENSE_BELOW };

const SHARED_KEYS = ["learningRate", "beta1", "beta2", "epsilon", "weightDecay", "nonFinite", "overrides"] as const;
const MICROADAM_KEYS = ["alpha", "window", "density", "topkBlockSize", "quantBlockSize", "denseBelow"] as const;
const OVERRIDE_KEYS = ["match", "learningRate", "weightDecay", "optimizer"] as const;
const KINDS = ["microadam", "adamw"] as const;

/** A RegExp, from this realm or another (jest, vm). */
function isRegExp(value: unknown): value is RegExp {
  return Object.prototype.toString.call(value) === "[object RegExp]";
}

function checkWeightDecay(value: unknown, name: string): number {
  return requireNumberIn(value, name, 0, Infinity, { upperOpen: true });
}

function checkOverride(value: unknown, name: string, withMicroAdam: boolean): VariableOverride {
  const o = requireObject(value, name);
  rejectUnknownKeys(o, name, withMicroAdam ? OVERRIDE_KEYS : OVERRIDE_KEYS.filter((k) => k !== "optimizer"));
  const match = o.match;
  if (!(typeof match === "string" || isRegExp(match) || typeof match === "function"))
    throw typeError(`${name}.match`, "a variable name, a RegExp or a function (variable) => boolean", match);
  const override: VariableOverride = { match: match as VariableMatcher };
  if (o.learningRate !== undefined) override.learningRate = checkLearningRate(o.learningRate, `${name}.learningRate`);
  if (o.weightDecay !== undefined) override.weightDecay = checkWeightDecay(o.weightDecay, `${name}.weightDecay`);
  if (o.optimizer !== undefined) override.optimizer = requireOneOf(o.optimizer, `${name}.optimizer`, KINDS);
  return override;
}

/** Checks the options of MicroAdamOptimizer (withMicroAdam) or AdamWOptimizer. */
export function resolveOptions(options: unknown, withMicroAdam: boolean): ResolvedOptions {
  const o = requireObject(options, "options");
  rejectUnknownKeys(o, "options", withMicroAdam ? [...SHARED_KEYS, ...MICROADAM_KEYS] : SHARED_KEYS);
  if (o.learningRate === undefined) throw typeError("options.learningRate", "a number or a schedule function", undefined);
  const overrides = o.overrides ?? [];
  if (!Array.isArray(overrides)) throw typeError("options.overrides", "an array of overrides", overrides);
  let microAdam: ResolvedOptions["microAdam"] = null;
  if (withMicroAdam) {
    // The layout checks are the engine's own (numel is a placeholder here).
    const layout = resolveStateConfig(
      {
        numel: 1,
        window: o.window ?? STATE_DEFAULTS.window,
        density: o.density ?? STATE_DEFAULTS.density,
        topkBlockSize: o.topkBlockSize ?? STATE_DEFAULTS.topkBlockSize,
        quantBlockSize: o.quantBlockSize ?? STATE_DEFAULTS.quantBlockSize,
      },
      "options",
    );
    microAdam = {
      alpha: requireNumberIn(o.alpha ?? STEP_DEFAULTS.alpha, "options.alpha", 0, 1, { upperOpen: true }),
      window: layout.window,
      density: layout.density,
      topkBlockSize: layout.topkBlockSize,
      quantBlockSize: layout.quantBlockSize,
      denseBelow: requireInteger(o.denseBelow ?? DEFAULT_DENSE_BELOW, "options.denseBelow", 0, Number.MAX_SAFE_INTEGER),
    };
  }
  return {
    learningRate: checkLearningRate(o.learningRate, "options.learningRate"),
    beta1: requireNumberIn(o.beta1 ?? STEP_DEFAULTS.beta1, "options.beta1", 0, 1, { upperOpen: true }),
    beta2: requireNumberIn(o.beta2 ?? STEP_DEFAULTS.beta2, "options.beta2", 0, 1, { upperOpen: true }),
    epsilon: requireNumberIn(o.epsilon ?? STEP_DEFAULTS.eps, "options.epsilon", 0, Infinity, { lowerOpen: true, upperOpen: true }),
    weightDecay: checkWeightDecay(o.weightDecay ?? STEP_DEFAULTS.weightDecay, "options.weightDecay"),
    nonFinite: requireOneOf(o.nonFinite ?? "skip", "options.nonFinite", NON_FINITE_POLICIES),
    overrides: overrides.map((v, i) => checkOverride(v, `options.overrides[${i}]`, withMicroAdam)),
    microAdam,
  };
}

export { checkWeightDecay };

function matches(matcher: VariableMatcher, variable: tf.Variable): boolean {
  if (typeof matcher === "string") return matcher === variable.name;
  if (isRegExp(matcher)) {
    matcher.lastIndex = 0; // a /g or /y RegExp would otherwise remember the last match
    return matcher.test(variable.name);
  }
  return matcher(variable) === true;
}

/** What the overrides say about one variable (undefined: the optimizer's own setting). */
export interface VariableSettings {
  learningRate?: LearningRate;
  weightDecay?: number;
  optimizer?: StateKind;
}

export function settingsFor(overrides: readonly VariableOverride[], variable: tf.Variable): VariableSettings {
  const settings: VariableSettings = {};
  for (const o of overrides)
    if (matches(o.match, variable)) {
      if (o.learningRate !== undefined) settings.learningRate = o.learningRate;
      if (o.weightDecay !== undefined) settings.weightDecay = o.weightDecay;
      if (o.optimizer !== undefined) settings.optimizer = o.optimizer;
    }
  return settings;
}

// tfjs-layers camel-cases every string of a saved optimizer config when a model is loaded
// (convertPythonicToTs: 'dense_Dense1/kernel' becomes 'denseDense1/kernel'), so the strings that
// must survive (variable names, patterns) are saved with '_' and '%' percent-encoded.
function encodeString(s: string): string {
  return s.replace(/%/g, "%25").replace(/_/g, "%5F");
}

function decodeString(s: string): string {
  return s.replace(/%(25|5F)/g, (_, hex: string) => (hex === "25" ? "%" : "_"));
}

function notSerializable(name: string): TypeError {
  return withCode(new TypeError(`${name} is a function, which getConfig cannot save: use a variable name or a RegExp`), "ERR_MICROADAM_NOT_SERIALIZABLE");
}

/** The options as a tfjs ConfigDict (every value a number, string, null or nested dict/array). */
export function optionsToConfig(o: ResolvedOptions): tf.serialization.ConfigDict {
  const overrides = o.overrides.map((v, i) => {
    const name = `overrides[${i}]`;
    let match: tf.serialization.ConfigDict;
    if (typeof v.match === "string") match = { variableName: encodeString(v.match) };
    else if (isRegExp(v.match)) match = { pattern: encodeString(v.match.source), flags: v.match.flags };
    else throw notSerializable(`${name}.match`);
    const entry: tf.serialization.ConfigDict = { match };
    if (v.learningRate !== undefined) entry.learningRate = learningRateToConfig(v.learningRate, `${name}.learningRate`);
    if (v.weightDecay !== undefined) entry.weightDecay = v.weightDecay;
    if (v.optimizer !== undefined) entry.optimizer = v.optimizer;
    return entry;
  });
  const config: tf.serialization.ConfigDict = {
    learningRate: learningRateToConfig(o.learningRate, "learningRate"),
    beta1: o.beta1,
    beta2: o.beta2,
    epsilon: o.epsilon,
    weightDecay: o.weightDecay,
    nonFinite: o.nonFinite,
    overrides,
  };
  if (o.microAdam !== null) Object.assign(config, o.microAdam);
  return config;
}

/** The options a config from optionsToConfig describes. */
export function optionsFromConfig(config: tf.serialization.ConfigDict): Record<string, unknown> {
  // tfjs-layers adds its customObjects to the config it hands fromConfig.
  const { customObjects: _customObjects, ...c } = requireObject(config, "config");
  const options: Record<string, unknown> = { ...c, learningRate: learningRateFromConfig(c.learningRate, "config.learningRate") };
  if (c.overrides !== undefined) {
    if (!Array.isArray(c.overrides)) throw typeError("config.overrides", "an array", c.overrides);
    options.overrides = c.overrides.map((entry, i) => {
      const name = `config.overrides[${i}]`;
      const e = requireObject(entry, name);
      const m = requireObject(e.match, `${name}.match`);
      let match: VariableMatcher;
      if (typeof m.variableName === "string") match = decodeString(m.variableName);
      else if (typeof m.pattern === "string" && typeof m.flags === "string") match = new RegExp(decodeString(m.pattern), m.flags);
      else throw typeError(`${name}.match`, "{ variableName } or { pattern, flags }", m);
      const override: Record<string, unknown> = { ...e, match };
      if (isPlainObject(e.learningRate) || typeof e.learningRate === "number")
        override.learningRate = learningRateFromConfig(e.learningRate, `${name}.learningRate`);
      return override;
    });
  }
  return options;
}
