// One rank of the bit-identity test (test/distributed.test.ts), started by mpirun: steps the
// scenario with ShardedMicroAdam ('mean' and 'sum') and writes its params and its pieces' states.
// Usage: mpirun -np N node sharded-worker.js <out-dir>
"use strict";
const fs = require("fs");
const path = require("path");
const { ProcessGroup, ShardedMicroAdam } = require("../../dist/distributed");
const scenario = require("./scenario");

const b64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");

async function run(group, reduce, gradOf, extra = {}) {
  const params = scenario.initialParams();
  const opt = await ShardedMicroAdam.create(scenario.paramGroups(params), { ...scenario.OPTIONS, reduce, ...extra }, group);
  const results = [];
  // Flattened group order = GROUPS order; gradients in that order.
  const order = scenario.GROUPS.flatMap((g) => g.tensors);
  for (let step = 0; step < scenario.STEPS; step++) {
    const grads = order.map((t) => gradOf(group.size, group.rank, step, t));
    // Odd steps wait on the JS thread (stepSync, what the tfjs optimizer uses): the same bits.
    results.push(step % 2 === 1 ? opt.stepSync(grads) : await opt.step(grads));
  }
  const out = {
    results,
    params: order.map((t) => b64(params[t])),
    pieces: opt.pieces,
    // Each piece's snapshot, its arrays in base64: MicroAdam's, or AdamW's for a tensor under denseBelow.
    states: opt.shardSnapshots().map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === "number" ? v : b64(v)]))),
    lastReduced: b64(opt.lastReducedGradient),
    stateBytes: opt.stateBytes,
    stateBytesByRank: opt.stateBytesByRank,
    totalStateBytes: opt.totalStateBytes,
  };
  opt.dispose();
  return out;
}

(async () => {
  const dir = process.argv[2];
  const group = ProcessGroup.init({ timeoutSeconds: 60 });
  // Rounds of 1,000 elements: the reduce-scatter's exchange takes several rounds, the last one partial.
  const mean = await run(group, "mean", scenario.meanGrad, { reduceChunkElements: 1000 });
  const sum = await run(group, "sum", scenario.sumGrad);
  fs.writeFileSync(path.join(dir, `rank-${group.rank}.json`), JSON.stringify({ rank: group.rank, size: group.size, mean, sum }));
  group.finalize();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
