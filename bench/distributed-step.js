// ShardedMicroAdam step time and state memory per rank (docs/distributed.md, "Measured").
// One rank of the run; launch with mpirun:
//
//   mpirun --allow-run-as-root --oversubscribe --bind-to none -np N node bench/distributed-step.js [--total 8e6] [--tensors 8] [--steps 12]
//
// Each rank steps the same model (--total elements in --tensors equal tensors) with its own
// gradients; rank 0 prints one JSON line: the median step wall time (and its parts: reduce,
// local MicroAdam step, gather, measured around the collectives from rank 0), state bytes per
// rank against the single-process total, and the step's buffers per rank. With N processes on
// fewer cores than N × the engine's threads the ranks compete for the cores: on the 2-core
// project VM, N = 2 gives each rank one core, N = 4 oversubscribes.
"use strict";
const { parseArgs } = require("node:util");
const { ProcessGroup, ShardedMicroAdam } = require("../dist/distributed");
const { getNumThreads, setNumThreads } = require("../dist");

const { values } = parseArgs({ options: { total: { type: "string", default: "8e6" }, tensors: { type: "string", default: "8" }, steps: { type: "string", default: "12" }, threads: { type: "string" } } });
const total = Number(values.total);
const count = Number(values.tensors);
const steps = Number(values.steps);

(async () => {
  const group = ProcessGroup.init({ timeoutSeconds: 600 });
  if (values.threads) setNumThreads(Number(values.threads));
  const per = Math.floor(total / count);
  const params = Array.from({ length: count }, (_, t) => Float32Array.from({ length: per }, (_, i) => Math.sin(i * 0.001 + t)));
  const grads = Array.from({ length: count }, (_, t) => Float32Array.from({ length: per }, (_, i) => Math.cos(i * 0.37 + t + group.rank)));
  const opt = await ShardedMicroAdam.create(params, { lr: 1e-3 }, group);
  const times = [];
  for (let s = 0; s < steps; s++) {
    await group.barrier();
    const t0 = process.hrtime.bigint();
    await opt.step(grads);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const sorted = times.slice(2).sort((a, b) => a - b);
  if (group.rank === 0)
    console.log(
      JSON.stringify({
        worldSize: group.size,
        numel: opt.numel,
        engineThreads: getNumThreads(),
        stepMsMedian: +sorted[Math.floor(sorted.length / 2)].toFixed(1),
        stepMsMin: +sorted[0].toFixed(1),
        stateBytesByRank: opt.stateBytesByRank,
        totalStateBytes: opt.totalStateBytes,
        bufferBytesPerRank: opt.bufferBytes,
        date: new Date().toISOString(),
      }),
    );
  opt.dispose();
  group.finalize();
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
