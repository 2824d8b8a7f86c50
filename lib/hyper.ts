// Step hyperparameters: defaults, checks, and the packed form the native step takes. The field
// order and the policy codes are csrc/core/call_format.h's (test/call-format.test.ts compares).
import type { MicroAdamStepOptions, NonFinitePolicy } from "./types";
import { rejectUnknownKeys, requireNumberIn, requireObject, requireOneOf } from "./validate";

export const STEP_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, alpha: 0 } as const;
export const HYPER_FIELDS = ["lr", "beta1", "beta2", "eps", "weightDecay", "alpha"] as const;
/** AdamW has every hyperparameter of MicroAdam but alpha. */
export const ADAMW_HYPER_FIELDS = ["lr", "beta1", "beta2", "eps", "weightDecay"] as const;
export const NON_FINITE_POLICIES = ["skip", "error", "ignore"] as const;
const POLICY_CODE: Readonly<Record<NonFinitePolicy, number>> = { skip: 0, error: 1, ignore: 2 };
const STEP_OPTION_KEYS = [...HYPER_FIELDS, "nonFinite"] as const;

export interface ResolvedHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  alpha: number;
}

/** Checks one set of hyperparameters (docs/algorithm.md, "Configuration"). */
export function checkHyper(h: Record<string, unknown>, name: string): ResolvedHyper {
  return {
    lr: requireNumberIn(h.lr, `${name}.lr`, 0, Infinity, { upperOpen: true }),
    beta1: requireNumberIn(h.beta1 ?? STEP_DEFAULTS.beta1, `${name}.beta1`, 0, 1, { upperOpen: true }),
    beta2: requireNumberIn(h.beta2 ?? STEP_DEFAULTS.beta2, `${name}.beta2`, 0, 1, { upperOpen: true }),
    eps: requireNumberIn(h.eps ?? STEP_DEFAULTS.eps, `${name}.eps`, 0, Infinity, { lowerOpen: true, upperOpen: true }),
    weightDecay: requireNumberIn(h.weightDecay ?? STEP_DEFAULTS.weightDecay, `${name}.weightDecay`, 0, Infinity, {
      upperOpen: true,
    }),
    alpha: requireNumberIn(h.alpha ?? STEP_DEFAULTS.alpha, `${name}.alpha`, 0, 1, { upperOpen: true }),
  };
}

export function resolveStepOptions(
  options: unknown,
  name = "options",
  keys: readonly string[] = STEP_OPTION_KEYS,
): { hyper: ResolvedHyper; policy: number } {
  const o = requireObject(options, name);
  rejectUnknownKeys(o, name, keys);
  const hyper = checkHyper(o, name);
  const policy = requireOneOf(o.nonFinite ?? "skip", `${name}.nonFinite`, NON_FINITE_POLICIES);
  return { hyper, policy: POLICY_CODE[policy] };
}

export function policyCode(policy: NonFinitePolicy): number {
  return POLICY_CODE[policy];
}

/** Packs per-tensor hyperparameters in the native order (lr, beta1, beta2, eps, weightDecay, alpha). */
export function packHyper(list: readonly ResolvedHyper[]): Float64Array {
  const packed = new Float64Array(list.length * HYPER_FIELDS.length);
  list.forEach((h, i) => writeHyper(packed, i, h));
  return packed;
}

/** Writes tensor i's hyperparameters into a packed array, in HYPER_FIELDS' order. */
export function writeHyper(packed: Float64Array, i: number, h: ResolvedHyper): void {
  const at = i * HYPER_FIELDS.length;
  packed[at] = h.lr;
  packed[at + 1] = h.beta1;
  packed[at + 2] = h.beta2;
  packed[at + 3] = h.eps;
  packed[at + 4] = h.weightDecay;
  packed[at + 5] = h.alpha;
}

export type { MicroAdamStepOptions };
