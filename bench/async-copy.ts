// What an async step costs beyond a synchronous one. stepAsync copies params and grads into
// native memory when it is called, keeps a copy of the state on the worker so that the step can
// be undone, and writes params back when it settles (docs/reliability.md, "Async steps and buffer
// lifetime"); this script measures that against the synchronous step on the same machine.
//
//   nice -n 15 npx ts-node bench/async-copy.ts [--numel 16777216] [--reps 7] [--out bench/results/async-copy.json]
//
// For each optimizer (MicroAdam with defaults, the native AdamW) and params dtype (f32, bf16;
// grads f32): the median of `reps` synchronous steps; of the time stepAsync takes to return (the
// event loop is blocked while params and grads are copied); of the time until its promise
// settles; and for reference the median time of one JS copy (TypedArray.set) of params + grads.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import {
  adamWStep,
  adamWStepAsync,
  createAdamWState,
  createMicroAdamState,
  microAdamStep,
  microAdamStepAsync,
  type StepResult,
  type Tensor,
} from "../lib";

interface Row {
  optimizer: "MicroAdam" | "AdamW";
  params: "f32" | "bf16";
  numel: number;
  syncMs: number;
  /** The first stepAsync on the state: it also allocates (and faults in) the copy memory. */
  firstAsyncCallMs: number;
  asyncCallMs: number;
  asyncTotalMs: number;
  asyncExtraMs: number;
  jsCopyMs: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function gradient(numel: number, seed: number): Float32Array {
  const g = new Float32Array(numel);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < numel; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    g[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 0.01;
  }
  return g;
}

async function measure(optimizer: Row["optimizer"], dtype: Row["params"], numel: number, reps: number): Promise<Row> {
  const grads = [gradient(numel, 1), gradient(numel, 2)];
  const params: Tensor = dtype === "f32" ? new Float32Array(numel) : { data: new Uint16Array(numel), dtype: "bf16" };
  const options = { lr: 1e-3, weightDecay: 0.01 };
  const micro = optimizer === "MicroAdam" ? createMicroAdamState({ numel }) : null;
  const adamw = optimizer === "AdamW" ? createAdamWState({ numel }) : null;
  const sync = (g: Float32Array): StepResult => (micro ? microAdamStep(micro, params, g, options) : adamWStep(adamw!, params, g, options));
  const async = (g: Float32Array): Promise<StepResult> =>
    micro ? microAdamStepAsync(micro, params, g, options) : adamWStepAsync(adamw!, params, g, options);

  // Warm-up: page in the state, the scratch and the allocator's pools.
  for (let i = 0; i < 2; i++) sync(grads[i % 2]);
  const t0 = performance.now();
  const first = async(grads[0]);
  const firstAsyncCallMs = performance.now() - t0;
  await first;

  const syncMs: number[] = [];
  const callMs: number[] = [];
  const totalMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    // Alternate sync and async so that machine noise hits both alike.
    let t = performance.now();
    sync(grads[r % 2]);
    syncMs.push(performance.now() - t);
    t = performance.now();
    const pending = async(grads[(r + 1) % 2]);
    callMs.push(performance.now() - t);
    await pending;
    totalMs.push(performance.now() - t);
  }

  const source = new Float32Array(numel);
  const target = new Float32Array(numel);
  const copyMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    target.set(source);
    target.set(grads[0]);
    copyMs.push(performance.now() - t);
  }
  micro?.dispose();
  adamw?.dispose();
  const row: Row = {
    optimizer,
    params: dtype,
    numel,
    syncMs: median(syncMs),
    firstAsyncCallMs,
    asyncCallMs: median(callMs),
    asyncTotalMs: median(totalMs),
    asyncExtraMs: 0,
    jsCopyMs: median(copyMs),
  };
  row.asyncExtraMs = row.asyncTotalMs - row.syncMs;
  return row;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      numel: { type: "string", default: String(1 << 24) },
      reps: { type: "string", default: "7" },
      out: { type: "string", default: path.join(__dirname, "results/async-copy.json") },
    },
  });
  const numel = Number(values.numel);
  const reps = Number(values.reps);
  const rows: Row[] = [];
  for (const optimizer of ["MicroAdam", "AdamW"] as const)
    for (const dtype of ["f32", "bf16"] as const) {
      const row = await measure(optimizer, dtype, numel, reps);
      rows.push(row);
      const f = (x: number) => x.toFixed(1).padStart(7);
      process.stdout.write(
        `${optimizer.padEnd(9)} ${dtype.padEnd(4)} sync ${f(row.syncMs)} ms | stepAsync returns ${f(row.asyncCallMs)} ms` +
          ` (first ${f(row.firstAsyncCallMs)}),` +
          ` settles ${f(row.asyncTotalMs)} ms (+${row.asyncExtraMs.toFixed(1)}) | JS copy of params+grads ${f(row.jsCopyMs)} ms\n`,
      );
    }
  fs.mkdirSync(path.dirname(values.out!), { recursive: true });
  fs.writeFileSync(values.out!, JSON.stringify({ date: new Date().toISOString(), numel, reps, rows }, null, 2) + "\n");
}

void main();
