// Learning rates for the tfjs optimizers: a number, or a schedule (a function of the step about to
// be taken). Schedules made by warmupDecaySchedule carry their parameters, so getConfig can save them.
import { rangeError, rejectUnknownKeys, requireInteger, requireNumberIn, requireObject, requireOneOf, typeError, withCode } from "../validate";

/** The parameters of a warmupDecaySchedule. */
export interface WarmupDecayConfig {
  /** The learning rate at the end of the warmup. */
  peak: number;
  /** Steps of linear warmup from peak/warmupSteps to peak. Default 0. */
  warmupSteps?: number;
  /** Step at which the decay reaches `final`; later steps keep `final`. */
  totalSteps: number;
  /** Shape of the decay after the warmup. Default 'cosine'. */
  decay?: "cosine" | "linear" | "constant";
  /** The learning rate at totalSteps. Default 0. */
  final?: number;
}

/**
 * A learning rate as a function of the step about to be taken, counted from 0 (the optimizer's
 * `iterations` before the step). A `config` makes it serializable (warmupDecaySchedule sets it).
 */
export type LearningRateSchedule = ((iteration: number) => number) & { readonly config?: ScheduleConfig };

/** A fixed learning rate or a schedule. */
export type LearningRate = number | LearningRateSchedule;

/** The saved form of a schedule made by warmupDecaySchedule. */
export type ScheduleConfig = { type: "warmupDecay" } & Required<WarmupDecayConfig>;

const DECAYS = ["cosine", "linear", "constant"] as const;
const WARMUP_DECAY_KEYS = ["peak", "warmupSteps", "totalSteps", "decay", "final"] as const;

/**
 * Linear warmup to `peak` over `warmupSteps` steps (step t < warmupSteps gets peak·(t+1)/warmupSteps),
 * then a cosine or linear decay to `final` at `totalSteps` (or a constant `peak`).
 */
export function warmupDecaySchedule(options: WarmupDecayConfig): LearningRateSchedule {
  const o = requireObject(options, "options");
  rejectUnknownKeys(o, "options", WARMUP_DECAY_KEYS);
  const peak = requireNumberIn(o.peak, "options.peak", 0, Infinity, { upperOpen: true });
  const totalSteps = requireInteger(o.totalSteps, "options.totalSteps", 1, Number.MAX_SAFE_INTEGER);
  const warmupSteps = requireInteger(o.warmupSteps ?? 0, "options.warmupSteps", 0, totalSteps);
  const decay = requireOneOf(o.decay ?? "cosine", "options.decay", DECAYS);
  const final = requireNumberIn(o.final ?? 0, "options.final", 0, Infinity, { upperOpen: true });
  const config: ScheduleConfig = { type: "warmupDecay", peak, warmupSteps, totalSteps, decay, final };
  const schedule = (iteration: number): number => {
    if (iteration < warmupSteps) return (peak * (iteration + 1)) / warmupSteps;
    if (decay === "constant") return peak;
    const progress = Math.min(1, (iteration - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    return decay === "cosine"
      ? final + (peak - final) * 0.5 * (1 + Math.cos(Math.PI * progress))
      : peak + (final - peak) * progress;
  };
  return Object.assign(schedule, { config: Object.freeze(config) });
}

/** Checks a learning rate option: a number ≥ 0 or a function. */
export function checkLearningRate(value: unknown, name: string): LearningRate {
  if (typeof value === "function") return value as LearningRateSchedule;
  if (typeof value !== "number") throw typeError(name, "a number or a schedule function (iteration) => number", value);
  return requireNumberIn(value, name, 0, Infinity, { upperOpen: true });
}

/** The learning rate for the step `iteration`, checked (a schedule may return anything). */
export function learningRateAt(lr: LearningRate, iteration: number, name: string): number {
  if (typeof lr === "number") return lr;
  const value = lr(iteration);
  if (typeof value !== "number" || !(value >= 0) || value === Infinity)
    throw rangeError(`${name}(${iteration})`, "a finite number ≥ 0 from the schedule", value);
  return value;
}

/** The saved form of a learning rate; a schedule without a config cannot be saved. */
export function learningRateToConfig(lr: LearningRate, name: string): number | ScheduleConfig {
  if (typeof lr === "number") return lr;
  if (lr.config !== undefined) return { ...lr.config };
  throw withCode(new TypeError(
    `${name} is a schedule function, which getConfig cannot save: make it with warmupDecaySchedule(), ` +
      `or save a number and set the schedule again after fromConfig`,
  ), "ERR_MICROADAM_NOT_SERIALIZABLE");
}

/** Reads a learning rate written by learningRateToConfig. */
export function learningRateFromConfig(value: unknown, name: string): LearningRate {
  if (typeof value === "number") return checkLearningRate(value, name);
  const c = requireObject(value, name);
  if (c.type !== "warmupDecay") throw typeError(`${name}.type`, "'warmupDecay'", c.type);
  const { type: _type, ...options } = c;
  return warmupDecaySchedule(options as unknown as WarmupDecayConfig);
}
