// microAdamStep / microAdamStepAsync: one tensor, one state. MicroAdam (optimizer.ts) batches
// many tensors into the same native call.
import { binding } from "./binding";
import { resolveStepOptions } from "./hyper";
import { checkState, checkTensorPair, runStep, runStepAsync, type NativeStepCall, type NativeStepFunctions } from "./native-call";
import { isMicroAdamState, type MicroAdamState } from "./state";
import type { MicroAdamStepOptions, StepResult, Tensor } from "./types";

export const microAdamNative: NativeStepFunctions = {
  step: (...args) => binding.step(...args),
  stepAsync: (...args) => binding.stepAsync(...args),
};

export function checkMicroAdamState(state: unknown, name: string): MicroAdamState {
  return checkState(state, name, isMicroAdamState, "a MicroAdamState (from createMicroAdamState)");
}

function singleCall(state: unknown, params: Tensor, grads: Tensor, options: unknown): NativeStepCall {
  const s = checkMicroAdamState(state, "state");
  const pair = checkTensorPair(s, params, grads, "params", "grads");
  const { hyper, policy } = resolveStepOptions(options);
  return { states: [s], params: [pair.params], grads: [pair.grads], hyper: [hyper], policy, paramNames: ["params"] };
}

/**
 * One MicroAdam step on `params` (updated in place) from `grads` (read only).
 * Throws TypeError/RangeError on bad input before anything changes.
 */
export function microAdamStep(
  state: MicroAdamState,
  params: Tensor,
  grads: Tensor,
  options: MicroAdamStepOptions,
): StepResult {
  const { skipped, steps } = runStep(microAdamNative, singleCall(state, params, grads, options));
  return { step: steps[0], skipped };
}

/**
 * The same step off the event loop. Do not touch `params` or `grads` until it settles; a second
 * call on the same state while this one runs is rejected.
 */
export async function microAdamStepAsync(
  state: MicroAdamState,
  params: Tensor,
  grads: Tensor,
  options: MicroAdamStepOptions,
): Promise<StepResult> {
  const { skipped, steps } = await runStepAsync(microAdamNative, singleCall(state, params, grads, options));
  return { step: steps[0], skipped };
}
