// Many tensors per step (issue 12, item 4; docs/benchmarks.md, "Many tensors per step"): a
// MicroAdam step over 2,000 tensors sized like a transformer's against a step over one tensor of
// the same total, in one process, interleaved so that machine noise hits both; what of the step
// is JavaScript (the facade building the call) and what is native; and what the steps allocate
// on the JS heap (bytes per step, collections and heap growth over 1,000 steps).
//
//   npx ts-node bench/many-tensors.ts [--total 1e8] [--tensors 2000] [--layers 24] [--width 512]
//       [--reps 21] [--heap-steps 1000] [--seed 1] [--out bench/results/many-tensors.json]
//
//   npx ts-node bench/many-tensors.ts --counts 250,1000,4000,16000
//       only the native call's cost against the number of tensors (bench/results/many-tensors-counts.json)
//
// The two optimizers step the same numbers: the single tensor's params and grads are the
// concatenation of the many tensors' (each of those has its own ArrayBuffer, as a model's
// tensors have). --total 1e8 needs about 1.7 GB of memory.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { binding, type NativeStepReport } from "../lib/binding";
import { getNumThreads, MicroAdam } from "../lib";
import { fill, median, modelSizes, xorshift } from "./common/model-sizes";

// The native call is timed by wrapping binding.step (lib/step.ts looks it up at every call); the
// rest of MicroAdam.step is the facade: checks, names, packing (lib/batched-optimizer.ts,
// lib/native-call.ts).
const nativeStep = binding.step;
let lastNativeMs = 0;
const timedNativeStep: typeof binding.step = (...args) => {
  const start = performance.now();
  try {
    return nativeStep(...args);
  } finally {
    lastNativeMs = performance.now() - start;
  }
};

interface StepTiming {
  totalMs: number;
  nativeMs: number;
  facadeMs: number;
}

function timeStep(opt: MicroAdam, grads: Float32Array[]): StepTiming {
  const start = performance.now();
  opt.step(grads);
  const totalMs = performance.now() - start;
  return { totalMs, nativeMs: lastNativeMs, facadeMs: totalMs - lastNativeMs };
}

function summarize(samples: StepTiming[]): StepTiming & { minTotalMs: number; samples: number } {
  return {
    totalMs: median(samples.map((s) => s.totalMs)),
    nativeMs: median(samples.map((s) => s.nativeMs)),
    facadeMs: median(samples.map((s) => s.facadeMs)),
    minTotalMs: Math.min(...samples.map((s) => s.totalMs)),
    samples: samples.length,
  };
}

/** A collector callable in this process: global.gc with --expose-gc, or one exposed now. */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

/** JS heap bytes one call allocates: the median heapUsed growth across it, no collection between. */
function allocatedPerCall(run: () => void, calls: number): number {
  const heapUsed = () => v8.getHeapStatistics().used_heap_size;
  const empty: number[] = [];
  const deltas: number[] = [];
  for (let i = 0; i < calls; i++) {
    let before = heapUsed();
    empty.push(heapUsed() - before); // what reading the heap costs
    before = heapUsed();
    run();
    deltas.push(heapUsed() - before);
  }
  // A scavenge inside a call makes its delta negative; the median ignores the few that have one.
  return Math.max(0, median(deltas) - median(empty));
}

/**
 * The native call's cost against the number of tensors (64 elements each, so the engine's share is
 * small): a real step and a skipped one (NaN in the first gradient), median of 31 each.
 */
