// The state of a block-aligned piece of a tensor is a slice of the whole tensor's state
// (docs/algorithm.md, "State"): error codes, bucket ranges and each window row's slots are laid
// out block after block, and window indices are offsets inside their block. So pieces join and
// split without touching a value: this is how sharded checkpoints reshard, and how the tests
// compare shards with a single-process state. AdamW states (tensors under denseBelow) slice and
// join elementwise (the end of this file).
import type { AdamWSnapshot } from "../adamw";
import type { MicroAdamSnapshot } from "../types";
import { keepCount } from "./partition";

export interface SliceLayout {
  window: number;
  density: number;
  topkBlockSize: number;
  quantBlockSize: number;
}

/** Slot offset o_j of the block starting at element `at` in a tensor (or piece) of `numel`, and K. */
function slotOffset(numel: number, at: number, layout: SliceLayout): number {
  let slots = 0;
  for (let b = 0; b < at && b < numel; b += layout.topkBlockSize) slots += keepCount(Math.min(layout.topkBlockSize, numel - b), layout.density);
  return slots;
}

function requireAligned(begin: number, end: number, numel: number, layout: SliceLayout): void {
  const aligned = (x: number) => x % layout.topkBlockSize === 0 && x % layout.quantBlockSize === 0;
  if (!(Number.isInteger(begin) && Number.isInteger(end) && 0 <= begin && begin < end && end <= numel))
    throw new RangeError(`Expected 0 <= begin < end <= ${numel} but received [${begin}, ${end})`);
  if (!aligned(begin) || (!aligned(end) && end !== numel))
    throw new RangeError(`Expected a range cut at multiples of topkBlockSize and quantBlockSize but received [${begin}, ${end})`);
}

/** The snapshot of elements [begin, end) of a tensor of `numel` elements whose snapshot is `whole`. */
export function sliceSnapshot(whole: MicroAdamSnapshot, numel: number, begin: number, end: number, layout: SliceLayout): MicroAdamSnapshot {
  requireAligned(begin, end, numel, layout);
  const rowLength = slotOffset(numel, numel, layout);
  const slotsFrom = slotOffset(numel, begin, layout);
  const slotsTo = slotOffset(numel, end, layout);
  const pieceRow = slotsTo - slotsFrom;
  const windowIndices = new Uint16Array(layout.window * pieceRow);
  const windowValues = new Uint16Array(layout.window * pieceRow);
  for (let r = 0; r < layout.window; r++) {
    windowIndices.set(whole.windowIndices.subarray(r * rowLength + slotsFrom, r * rowLength + slotsTo), r * pieceRow);
    windowValues.set(whole.windowValues.subarray(r * rowLength + slotsFrom, r * rowLength + slotsTo), r * pieceRow);
  }
  const Q = layout.quantBlockSize;
  return {
    step: whole.step,
    // begin is even (a multiple of the even Q), so its codes start on a byte; an odd end is the tensor's end.
    errorCodes: whole.errorCodes.slice(begin / 2, Math.ceil(end / 2)),
    errorMin: whole.errorMin.slice(begin / Q, Math.ceil(end / Q)),
    errorMax: whole.errorMax.slice(begin / Q, Math.ceil(end / Q)),
    windowIndices,
    windowValues,
  };
}

/**
 * Joins the snapshots of consecutive block-aligned pieces (`sizes[i]` elements each, together a
 * whole tensor or a block-aligned range of one) into one snapshot. All pieces must be at the same step.
 */
export function joinSnapshots(pieces: readonly MicroAdamSnapshot[], sizes: readonly number[], layout: SliceLayout): MicroAdamSnapshot {
  if (pieces.length === 0 || pieces.length !== sizes.length) throw new RangeError("Expected one size per snapshot, at least one");
  const step = pieces[0].step;
  pieces.forEach((p, i) => {
    if (p.step !== step) throw new RangeError(`Expected snapshots at one step, but piece ${i} is at step ${p.step} and piece 0 at ${step}`);
    if (i < pieces.length - 1 && sizes[i] % layout.topkBlockSize !== 0) throw new RangeError(`Expected piece ${i} to end at a block boundary (${sizes[i]} elements)`);
  });
  const rows = pieces.map((p) => p.windowIndices.length / layout.window);
  const rowLength = rows.reduce((a, b) => a + b, 0);
  const numel = sizes.reduce((a, b) => a + b, 0);
  const cat = <T extends Uint8Array | Uint16Array>(arrays: T[], make: (n: number) => T): T => {
    const out = make(arrays.reduce((a, b) => a + b.length, 0));
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  };
  const windowIndices = new Uint16Array(layout.window * rowLength);
  const windowValues = new Uint16Array(layout.window * rowLength);
  for (let r = 0; r < layout.window; r++) {
    let at = r * rowLength;
    pieces.forEach((p, i) => {
      windowIndices.set(p.windowIndices.subarray(r * rows[i], (r + 1) * rows[i]), at);
      windowValues.set(p.windowValues.subarray(r * rows[i], (r + 1) * rows[i]), at);
      at += rows[i];
    });
  }
  const joined = {
    step,
    errorCodes: cat(pieces.map((p) => p.errorCodes), (n) => new Uint8Array(n)),
    errorMin: cat(pieces.map((p) => p.errorMin), (n) => new Uint16Array(n)),
    errorMax: cat(pieces.map((p) => p.errorMax), (n) => new Uint16Array(n)),
    windowIndices,
    windowValues,
  };
  if (joined.errorCodes.length !== Math.ceil(numel / 2)) throw new RangeError(`Expected the pieces' codes to cover ${numel} elements`);
  return joined;
}

// An AdamW state (a tensor under denseBelow) is elementwise: any range of it is its moments'
// range, and pieces join by concatenation.

/** The AdamW snapshot of elements [begin, end) of a tensor whose snapshot is `whole`. */
export function sliceAdamWSnapshot(whole: AdamWSnapshot, begin: number, end: number): AdamWSnapshot {
  if (!(Number.isInteger(begin) && Number.isInteger(end) && 0 <= begin && begin < end && end <= whole.expAvg.length))
    throw new RangeError(`Expected 0 <= begin < end <= ${whole.expAvg.length} but received [${begin}, ${end})`);
  return { step: whole.step, expAvg: whole.expAvg.slice(begin, end), expAvgSq: whole.expAvgSq.slice(begin, end) };
}

/** Joins the AdamW snapshots of consecutive pieces into one. All must be at the same step. */
export function joinAdamWSnapshots(pieces: readonly AdamWSnapshot[]): AdamWSnapshot {
  if (pieces.length === 0) throw new RangeError("Expected at least one snapshot");
  const step = pieces[0].step;
  pieces.forEach((p, i) => {
    if (p.step !== step) throw new RangeError(`Expected snapshots at one step, but piece ${i} is at step ${p.step} and piece 0 at ${step}`);
  });
  const numel = pieces.reduce((n, p) => n + p.expAvg.length, 0);
  const joined = { step, expAvg: new Float32Array(numel), expAvgSq: new Float32Array(numel) };
  let at = 0;
  for (const p of pieces) {
    joined.expAvg.set(p.expAvg, at);
    joined.expAvgSq.set(p.expAvgSq, at);
    at += p.expAvg.length;
  }
  return joined;
}
