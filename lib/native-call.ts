// One native step call, shared by MicroAdam and AdamW: checked tensors and hyperparameters
// packed the way csrc/napi/step_batch.h reads them.
import type { NativeStepArgs, NativeStepReport } from "./binding";
import { packHyper, type ResolvedHyper } from "./hyper";
import { DTYPE_CODE, normalizeTensor, type NormalizedTensor } from "./tensor";
import type { Tensor } from "./types";
import { rangeError, renameArgument, typeError } from "./validate";

/** What a batched call needs of a state object. */
export interface SteppableState {
  readonly numel: number;
  readonly disposed: boolean;
  /** @internal */
  readonly native: object;
}

/** The binding's pair of step functions for one optimizer. */
export interface NativeStepFunctions {
  step(...args: NativeStepArgs): NativeStepReport;
  stepAsync(...args: NativeStepArgs): Promise<NativeStepReport>;
}

export interface NativeStepCall {
  states: SteppableState[];
  params: NormalizedTensor[];
  grads: NormalizedTensor[];
  hyper: ResolvedHyper[];
  policy: number;
  /** What errors call each params tensor (the native layer says params[i]). */
  paramNames?: string[];
}

/** `state` is a real state of its class (`isState`, a brand check) and not disposed. */
export function checkState<S extends SteppableState>(
  state: unknown,
  name: string,
  isState: (value: unknown) => value is S,
  expected: string,
): S {
  if (!isState(state)) throw typeError(name, expected, state);
  if (state.disposed) {
    const e = new Error(`${name} was disposed`);
    (e as Error & { code: string }).code = "ERR_MICROADAM_STATE";
    throw e;
  }
  return state;
}

export function checkTensorPair(
  state: SteppableState,
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

function nativeArgs(call: NativeStepCall): NativeStepArgs {
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
  ];
}

export function runStep(fns: NativeStepFunctions, call: NativeStepCall): NativeStepReport {
  return fns.step(...nativeArgs(call));
}

/**
 * The step on native copies of params and grads, off the event loop (docs/reliability.md, "Async
 * steps and buffer lifetime"). Rejects with ERR_MICROADAM_DETACHED, params and states unchanged,
 * if a params array was detached or resized before the step settled.
 */
export async function runStepAsync(fns: NativeStepFunctions, call: NativeStepCall): Promise<NativeStepReport> {
  try {
    return await fns.stepAsync(...nativeArgs(call));
  } catch (error) {
    throw nameParams(error, call.paramNames);
  }
}

/** ERR_MICROADAM_DETACHED names params[i]; the caller's name for the tensor is clearer. */
function nameParams(error: unknown, names: string[] | undefined): unknown {
  if ((error as { code?: unknown } | null)?.code !== "ERR_MICROADAM_DETACHED" || names === undefined) return error;
  const index = /^Expected params\[(\d+)\]/.exec((error as Error).message)?.[1];
  const name = index === undefined ? undefined : names[Number(index)];
  return name === undefined ? error : renameArgument(error, `params[${index}]`, name);
}
