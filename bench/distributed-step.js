// ShardedMicroAdam step time and state memory per rank (docs/distributed.md, "Measured").
// One rank of the run; launch with mpirun:
//
//   mpirun --allow-run-as-root --oversubscribe --bind-to none -np N node bench/distributed-step.js [--total 8e6] [--tensors 8] [--steps 12]
//       [--threads T] [--skew-ms S]
//
// Each rank steps the same model (--total elements in --tensors equal tensors) with its own
// gradients; rank 0 prints one JSON line: the median step wall time (and its parts: reduce,
// local MicroAdam step, gather, measured around the collectives from rank 0), state bytes per
// rank against the single-process total, and the step's buffers per rank. With N processes on
// fewer cores than N × the engine's threads the ranks compete for the cores: on the 2-core
// project VM, N = 2 gives each rank one core, N = 4 oversubscribes.
//
// --skew-ms S: the last rank computes before each step (a fixed amount of arithmetic, calibrated
// to take S ms on its core when it starts), as a rank that
// finishes its forward and backward passes later would, so every other rank waits about S ms in
// the step's first collective. Rank 0 then also reports how much CPU its communication thread
// (microadam-mpi) spent per step while waiting (the wait loop's polling, which takes a core from
// the ranks still computing when the ranks outnumber the cores), and how long after the last rank
// called step() its step returned (the wake-up latency of the wait loop plus the collectives and
// the local step; compare with the step time at S = 0), and how long the late rank's work took
// (more than S where other threads took its core: with more ranks than cores, the waiting ranks'
// polling).
"use strict";
const fs = require("node:fs");
const { performance } = require("node:perf_hooks");
const { parseArgs } = require("node:util");
const { ProcessGroup, ShardedMicroAdam } = require("../dist/distributed");
const { getNumThreads, setNumThreads } = require("../dist");

const { values } = parseArgs({
  options: { total: { type: "string", default: "8e6" }, tensors: { type: "string", default: "8" }, steps: { type: "string", default: "12" }, threads: { type: "string" }, "skew-ms": { type: "string", default: "0" } },
});
const total = Number(values.total);
const count = Number(values.tensors);
const steps = Number(values.steps);
const skewMs = Number(values["skew-ms"]);

/**
 * Seconds on a CPU of this process's threads named `name` (Linux: the first field of
 * /proc/self/task/<tid>/schedstat, in nanoseconds; NaN elsewhere).
 */
function threadCpuSeconds(name) {
  let tasks;
  try {
    tasks = fs.readdirSync("/proc/self/task");
  } catch {
    return NaN;
  }
  let seconds = 0;
  for (const tid of tasks) {
    try {
      if (fs.readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() !== name) continue;
      seconds += Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e9;
    } catch {
      // the thread ended
    }
  }
  return seconds;
}

/** A fixed amount of arithmetic (a late rank's forward and backward passes). */
function work(iterations) {
  let x = 0;
  for (let i = 0; i < iterations; i++) x += Math.sqrt(x + i);
  return x;
}

/** Iterations of work() that take `ms` on this core now (the median of 5 timings of a 10 ms guess). */
function calibrate(ms) {
  let guess = 1e5;
  for (;;) {
    const t0 = performance.now();
    work(guess);
    const took = performance.now() - t0;
    if (took >= 10) break;
    guess *= 2;
  }
  const rates = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    work(guess);
    rates.push(guess / (performance.now() - t0));
  }
  rates.sort((a, b) => a - b);
  return Math.round(rates[2] * ms);
}

(async () => {
  const group = ProcessGroup.init({ timeoutSeconds: 600 });
  if (values.threads) setNumThreads(Number(values.threads));
  const per = Math.floor(total / count);
  const params = Array.from({ length: count }, (_, t) => Float32Array.from({ length: per }, (_, i) => Math.sin(i * 0.001 + t)));
  const grads = Array.from({ length: count }, (_, t) => Float32Array.from({ length: per }, (_, i) => Math.cos(i * 0.37 + t + group.rank)));
  const opt = await ShardedMicroAdam.create(params, { lr: 1e-3 }, group);
  const skewIterations = skewMs > 0 && group.rank === group.size - 1 ? calibrate(skewMs) : 0;
  const times = [];
  let commCpu = 0;
  // Wall-clock milliseconds (one clock for every process on this machine): when this rank called
  // step() and when its step returned.
  const called = new Float64Array(steps);
  const returned = new Float64Array(steps);
  const worked = new Float64Array(steps); // the late rank: how long its work took (S ms on a core of its own)
  for (let s = 0; s < steps; s++) {
    await group.barrier();
    const cpu0 = threadCpuSeconds("microadam-mpi");
    const t0 = process.hrtime.bigint();
    if (skewIterations > 0) {
      const w0 = performance.now();
      work(skewIterations);
      worked[s] = performance.now() - w0;
    }
    called[s] = performance.timeOrigin + performance.now();
    await opt.step(grads);
    returned[s] = performance.timeOrigin + performance.now();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (s >= 2) commCpu += threadCpuSeconds("microadam-mpi") - cpu0;
  }
  const lastCalled = (await group.allGather(called))[group.size - 1];
  const lastWorked = Array.from((await group.allGather(worked))[group.size - 1].subarray(2)).sort((a, b) => a - b);
  const afterLast = Array.from(returned.subarray(2), (t, i) => t - lastCalled[i + 2]).sort((a, b) => a - b);
  const sorted = times.slice(2).sort((a, b) => a - b);
  if (group.rank === 0)
    console.log(
      JSON.stringify({
        worldSize: group.size,
        numel: opt.numel,
        engineThreads: getNumThreads(),
        stepMsMedian: +sorted[Math.floor(sorted.length / 2)].toFixed(1),
        stepMsMin: +sorted[0].toFixed(1),
        ...(skewMs > 0 && group.size > 1
          ? { skewMs, afterLastRankMsMedian: +afterLast[Math.floor(afterLast.length / 2)].toFixed(2), lateRankWorkMsMedian: +lastWorked[Math.floor(lastWorked.length / 2)].toFixed(2), commThreadCpuMsPerStep: +((1000 * commCpu) / (steps - 2)).toFixed(2) }
          : {}),
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
