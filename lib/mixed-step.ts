// One optimizer step over two kinds of state: MicroAdam's tensors and the small tensors its
// `denseBelow` gives the native AdamW. Each kind has its own native call, but the step must stay
// all or nothing, as one call is (docs/reliability.md): the AdamW call runs first, on copies
// kept of what it changes (its tensors are small: under denseBelow elements each), and if the
// MicroAdam call then skips or fails, those copies are put back. Nothing is kept when the
// optimizer has states of one kind only: that is the plain single call.
//
// What the core checks within one call, and cannot across two, is checked here first: no params
// memory of one call is read or written by the other. Native errors name tensors by their index
// in the call they come from; they are renamed to the index in the whole step.
import type { NativeStepArgs, NativeStepReport, NativeTensorData } from "./binding";
import { HYPER_FIELDS } from "./hyper";
import { nameParams, type NativeStepFunctions, type PackedStepCall, runPackedStep, runPackedStepAsync, stepArgs } from "./native-call";
import { withCode } from "./validate";

/** The params dtype and the grads dtype (csrc/core/call_format.h). */
const DTYPES_PER_TENSOR = 2;

/** The native functions of each kind, and which of a call's tensors are the AdamW ones. */
export interface MixedStepPlan {
  sparse: NativeStepFunctions;
  dense: NativeStepFunctions;
  /** Indices into the call, ascending: tensors stepped by AdamW, and the rest. */
  denseIndices: readonly number[];
  sparseIndices: readonly number[];
}

/** What a native AdamW state offers for the undo. */
interface DenseNative {
  readonly step: number;
  snapshot(): { step: number; expAvg: Float32Array; expAvgSq: Float32Array };
  restore(snapshot: { step: number; expAvg: Float32Array; expAvgSq: Float32Array }): void;
}

interface SubCall {
  call: PackedStepCall;
  indices: readonly number[];
}

/** The tensors `indices` of `call` as a call of their own. */
function subCall(call: PackedStepCall, indices: readonly number[]): SubCall {
  const [states, params, grads, dtypes, hyper, policy, stream] = call.args;
  const n = indices.length;
  const subDtypes = new Uint8Array(DTYPES_PER_TENSOR * n);
  const subHyper = new Float64Array(HYPER_FIELDS.length * n);
  const pick = <T>(list: T[]): T[] => indices.map((i) => list[i]);
  indices.forEach((i, k) => {
    subDtypes.set(dtypes.subarray(DTYPES_PER_TENSOR * i, DTYPES_PER_TENSOR * (i + 1)), DTYPES_PER_TENSOR * k);
    subHyper.set(hyper.subarray(HYPER_FIELDS.length * i, HYPER_FIELDS.length * (i + 1)), HYPER_FIELDS.length * k);
  });
  // No paramNames: errors get the whole step's indices first (renameIndices), then its names.
  return { call: { args: stepArgs(pick(states), pick(params), pick(grads), subDtypes, subHyper, policy, stream) }, indices };
}

/** states[k], params[k], grads[k] of a sub-call's error as the whole step's indices, then as its names. */
function renameIndices(error: unknown, indices: readonly number[], names: readonly string[] | undefined): unknown {
  const e = error as { message?: unknown } | null;
  if (typeof e === "object" && e !== null && typeof e.message === "string")
    e.message = e.message.replace(/\b(states|params|grads)\[(\d+)\]/g, (whole, what: string, k: string) =>
      Number(k) < indices.length ? `${what}[${indices[Number(k)]}]` : whole,
    );
  return nameParams(error, names);
}

interface ByteRange {
  buffer: ArrayBufferLike;
  begin: number;
  end: number;
  tensor: number;
}

function hostRange(data: NativeTensorData, tensor: number): ByteRange | undefined {
  if (!ArrayBuffer.isView(data)) return undefined; // device memory: a CUDA state's, never in a mixed step
  return { buffer: data.buffer, begin: data.byteOffset, end: data.byteOffset + data.byteLength, tensor };
}

/**
 * The core's rule across the two calls (csrc/core/batch_checks.h, checkNoSharedParams): params
 * memory written by a tensor of one call is neither read nor written by a tensor of the other.
 * Only buffers holding memory of both calls are compared.
 */
function checkNoSharedParamsAcross(args: NativeStepArgs, denseIndices: readonly number[], sparseIndices: readonly number[]): void {
  const [, params, grads] = args;
  const dense = new Map<ArrayBufferLike, { range: ByteRange; isParams: boolean }[]>();
  for (const i of denseIndices)
    for (const [data, isParams] of [[params[i], true], [grads[i], false]] as const) {
      const range = hostRange(data, i);
      if (range === undefined) continue;
      const list = dense.get(range.buffer);
      if (list === undefined) dense.set(range.buffer, [{ range, isParams }]);
      else list.push({ range, isParams });
    }
  for (const i of sparseIndices)
    for (const [data, isParams] of [[params[i], true], [grads[i], false]] as const) {
      const range = hostRange(data, i);
      const list = range === undefined ? undefined : dense.get(range.buffer);
      if (list === undefined) continue;
      for (const other of list) {
        if (!isParams && !other.isParams) continue;
        if (range!.begin >= other.range.end || other.range.begin >= range!.end) continue;
        const [p, o, oIsParams] = isParams ? [i, other.range.tensor, other.isParams] : [other.range.tensor, i, false];
        throw withCode(new RangeError(`params[${p}] shares memory with ${oIsParams ? "params" : "grads"}[${o}]`), "ERR_OUT_OF_RANGE");
      }
    }
}

