// One native step call, shared by MicroAdam and AdamW: tensors and hyperparameters packed in the
// call format of csrc/core/call_format.h. The batch as a whole (one device, sizes, distinct
// states, shared memory) is validated once, by the core's entry (csrc/core/step_entry.h); the
// checks here convert arguments and name them as the caller wrote them.
import type { NativeStepArgs, NativeStepReport } from "./binding";
import { packHyper, type ResolvedHyper } from "./hyper";
import { describeTensor, DTYPE_CODE, normalizedNumel, normalizeTensor, plainFloat32, type NormalizedTensor } from "./tensor";
import type { StepTensor } from "./types";
import { describe, renameArgument, typeError, withCode } from "./validate";

/** What a batched call needs of a state object. */
export interface SteppableState {
  readonly numel: number;
  readonly disposed: boolean;
  /** Where the state lives; absent: the CPU. */
  readonly device?: "cpu" | "cuda";
  /** The CUDA device of a CUDA state. */
  readonly deviceIndex?: number;
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
  /** CUDA states only: the cudaStream_t to enqueue on, and what errors call it. */
  stream?: bigint;
  streamName?: string;
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
    throw withCode(new Error(`${name} was disposed`), "ERR_MICROADAM_STATE");
  }
  return state;
}

export function checkTensorPair(
  state: SteppableState,
  params: StepTensor,
  grads: StepTensor,
  paramsName: string,
  gradsName: string,
): { params: NormalizedTensor; grads: NormalizedTensor } {
  const p = normalizeTensor(params, paramsName);
  const g = normalizeTensor(grads, gradsName);
  checkPlacement(state, p, paramsName);
  checkPlacement(state, g, gradsName);
  if (normalizedNumel(p) !== state.numel) throw tensorError(RangeError, paramsName, `a tensor of ${state.numel} elements (the state's numel)`, p);
  if (normalizedNumel(g) !== state.numel) throw tensorError(RangeError, gradsName, `a tensor of ${state.numel} elements (the state's numel)`, g);
  return { params: p, grads: g };
}

/**
 * True when checkTensorPair would accept `params` and `grads` as they are: two Float32Arrays of
 * the state's numel in memory a step takes (placement does not apply to host tensors). Allocates
 * nothing; for anything else the caller goes through checkTensorPair, which names the problem.
 */
export function isFloat32Pair(state: SteppableState, params: unknown, grads: unknown): boolean {
  const p = plainFloat32(params);
  const g = p === undefined ? undefined : plainFloat32(grads);
  if (g === undefined) return false;
  const numel = state.numel;
  return p!.length === numel && g.length === numel;
}

const HOST_TENSOR = "a host tensor (a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' }";

/** CPU states take host tensors only; a CUDA state also device memory, a DeviceArray from its own device. */
export function checkPlacement(state: SteppableState, t: NormalizedTensor, name: string): void {
  if (t.device !== "cuda") return;
  if (state.device !== "cuda") throw tensorError(TypeError, name, `${HOST_TENSOR}; the state lives on the CPU)`, t);
  const arrayDevice = "device" in t.data ? undefined : (t.data as { deviceIndex: number }).deviceIndex;
  if (arrayDevice !== undefined && arrayDevice !== state.deviceIndex)
    throw tensorError(RangeError, name, `a DeviceArray on CUDA device ${state.deviceIndex} (the state's device)`, t, ` on device ${arrayDevice}`);
}

function tensorError(type: typeof TypeError | typeof RangeError, name: string, expected: string, t: NormalizedTensor, more = ""): Error {
  return withCode(new type(`Expected ${expected} for ${name} but received ${describeTensor(t)}${more}`), type === TypeError ? "ERR_INVALID_ARG_TYPE" : "ERR_OUT_OF_RANGE");
}

/**
 * A stream is for CUDA states only. The core refuses it too (naming it `stream`); this names the
 * option the caller set. (One device per call is the core's rule alone.)
 */
export function checkStreamTarget(firstState: SteppableState | undefined, stream: bigint | undefined, streamName: string | undefined): void {
  if (stream !== undefined && firstState?.device !== "cuda") {
    throw withCode(new TypeError(`Expected no stream for ${streamName ?? "stream"} (a stream is for CUDA states; these states live on the CPU) but received ${describe(stream)}`), "ERR_INVALID_ARG_TYPE");
  }
}

/** A call in the call format, as the binding takes it; paramNames as in NativeStepCall. */
export interface PackedStepCall {
  args: NativeStepArgs;
  paramNames?: readonly string[];
}

/** The packed arguments: `states` to `stream` of NativeStepArgs, the stream only when there is one. */
export function stepArgs(
  states: object[],
  params: NativeStepArgs[1],
  grads: NativeStepArgs[2],
  dtypes: Uint8Array,
  hyper: Float64Array,
  policy: number,
  stream: bigint | undefined,
): NativeStepArgs {
  return stream === undefined ? [states, params, grads, dtypes, hyper, policy] : [states, params, grads, dtypes, hyper, policy, stream];
}

function packCall(call: NativeStepCall): PackedStepCall {
  checkStreamTarget(call.states[0], call.stream, call.streamName);
  const dtypes = new Uint8Array(call.states.length * 2);
  call.params.forEach((p, i) => {
    dtypes[2 * i] = DTYPE_CODE[p.dtype];
    dtypes[2 * i + 1] = DTYPE_CODE[call.grads[i].dtype];
  });
  const args = stepArgs(
    call.states.map((s) => s.native),
    call.params.map((p) => p.data),
    call.grads.map((g) => g.data),
    dtypes,
    packHyper(call.hyper),
    call.policy,
    call.stream,
  );
  return { args, paramNames: call.paramNames };
}

export function runStep(fns: NativeStepFunctions, call: NativeStepCall): NativeStepReport {
  return runPackedStep(fns, packCall(call));
}

/**
 * The step on native copies of params and grads, off the event loop (docs/reliability.md, "Async
 * steps and buffer lifetime"). Rejects with ERR_MICROADAM_DETACHED, params and states unchanged,
 * if a params array was detached or resized before the step settled.
 */
export async function runStepAsync(fns: NativeStepFunctions, call: NativeStepCall): Promise<NativeStepReport> {
  return runPackedStepAsync(fns, packCall(call));
}

export function runPackedStep(fns: NativeStepFunctions, call: PackedStepCall): NativeStepReport {
  return fns.step(...call.args);
}

/** runStepAsync of a packed call. */
export async function runPackedStepAsync(fns: NativeStepFunctions, call: PackedStepCall): Promise<NativeStepReport> {
  try {
    return await fns.stepAsync(...call.args);
  } catch (error) {
    throw nameParams(error, call.paramNames);
  }
}

/** ERR_MICROADAM_DETACHED names params[i]; the caller's name for the tensor is clearer. */
function nameParams(error: unknown, names: readonly string[] | undefined): unknown {
  if ((error as { code?: unknown } | null)?.code !== "ERR_MICROADAM_DETACHED" || names === undefined) return error;
  const index = /^Expected params\[(\d+)\]/.exec((error as Error).message)?.[1];
  const name = index === undefined ? undefined : names[Number(index)];
  return name === undefined ? error : renameArgument(error, `params[${index}]`, name);
}
