// microAdamStep / microAdamStepAsync: one tensor, one state. MicroAdam (optimizer.ts) batches
// many tensors into the same native call.
import { binding, type NativeStepReport } from "./binding";
import { packHyper, resolveStepOptions, type ResolvedHyper } from "./hyper";
import { MicroAdamState } from "./state";
import { DTYPE_CODE, normalizeTensor, type NormalizedTensor } from "./tensor";
import type { MicroAdamStepOptions, StepResult, Tensor } from "./types";
import { rangeError, typeError } from "./validate";

/** The arguments of one native step call, checked. */
export interface NativeStepCall {
  states: MicroAdamState[];
  params: NormalizedTensor[];
  grads: NormalizedTensor[];
  hyper: ResolvedHyper[];
  policy: number;
}

export function checkStateUsable(state: unknown, name: string): MicroAdamState {
  if (!(state instanceof MicroAdamState)) throw typeError(name, "a MicroAdamState (from createMicroAdamState)", state);
  if (state.disposed) {
    const e = new Error(`${name} was disposed`);
    (e as Error & { code: string }).code = "ERR_MICROADAM_STATE";
    throw e;
  }
  return state;
}

export function checkTensorPair(
  state: MicroAdamState,
  params: Tensor,
  grads: Tensor,
  paramsName: string,
  gradsName: string,
): { params: NormalizedTensor; grads: NormalizedTensor } {
  const p = normalizeTensor(params, paramsName);
  const g = normalizeTensor(grads, gradsName);
  if (p.data.length !== state.numel)
    throw rangeError(paramsName, `a tensor of ${state.numel} elements (the state's numel)`, p.data);
  if (g.data.length !== state.numel)
    throw rangeError(gradsName, `a tensor of ${state.numel} elements (the state's numel)`, g.data);
  return { params: p, grads: g };
}

function nativeArgs(call: NativeStepCall) {
  const dtypes = new Uint8Array(call.states.length * 2);
  call.params.forEach((p, i) => {
    dtypes[2 * i] = DTYPE_CODE[p.dtype];
    dtypes[2 * i + 1] = DTYPE_CODE[call.grads[i].dtype];
  });
  return [
    call.states.map((s) => s.native),
    call.params.map((p) => p.data),
    call.grads.map((g) => g.data),
    dtypes,
    packHyper(call.hyper),
    call.policy,
  ] as const;
}

export function runStep(call: NativeStepCall): NativeStepReport {
  return binding.step(...nativeArgs(call));
}

export function runStepAsync(call: NativeStepCall): Promise<NativeStepReport> {
  return binding.stepAsync(...nativeArgs(call));
}

function singleCall(state: unknown, params: Tensor, grads: Tensor, options: unknown): NativeStepCall {
  const s = checkStateUsable(state, "state");
  const pair = checkTensorPair(s, params, grads, "params", "grads");
  const { hyper, policy } = resolveStepOptions(options);
  return { states: [s], params: [pair.params], grads: [pair.grads], hyper: [hyper], policy };
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
  const call = singleCall(state, params, grads, options);
  const { skipped, steps } = runStep(call);
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
  const call = singleCall(state, params, grads, options);
  const { skipped, steps } = await runStepAsync(call);
  return { step: steps[0], skipped };
}