function nativeCostByCount(counts: number[], out: string): void {
  binding.step = timedNativeStep;
  const rows: { tensors: number; stepMs: number; nativeMs: number; skippedNativeMs: number }[] = [];
  console.log("tensors   step ms   native ms   µs/tensor   skipped-step native ms   µs/tensor");
  for (const n of counts) {
    const random = xorshift(n);
    const params = Array.from({ length: n }, () => Float32Array.from({ length: 64 }, () => random() - 0.5));
    const grads = Array.from({ length: n }, () => Float32Array.from({ length: 64 }, () => (random() - 0.5) * 1e-3));
    const opt = new MicroAdam(params, { denseBelow: 0, lr: 1e-3 });
    for (let i = 0; i < 12; i++) opt.step(grads);
    const steps: StepTiming[] = [];
    const skipped: StepTiming[] = [];
    for (let r = 0; r < 31; r++) {
      steps.push(timeStep(opt, grads));
      const kept = grads[0][0];
      grads[0][0] = NaN;
      skipped.push(timeStep(opt, grads));
      grads[0][0] = kept;
    }
    const row = { tensors: n, stepMs: summarize(steps).totalMs, nativeMs: summarize(steps).nativeMs, skippedNativeMs: summarize(skipped).nativeMs };
    rows.push(row);
    opt.dispose();
    const us = (ms: number) => ((1000 * ms) / n).toFixed(2).padStart(9);
    console.log(
      `${String(n).padStart(7)}  ${row.stepMs.toFixed(3).padStart(8)}  ${row.nativeMs.toFixed(3).padStart(10)}  ${us(row.nativeMs)}   ${row.skippedNativeMs.toFixed(3).padStart(22)}  ${us(row.skippedNativeMs)}`,
    );
  }
  binding.step = nativeStep;
  const record = { date: new Date().toISOString(), cpu: os.cpus()[0]?.model, engineThreads: getNumThreads(), elementsPerTensor: 64, rows };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(record, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      counts: { type: "string" },
      total: { type: "string", default: "1e8" },
      tensors: { type: "string", default: "2000" },
      layers: { type: "string", default: "24" },
      width: { type: "string", default: "512" },
      reps: { type: "string", default: "21" },
      "heap-steps": { type: "string", default: "1000" },
      "stub-calls": { type: "string", default: "201" },
      seed: { type: "string", default: "1" },
      out: { type: "string", default: path.join(__dirname, "results", "many-tensors.json") },
    },
  });
  if (values.counts !== undefined) {
    nativeCostByCount(values.counts.split(",").map(Number), path.join(__dirname, "results", "many-tensors-counts.json"));
    return;
  }
  const total = Number(values.total);
  const reps = Number(values.reps);
  const heapSteps = Number(values["heap-steps"]);
  const stubCalls = Number(values["stub-calls"]);
  const seed = Number(values.seed);
  const { sizes, vectors } = modelSizes(total, Number(values.tensors), Number(values.layers), Number(values.width), seed);
  const options = { lr: 1e-3, weightDecay: 0.01 }; // the same for both; layout at the defaults
  const window = 10;
  const gc = collector();
  const startedAt = new Date();
  const loadStart = os.loadavg();

  process.stdout.write(`filling ${total.toExponential(1)} params and grads ... `);
  const flatParams = new Float32Array(total);
  const flatGrads = new Float32Array(total);
  fill(flatParams, flatGrads, seed);
  const manyParams: Float32Array[] = [];
  const manyGrads: Float32Array[] = [];
  let offset = 0;
  for (const n of sizes) {
    manyParams.push(flatParams.slice(offset, offset + n)); // own buffers, as a model's tensors
    manyGrads.push(flatGrads.slice(offset, offset + n));
    offset += n;
  }
  const single = new MicroAdam([flatParams], { ...options, denseBelow: 0 });
  const many = new MicroAdam(manyParams, { ...options, denseBelow: 0 });
  const singleGrads = [flatGrads];
  console.log("done");

  binding.step = timedNativeStep;
  // Warm-up: `window` steps and two more each, so the window is full (its first steps do less work).
  for (let i = 0; i < window + 2; i++) {
    timeStep(single, singleGrads);
    timeStep(many, manyGrads);
  }
  // Interleaved, alternating which goes first.
  const singleSamples: StepTiming[] = [];
  const manySamples: StepTiming[] = [];
  const pairRatios: number[] = [];
  for (let r = 0; r < reps; r++) {
    let s: StepTiming, m: StepTiming;
    if (r % 2 === 0) {
      s = timeStep(single, singleGrads);
      m = timeStep(many, manyGrads);
    } else {
      m = timeStep(many, manyGrads);
      s = timeStep(single, singleGrads);
    }
    singleSamples.push(s);
    manySamples.push(m);
    pairRatios.push(m.totalMs / s.totalMs);
  }

  // The native call's fixed cost (convert, check, hold the states busy, report): a step whose
  // first gradient starts with a NaN is skipped after the scan's first chunk, nothing written.
  const skippedSingle: StepTiming[] = [];
  const skippedMany: StepTiming[] = [];
  for (let r = 0; r < reps; r++) {
    for (const [opt, grads, samples] of [
      [single, singleGrads, skippedSingle],
      [many, manyGrads, skippedMany],
    ] as const) {
      const kept = grads[0][0];
      grads[0][0] = NaN;
      samples.push(timeStep(opt, grads));
      grads[0][0] = kept;
    }
  }

  // The facade alone: a binding that does nothing, for as many calls as it takes to see the median.
  const report: NativeStepReport = { skipped: false, steps: [] };
  binding.step = () => report;
  const stubMs: number[] = [];
  for (let i = 0; i < 20 + stubCalls; i++) {
    const start = performance.now();
    many.step(manyGrads);
    if (i >= 20) stubMs.push(performance.now() - start);
  }
  const stubAllocatedBytes = allocatedPerCall(() => many.step(manyGrads), 51);
  const stubSingleAllocatedBytes = allocatedPerCall(() => single.step(singleGrads), 51);
  binding.step = nativeStep;

  // JS heap: bytes per real step, then collections and growth over heapSteps steps.
  const allocatedMany = allocatedPerCall(() => many.step(manyGrads), 21);
  const allocatedSingle = allocatedPerCall(() => single.step(singleGrads), 21);
  // In four quarters, the heap measured after a full collection before each and after the last:
  // growth that is per step rises quarter by quarter. Collections are counted inside the quarters
  // only (not the forced ones between them). The observer keeps two numbers per collection in
  // arrays allocated up front: keeping the entries themselves (about 4 KB each) would be heap
  // growth of this benchmark's own.
  const gcStart = new Float64Array(1 << 16);
  const gcDuration = new Float64Array(1 << 16);
  let gcCount = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if (gcCount < gcStart.length) {
        gcStart[gcCount] = entry.startTime;
        gcDuration[gcCount++] = entry.duration;
      }
  });
  observer.observe({ entryTypes: ["gc"] });
  const heapAfterGc = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const heapUsedMB: number[] = [heapAfterGc() / 2 ** 20];
  const quarters: [number, number][] = [];
  process.stdout.write(`${heapSteps} steps of the ${sizes.length}-tensor optimizer for the heap ... `);
  for (let q = 0; q < 4; q++) {
    const start = performance.now();
    for (let i = Math.floor((q * heapSteps) / 4); i < Math.floor(((q + 1) * heapSteps) / 4); i++) many.step(manyGrads);
    quarters.push([start, performance.now()]);
    await new Promise((resolve) => setTimeout(resolve, 100)); // gc entries arrive asynchronously
    heapUsedMB.push(heapAfterGc() / 2 ** 20);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  observer.disconnect();
  console.log("done");
  const during = Array.from({ length: gcCount }, (_, i) => ({ startTime: gcStart[i], duration: gcDuration[i] })).filter((e) =>
    quarters.some(([start, end]) => e.startTime >= start && e.startTime <= end),
  );
  const [heapStart, heapEnd] = [quarters[0][0], quarters[3][1]];

  const singleTiming = summarize(singleSamples);
  const manyTiming = summarize(manySamples);
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model;
  let commit: string | undefined;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8", cwd: __dirname, stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    commit = undefined;
  }
  const result = {
    date: startedAt.toISOString(),
    commit,
    machine: { cpu: cpuModel, nproc: os.availableParallelism(), engineThreads: getNumThreads(), memoryGiB: os.totalmem() / 2 ** 30, node: process.version },
    loadAverage: { start: loadStart, end: os.loadavg() },
    model: {
      total,
      tensors: sizes.length,
      largest: Math.max(...sizes),
      smallest: Math.min(...sizes),
      embedding: sizes[0],
      matrices: 6 * Number(values.layers),
      vectorsBySize: vectors,
    },
    options: { ...options, window, reps, seed },
    step: {
      single: singleTiming,
      many: manyTiming,
      ratio: manyTiming.totalMs / singleTiming.totalMs,
      medianPairRatio: median(pairRatios),
    },
    skippedStep: { single: summarize(skippedSingle), many: summarize(skippedMany) },
    facadeOnly: { tensors: sizes.length, calls: stubCalls, medianMs: median(stubMs), minMs: Math.min(...stubMs), allocatedBytesPerCall: stubAllocatedBytes, singleAllocatedBytesPerCall: stubSingleAllocatedBytes },
    heap: {
      allocatedBytesPerStep: { many: allocatedMany, single: allocatedSingle },
      steps: heapSteps,
      heapUsedAfterGcMB: heapUsedMB, // before the first quarter, then after each
      growthMB: heapUsedMB[4] - heapUsedMB[0],
      collections: during.length,
      collectionMs: during.reduce((sum, e) => sum + e.duration, 0),
      stepsMs: heapEnd - heapStart,
    },
  };
  fs.mkdirSync(path.dirname(values.out), { recursive: true });
  fs.writeFileSync(values.out, JSON.stringify(result, null, 2) + "\n");

  const f = (ms: number) => ms.toFixed(2).padStart(8);
  console.log(`\n${cpuModel}, ${result.machine.nproc} CPUs, ${result.machine.engineThreads} engine threads, Node ${process.version}, commit ${commit ?? "?"}`);
  console.log(`${sizes.length} tensors (largest ${result.model.largest}, smallest ${result.model.smallest}) against 1 tensor, ${total} elements each; median of ${reps}\n`);
  console.log(`                     step ms   native ms   facade ms   skipped-step native ms`);
  console.log(`1 tensor           ${f(singleTiming.totalMs)}    ${f(singleTiming.nativeMs)}    ${f(singleTiming.facadeMs)}    ${f(result.skippedStep.single.nativeMs)}`);
  console.log(`${String(sizes.length).padEnd(4)} tensors       ${f(manyTiming.totalMs)}    ${f(manyTiming.nativeMs)}    ${f(manyTiming.facadeMs)}    ${f(result.skippedStep.many.nativeMs)}`);
  console.log(`ratio ${result.step.ratio.toFixed(3)} (median of pairs ${result.step.medianPairRatio.toFixed(3)}; target ≤ 1.15)`);
  console.log(`facade alone (no-op binding), ${sizes.length} tensors: ${result.facadeOnly.medianMs.toFixed(3)} ms, ${(stubAllocatedBytes / 1024).toFixed(1)} KiB allocated per call`);
  console.log(
    `JS heap: ${(allocatedMany / 1024).toFixed(1)} KiB allocated per step (${sizes.length} tensors), ${(allocatedSingle / 1024).toFixed(1)} KiB (1 tensor); ` +
      `over ${heapSteps} steps ${result.heap.collections} collections, ${result.heap.collectionMs.toFixed(1)} ms in them`,
  );
  console.log(`heap after gc, MB, every ${heapSteps / 4} steps: ${heapUsedMB.map((mb) => mb.toFixed(3)).join(", ")}`);
  console.log(`wrote ${path.relative(process.cwd(), values.out)}`);
  single.dispose();
  many.dispose();
}

void main();
