// What MicroAdam's default denseBelow costs in step time and state: the transformer-like model of
// bench/many-tensors.ts (an embedding, 24 layers of six matrices, ~1,855 bias/norm vectors of
// 64 to 2,048 elements) stepped by a MicroAdam with every tensor on MicroAdam (denseBelow 0) and
// by one with the default (the vectors on the native AdamW, in the same native call:
// binding.mixedStep). Same gradients, same
// options; each has its own params. After warm-up (the window full), steps alternate between the
// two, which goes first alternating too; medians.
//
//   npx ts-node bench/dense-below.ts [--total 1e8] [--tensors 2000] [--reps 21] [--out FILE]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { DEFAULT_DENSE_BELOW, getNumThreads, MicroAdam } from "../lib";
import { fill, median, modelSizes } from "./common/model-sizes";

function main(): void {
  const { values } = parseArgs({
    options: {
      total: { type: "string", default: "1e8" },
      tensors: { type: "string", default: "2000" },
      reps: { type: "string", default: "21" },
      out: { type: "string", default: path.join(__dirname, "results", "dense-below.json") },
    },
  });
  const total = Number(values.total);
  const reps = Number(values.reps);
  const { sizes } = modelSizes(total, Number(values.tensors), 24, 512, 1);
  const loadStart = os.loadavg()[0];
  const startedAt = new Date();

  const flatParams = new Float32Array(total);
  const flatGrads = new Float32Array(total);
  fill(flatParams, flatGrads, 1);
  // Each tensor in its own buffer, as a model's: the gradients once, the params once per optimizer.
  const starts: number[] = [];
  for (let i = 0, at = 0; i < sizes.length; at += sizes[i++]) starts.push(at);
  const grads = sizes.map((n, i) => flatGrads.slice(starts[i], starts[i] + n));
  const paramsOf = (): Float32Array[] => sizes.map((n, i) => flatParams.slice(starts[i], starts[i] + n));
  const options = { lr: 1e-3, weightDecay: 0.01 };
  const contenders = [
    { name: "denseBelow 0 (all MicroAdam)", opt: new MicroAdam(paramsOf(), { ...options, denseBelow: 0 }), ms: [] as number[] },
    { name: `denseBelow ${DEFAULT_DENSE_BELOW} (default)`, opt: new MicroAdam(paramsOf(), options), ms: [] as number[] },
  ];
  const time = (opt: MicroAdam): number => {
    const t0 = performance.now();
    const r = opt.step(grads);
    const ms = performance.now() - t0;
    if (r.skipped) throw new Error("a step was skipped: the benchmark's gradients are finite");
    return ms;
  };
  for (let i = 0; i < 12; i++) for (const c of contenders) time(c.opt);
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) c.ms.push(time(c.opt));
  }
  const [all, mixed] = contenders;
  const dense = mixed.opt.states.filter((s) => s.numel < DEFAULT_DENSE_BELOW);
  const result = {
    date: startedAt.toISOString(),
    machine: { cpu: os.cpus()[0]?.model, nproc: os.cpus().length, engineThreads: getNumThreads(), load1Start: loadStart, load1End: os.loadavg()[0] },
    model: { tensors: sizes.length, total, denseTensors: mixed.opt.denseTensorCount, denseElements: dense.reduce((n, s) => n + s.numel, 0) },
    reps,
    rows: contenders.map((c) => ({ name: c.name, medianMs: median(c.ms), minMs: Math.min(...c.ms), stateBytes: c.opt.stateBytes })),
    ratioOfMedians: median(mixed.ms) / median(all.ms),
  };
  fs.mkdirSync(path.dirname(values.out), { recursive: true });
  fs.writeFileSync(values.out, JSON.stringify(result, null, 2) + "\n");
  console.log(`${result.machine.cpu}, ${result.machine.nproc} CPUs, ${result.machine.engineThreads} engine threads, load ${loadStart.toFixed(2)} → ${result.machine.load1End.toFixed(2)}`);
  console.log(`${sizes.length} tensors, ${total} elements; ${result.model.denseTensors} tensors (${result.model.denseElements} elements) under ${DEFAULT_DENSE_BELOW}`);
  for (const row of result.rows)
    console.log(`${row.name.padEnd(32)} step ${row.medianMs.toFixed(2)} ms (min ${row.minMs.toFixed(2)}), state ${(row.stateBytes / 2 ** 20).toFixed(2)} MiB`);
  console.log(`default / all-MicroAdam: ${result.ratioOfMedians.toFixed(3)} (median of ${reps})`);
  console.log(`wrote ${path.relative(process.cwd(), values.out)}`);
  for (const c of contenders) c.opt.dispose();
}

main();