/** Copies of what the AdamW call changes: each state's moments and step, each host params tensor. */
function backupDense(dense: SubCall): () => void {
  const [states, params] = dense.call.args;
  const snapshots = (states as unknown as DenseNative[]).map((s) => s.snapshot());
  const values = params.map((p) => (ArrayBuffer.isView(p) ? p.slice() : undefined));
  return () => {
    (states as unknown as DenseNative[]).forEach((s, k) => s.restore(snapshots[k]));
    params.forEach((p, k) => {
      const saved = values[k];
      // A params array the caller detached during an async step has nothing left to put back.
      if (saved !== undefined && ArrayBuffer.isView(p) && p.length === saved.length) (p as Float32Array).set(saved as Float32Array);
    });
  };
}

function report(args: NativeStepArgs, skipped: boolean): NativeStepReport {
  return { skipped, steps: (args[0] as { step: number }[]).map((s) => s.step) };
}

/**
 * A state busy with a step in flight is refused as one call refuses it (csrc/core/step_entry.h,
 * acquireAll), before the AdamW states are copied (a busy state cannot be).
 */
function checkNoneBusy(args: NativeStepArgs): void {
  (args[0] as { busy: boolean }[]).forEach((s, i) => {
    if (s.busy) throw withCode(new Error(`states[${i}] is busy: a step on it is in flight (await it before stepping again)`), "ERR_MICROADAM_STATE");
  });
}

function prepare(plan: MixedStepPlan, call: PackedStepCall): { dense: SubCall; sparse: SubCall } {
  checkNoneBusy(call.args);
  checkNoSharedParamsAcross(call.args, plan.denseIndices, plan.sparseIndices);
  return { dense: subCall(call, plan.denseIndices), sparse: subCall(call, plan.sparseIndices) };
}

/** The step of `call` as one all-or-nothing step over both kinds (see the top of this file). */
export function runMixedStep(plan: MixedStepPlan, call: PackedStepCall): NativeStepReport {
  if (plan.denseIndices.length === 0) return runPackedStep(plan.sparse, call);
  if (plan.sparseIndices.length === 0) return runPackedStep(plan.dense, call);
  const { dense, sparse } = prepare(plan, call);
  const undo = backupDense(dense);
  let skipped: boolean;
  try {
    skipped = runPackedStep(plan.dense, dense.call).skipped;
  } catch (error) {
    throw renameIndices(error, dense.indices, call.paramNames);
  }
  if (!skipped) {
    try {
      skipped = runPackedStep(plan.sparse, sparse.call).skipped;
    } catch (error) {
      undo();
      throw renameIndices(error, sparse.indices, call.paramNames);
    }
    if (skipped) undo();
  }
  return report(call.args, skipped);
}

/** What a native MicroAdam state offers to be held busy without a step (lib/binding.ts). */
interface HoldableNative {
  acquire(): void;
  release(): void;
}

/**
 * Holds the MicroAdam states busy, as a step in flight holds them, while the AdamW call runs
 * first: no other step, save or load may slip in between the two calls. Throws, holding none,
 * if one is busy.
 */
function holdSparse(sparse: SubCall): () => void {
  const natives = sparse.call.args[0] as unknown as HoldableNative[];
  let held = 0;
  try {
    for (; held < natives.length; held++) natives[held].acquire();
  } catch (error) {
    for (let k = 0; k < held; k++) natives[k].release();
    (error as Error).message = `states[${sparse.indices[held]}] is busy: a step on it is in flight (await it before stepping again)`;
    throw error;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const n of natives) {
      try {
        n.release();
      } catch {
        // Disposed meanwhile (MicroAdamState.dispose on it): nothing is left to release, and its
        // own call below reports it.
      }
    }
  };
}

/**
 * runMixedStep off the event loop: each native call runs on a worker, one after the other. The
 * MicroAdam states are held from the start (holdSparse) and handed over to their own call in the
 * same turn of the event loop; the AdamW states are held by their call, and if anything steps
 * them between the two calls, the undo puts back what this step kept.
 */
export async function runMixedStepAsync(plan: MixedStepPlan, call: PackedStepCall): Promise<NativeStepReport> {
  if (plan.denseIndices.length === 0) return runPackedStepAsync(plan.sparse, call);
  if (plan.sparseIndices.length === 0) return runPackedStepAsync(plan.dense, call);
  const { dense, sparse } = prepare(plan, call);
  const release = holdSparse(sparse);
  let skipped: boolean;
  let undo: () => void;
  try {
    undo = backupDense(dense);
    skipped = (await runPackedStepAsync(plan.dense, dense.call)).skipped;
  } catch (error) {
    release();
    throw renameIndices(error, dense.indices, call.paramNames);
  }
  release();
  if (!skipped) {
    try {
      skipped = (await runPackedStepAsync(plan.sparse, sparse.call)).skipped;
    } catch (error) {
      undo();
      throw renameIndices(error, sparse.indices, call.paramNames);
    }
    if (skipped) undo();
  }
  return report(call.args, skipped);
}
