// The data-parallel scenario that the ranks (sharded-worker.js) and the single-process reference
// (test/distributed.test.ts) both build: tensors, options and every rank's gradient at every
// step, from the world size alone. Plain JavaScript so that each rank starts fast.
"use strict";

// Sizes with partial blocks, a tensor smaller than one block, and one that spans several ranks.
const NUMELS = [5000, 300, 12289, 199, 2048];
// denseBelow 2100: tensors 1, 3 and 4 have AdamW states (each stays whole on one rank at world
// sizes 1-4; only tensor 2 is cut).
const OPTIONS = { lr: 0.01, window: 4, density: 0.05, topkBlockSize: 256, quantBlockSize: 64, weightDecay: 0, denseBelow: 2100 };
// Two groups: the second with weight decay and error injection, so every kind of step runs.
const GROUPS = [
  { tensors: [0, 1, 2], hyper: {} },
  { tensors: [3, 4], hyper: { lr: 0.02, weightDecay: 0.1, alpha: 0.25 } },
];
const STEPS = 7; // window 4: the ring wraps
const NAN_STEP = 3; // one rank's gradient holds a NaN: every rank must skip
const MICROBATCHES = 12; // divisible by 1, 2, 3 and 4

/** A small deterministic generator (mulberry32). */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function initialParams() {
  return NUMELS.map((n, t) => {
    const next = random(1000 + t);
    return Float32Array.from({ length: n }, () => next() * 2 - 1);
  });
}

/** Rank `rank`'s gradient of tensor `t` at step `step` in a world of `size`: arbitrary floats ('mean' scenario). */
function meanGrad(size, rank, step, t) {
  const next = random(((size * 31 + rank) * 131 + step) * 17 + t);
  const g = Float32Array.from({ length: NUMELS[t] }, () => (next() - 0.5) * (t + 1) * 0.1);
  if (step === NAN_STEP && rank === size - 1 && t === 2) g[77] = NaN;
  return g;
}

/**
 * The 'sum' scenario: a global batch of 12 microbatches, rank r summing its own 12/size of them.
 * Each microbatch gradient is a multiple of 2^-12 of magnitude ≤ 2^-6, so every partial sum is
 * exact in float32 and the reduced gradient has the same bits at every world size.
 */
function microbatchGrad(microbatch, step, t) {
  const next = random((microbatch * 977 + step) * 31 + t + 5);
  return Float32Array.from({ length: NUMELS[t] }, () => (Math.floor(next() * 129) - 64) / 4096);
}

function sumGrad(size, rank, step, t) {
  const per = MICROBATCHES / size;
  const g = new Float32Array(NUMELS[t]);
  for (let m = rank * per; m < (rank + 1) * per; m++) {
    const mg = microbatchGrad(m, step, t);
    for (let i = 0; i < g.length; i++) g[i] += mg[i];
  }
  return g;
}

function paramGroups(params) {
  return GROUPS.map((g) => ({ params: g.tensors.map((t) => params[t]), ...g.hyper }));
}

module.exports = { NUMELS, OPTIONS, GROUPS, STEPS, NAN_STEP, MICROBATCHES, initialParams, meanGrad, sumGrad, microbatchGrad, paramGroups };
