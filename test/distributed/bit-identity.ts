// The bit-identity check of ShardedMicroAdam's multi-process runs (the scenario of
// test/distributed/scenario.js, one rank-<r>.json per rank from sharded-worker.js): every rank's
// params, pieces' states and reduced gradient against a single-process MicroAdam computed here.
// Used by test/distributed.test.ts and test/distributed-hosts.test.ts.
import * as fs from "node:fs";
import * as path from "node:path";
import { MicroAdam, type AdamWSnapshot, type MicroAdamSnapshot } from "../../lib";
import { partition } from "../../lib/distributed/partition";
import { sliceAdamWSnapshot, sliceSnapshot } from "../../lib/distributed/snapshot-slices";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const scenario = require("./scenario.js");

export const fromB64 = <T>(text: string, Type: new (buffer: ArrayBuffer, offset: number, length: number) => T, bytes: number): T => {
  const b = Buffer.from(text, "base64");
  const copy = new Uint8Array(b).buffer;
  return new Type(copy, 0, b.byteLength / bytes);
};
export const u32 = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** A piece's snapshot from a rank: MicroAdam's fields, or AdamW's (a tensor under denseBelow), arrays in base64. */
export type RankState =
  | { step: number; errorCodes: string; errorMin: string; errorMax: string; windowIndices: string; windowValues: string }
  | { step: number; expAvg: string; expAvgSq: string };
export interface RankRun {
  results: { step: number; skipped: boolean }[];
  params: string[];
  pieces: { tensor: number; begin: number; end: number }[];
  states: RankState[];
  lastReduced: string;
  stateBytes: number;
  stateBytesByRank: number[];
  totalStateBytes: number;
}
export interface RankFile {
  rank: number;
  size: number;
  mean: RankRun;
  sum: RankRun;
}

/** The rank-<r>.json files sharded-worker.js wrote into `dir`, by rank. */
export function readRankFiles(dir: string, size: number): RankFile[] {
  return Array.from({ length: size }, (_, r) => JSON.parse(fs.readFileSync(path.join(dir, `rank-${r}.json`), "utf8")) as RankFile);
}

export function decodeState(s: RankState): MicroAdamSnapshot | AdamWSnapshot {
  if ("expAvg" in s) return { step: s.step, expAvg: fromB64(s.expAvg, Float32Array, 4), expAvgSq: fromB64(s.expAvgSq, Float32Array, 4) };
  return {
    step: s.step,
    errorCodes: fromB64(s.errorCodes, Uint8Array, 1),
    errorMin: fromB64(s.errorMin, Uint16Array, 2),
    errorMax: fromB64(s.errorMax, Uint16Array, 2),
    windowIndices: fromB64(s.windowIndices, Uint16Array, 2),
    windowValues: fromB64(s.windowValues, Uint16Array, 2),
  };
}

/** A piece's slice of the single process's snapshot of its tensor (AdamW's elementwise). */
export function expectedPiece(whole: MicroAdamSnapshot | AdamWSnapshot, piece: { tensor: number; begin: number; end: number }): MicroAdamSnapshot | AdamWSnapshot {
  if ("expAvg" in whole) return sliceAdamWSnapshot(whole, piece.begin, piece.end);
  return sliceSnapshot(whole, scenario.NUMELS[piece.tensor], piece.begin, piece.end, scenario.OPTIONS);
}

/** The single-process run: MicroAdam on the reduced gradient, computed here independently. */
export function reference(gradOf: (step: number, t: number) => Float32Array, steps: number = scenario.STEPS) {
  const params: Float32Array[] = scenario.initialParams();
  const opt = new MicroAdam(scenario.paramGroups(params), scenario.OPTIONS);
  const order: number[] = scenario.GROUPS.flatMap((g: { tensors: number[] }) => g.tensors);
  const results = [];
  for (let step = 0; step < steps; step++) results.push(opt.step(order.map((t) => gradOf(step, t))));
  const snapshots = opt.states.map((s) => s.snapshot());
  opt.dispose();
  return { params: order.map((t) => params[t]), snapshots, results };
}

