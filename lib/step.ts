// microAdamStep / microAdamStepAsync: one tensor, one state. MicroAdam (optimizer.ts) batches
// many tensors into the same native call.
import { binding } from "./binding";
import { checkStream } from "./device-array";
import { HYPER_FIELDS, resolveStepOptions } from "./hyper";
import { checkState, checkTensorPair, runStep, runStepAsync, type NativeStepCall, type NativeStepFunctions } from "./native-call";
import { isMicroAdamState, type MicroAdamState } from "./state";
import type { MicroAdamStepOptions, StepResult, StepTensor } from "./types";

export const microAdamNative: NativeStepFunctions = {
  step: (...args) => binding.step(...args),
  stepAsync: (...args) => binding.stepAsync(...args),
};

/**
 * One call over MicroAdam states and native AdamW states together (a MicroAdam's, or a tfjs
 * MicroAdamOptimizer's, tensors under denseBelow): checked as a whole, one non-finite scan.
 */
export const mixedNative: NativeStepFunctions = {
  step: (...args) => binding.mixedStep(...args),
  stepAsync: (...args) => binding.mixedStepAsync(...args),
};

export function checkMicroAdamState(state: unknown, name: string): MicroAdamState {
  return checkState(state, name, isMicroAdamState, "a MicroAdamState (from createMicroAdamState)");
}

const STEP_KEYS = [...HYPER_FIELDS, "nonFinite", "stream"] as const;

function singleCall(state: unknown, params: StepTensor, grads: StepTensor, options: unknown): NativeStepCall {
  const s = checkMicroAdamState(state, "state");
  const pair = checkTensorPair(s, params, grads, "params", "grads");
  const { hyper, policy } = resolveStepOptions(options, "options", STEP_KEYS);
  const stream = checkStream((options as { stream?: unknown }).stream, "options.stream");
  return {
    states: [s],
    params: [pair.params],
    grads: [pair.grads],
    hyper: [hyper],
    policy,
    paramNames: ["params"],
    stream,
    streamName: "options.stream",
  };
}

/**
 * One MicroAdam step on `params` (updated in place) from `grads` (read only).
 * Throws TypeError/RangeError on bad input before anything changes.
 */
export function microAdamStep(
  state: MicroAdamState,
  params: StepTensor,
  grads: StepTensor,
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
  params: StepTensor,
  grads: StepTensor,
  options: MicroAdamStepOptions,
): Promise<StepResult> {
  const { skipped, steps } = await runStepAsync(microAdamNative, singleCall(state, params, grads, options));
  return { step: steps[0], skipped };
}