/** The rank-order float32 mean: ((g0 + g1) + g2 + ...) / size, one rounding per operation. */
export function rankOrderMean(size: number, step: number, t: number): Float32Array {
  const grads = Array.from({ length: size }, (_, r) => scenario.meanGrad(size, r, step, t) as Float32Array);
  const out = new Float32Array(grads[0].length);
  for (let i = 0; i < out.length; i++) {
    let s = grads[0][i];
    for (let r = 1; r < size; r++) s = Math.fround(s + grads[r][i]);
    out[i] = Math.fround(s / size);
  }
  return out;
}

/** The exact sum of all the microbatches (the 'sum' scenario's reduced gradient at any world size). */
export function exactSum(step: number, t: number): Float32Array {
  const out = new Float32Array(scenario.NUMELS[t]);
  for (let m = 0; m < scenario.MICROBATCHES; m++) {
    const g = scenario.microbatchGrad(m, step, t);
    for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] + g[i]);
  }
  return out;
}

/** Each rank's reduced gradient of the last step against `gradOf`, bit for bit. */
export function expectReducedGradients(ranks: RankFile[], which: "mean" | "sum", gradOf: (step: number, t: number) => Float32Array): void {
  const last = scenario.STEPS - 1;
  for (const rank of ranks) {
    const got = u32(fromB64(rank[which].lastReduced, Float32Array, 4));
    const parts = rank[which].pieces.map((p) => gradOf(last, p.tensor).subarray(p.begin, p.end));
    const expected = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) expected.set(p, (at += p.length) - p.length);
    const firstDiff = got.findIndex((bits, i) => bits !== u32(expected)[i]);
    if (got.length !== expected.length || firstDiff >= 0)
      throw new Error(`${which}: rank ${rank.rank} of ${rank.size}: reduced gradient differs at ${firstDiff} (length ${got.length} vs ${expected.length})`);
  }
}

export function expectMatchesReference(ranks: RankFile[], which: "mean" | "sum", ref: ReturnType<typeof reference>): void {
  const initial: Float32Array[] = scenario.initialParams();
  expect(u32(ref.params[0])).not.toEqual(u32(initial[0])); // the comparison is not vacuous
  for (const rank of ranks) {
    const run = rank[which];
    expect(run.results).toEqual(ref.results);
    run.params.forEach((p, t) => {
      const got = fromB64(p, Float32Array, 4);
      if (Buffer.compare(Buffer.from(got.buffer), Buffer.from(ref.params[t].buffer, ref.params[t].byteOffset, ref.params[t].byteLength)) !== 0)
        throw new Error(`${which}: rank ${rank.rank} of ${rank.size}: params of tensor ${t} differ from the single process`);
    });
    run.pieces.forEach((piece, i) => {
      const expected = expectedPiece(ref.snapshots[piece.tensor], piece);
      expect({ rank: rank.rank, piece, state: decodeState(run.states[i]) }).toEqual({ rank: rank.rank, piece, state: expected });
    });
  }
}

/**
 * Every rank of a run of `size` ranks: its pieces are the partition's, the state bytes add up, the
 * NaN step was skipped everywhere, and the reduced gradients, params and states equal a single
 * process's bit for bit ('mean': the rank-order mean; 'sum': the exact sum, world-size independent).
 */
export function expectBitIdentical(ranks: RankFile[], size: number): void {
  expect(ranks.map((r) => [r.rank, r.size])).toEqual(Array.from({ length: size }, (_, r) => [r, size]));
  const expectedPartition = partition(scenario.NUMELS, size, 256, 64);
  ranks.forEach((r) => expect(r.mean.pieces).toEqual(expectedPartition.pieces[r.rank]));
  const byRank = ranks[0].mean.stateBytesByRank;
  expect(byRank.reduce((a, b) => a + b, 0)).toBe(ranks[0].mean.totalStateBytes);
  ranks.forEach((r) => expect(r.mean.stateBytes).toBe(byRank[r.rank]));
  ranks.forEach((r) => expect(r.mean.results[scenario.NAN_STEP]).toEqual({ step: scenario.NAN_STEP, skipped: true }));
  const mean = (step: number, t: number) => rankOrderMean(size, step, t);
  expectReducedGradients(ranks, "mean", mean);
  expectReducedGradients(ranks, "sum", exactSum);
  expectMatchesReference(ranks, "mean", reference(mean));
  expectMatchesReference(ranks, "sum", reference(exactSum));
}
