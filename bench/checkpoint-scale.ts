// Checkpoints at the scale MicroAdam is for (docs/benchmarks.md, "Checkpoints at scale"):
//   1. one MicroAdam state of 4.7 billion elements (a flat FSDP-style buffer; 4.5 GB of state),
//      filled with deterministic valid content, saved, loaded into a new state, compared buffer by
//      buffer (CRC-32 of every byte);
//   2. a MicroAdam over the tensor shapes of a 3B-parameter LLaMA-style transformer (bf16
//      params), stepped once, saved, loaded into a second optimizer, compared state by state, then
//      both stepped on the same gradients and compared again.
// (The single state cannot be stepped from JavaScript: a tensor of more than 2^32 - 1 elements
// cannot be a typed array in Node 20, so its params could only be CUDA device memory.)
// Each records wall time, MB/s against `dd` writing (with fsync) and reading the same number of
// bytes on the same disk, and the resident set before, at its peak during, and after.
//
//   npx ts-node bench/checkpoint-scale.ts [--dir /tmp] [--numel 4700000256] [--layers 26] [--case state,model]
//     [--out bench/results/checkpoint-scale.json]
//
// Not part of npm test: it needs about 15 GB of memory and as much disk, and minutes.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { crc32 } from "node:zlib";
import { MicroAdam, MicroAdamState, createMicroAdamState } from "../lib";
import type { NativeState } from "../lib/binding";

const MB = 1e6;
const CHUNK = 16 * 2 ** 20;

/** Samples the resident set every 50 ms while `run` is pending (the I/O is async, so the loop turns). */
async function withPeakRss<T>(run: () => Promise<T>): Promise<{ value: T; ms: number; peakRssMB: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const start = performance.now();
  try {
    const value = await run();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, ms: performance.now() - start, peakRssMB: peak / MB };
  } finally {
    clearInterval(timer);
  }
}

const rssMB = () => process.memoryUsage().rss / MB;

/** CRC-32 of every buffer of a native state, read a chunk at a time. */
function stateDigest(native: NativeState, bufferBytes: number[]): number[] {
  const chunk = Buffer.allocUnsafe(CHUNK);
  return bufferBytes.map((bytes, buffer) => {
    let crc = 0;
    for (let at = 0; at < bytes; at += CHUNK) {
      const view = chunk.subarray(0, Math.min(CHUNK, bytes - at));
      native.readBytes(buffer, at, view);
      crc = crc32(view, crc);
    }
    return crc;
  });
}

function bufferBytesOf(state: MicroAdamState): number[] {
  const window = 2 * state.config.window * state.rowLength;
  return [Math.ceil(state.numel / 2), 2 * state.bucketCount, 2 * state.bucketCount, window, window];
}

/** Deterministic content a real state could hold: any codes and bounds, window indices inside their blocks. */
function fill(state: MicroAdamState, step: number): void {
  const sizes = bufferBytesOf(state);
  const chunk = Buffer.allocUnsafe(CHUNK);
  let seed = 0x9e3779b9;
  sizes.forEach((bytes, buffer) => {
    for (let at = 0; at < bytes; at += CHUNK) {
      const view = chunk.subarray(0, Math.min(CHUNK, bytes - at));
      const words = new Uint32Array(view.buffer, view.byteOffset, view.byteLength >>> 2);
      for (let i = 0; i < words.length; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        words[i] = buffer === 3 ? seed & 0x003f003f : seed; // indices < 64: inside any block here
      }
      state.native.writeBytes(buffer, at, view);
    }
  });
  state.native.checkContents(step);
}

/** dd's MB/s writing `bytes` (fsync at the end) and reading them back, on the same disk. */
function ddRates(dir: string, bytes: number): { writeMBps: number; readMBps: number } {
  const file = path.join(dir, "dd-probe.bin");
  const count = Math.ceil(bytes / CHUNK);
  const rate = (args: string[]) => {
    const start = performance.now();
    execFileSync("dd", args, { stdio: "ignore" });
    return (count * CHUNK) / MB / ((performance.now() - start) / 1000);
  };
  try {
    const writeMBps = rate([`if=/dev/zero`, `of=${file}`, `bs=${CHUNK}`, `count=${count}`, "conv=fsync"]);
    const readMBps = rate([`if=${file}`, "of=/dev/null", `bs=${CHUNK}`]);
    return { writeMBps, readMBps };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

async function oneState(dir: string, numel: number) {
  const rssStart = rssMB();
  const create = performance.now();
  const state = createMicroAdamState({ numel });
  const createMs = performance.now() - create;
  fill(state, 1234);
  const rssFilled = rssMB();
  const file = path.join(dir, "scale-state.madam");
  const save = await withPeakRss(() => state.saveAsync(file));
  const fileBytes = fs.statSync(file).size;
  const expected = stateDigest(state.native, bufferBytesOf(state));
  const rssBeforeLoad = rssMB();
  const load = await withPeakRss(() => MicroAdamState.fromFileAsync(file));
  const loaded = load.value;
  const identical = loaded.step === state.step && stateDigest(loaded.native, bufferBytesOf(loaded)).every((crc, i) => crc === expected[i]);
  loaded.dispose();
  state.dispose();
  fs.rmSync(file);
  return {
    case: "one state",
    numel,
    stateBytes: fileBytes - 136,
    createMs,
    rssMB: { start: rssStart, filled: rssFilled, peakDuringSave: save.peakRssMB, beforeLoad: rssBeforeLoad, peakDuringLoad: load.peakRssMB, end: rssMB() },
    ...rates(save.ms, load.ms, fileBytes),
    identical,
  };
}

/** Save and load times of a file of `fileBytes`, and their MB/s. */
function rates(saveMs: number, loadMs: number, fileBytes: number) {
  return { saveMs, loadMs, saveMBps: fileBytes / MB / (saveMs / 1000), loadMBps: fileBytes / MB / (loadMs / 1000), fileBytes };
}

/** The weight shapes of a LLaMA-style model: hidden 3200, MLP 8640, vocabulary 32000 (3.4B parameters at 26 layers). */
function transformerShapes(layers: number): number[] {
  const hidden = 3200;
  const mlp = 8640;
  const vocab = 32000;
  const shapes = [vocab * hidden];
  for (let l = 0; l < layers; l++) shapes.push(hidden, hidden * hidden, hidden * hidden, hidden * hidden, hidden * hidden, hidden, hidden * mlp, hidden * mlp, mlp * hidden);
  shapes.push(hidden, vocab * hidden);
  return shapes;
}

async function model(dir: string, layers: number) {
  const shapes = transformerShapes(layers);
  const total = shapes.reduce((a, b) => a + b, 0);
  const rssStart = rssMB();
  // bf16 params; the tensors of one size share a gradient buffer (gradients are only read), which
  // keeps the run inside this machine's memory.
  const params = shapes.map((n) => ({ data: new Uint16Array(n).fill(0x3c23), dtype: "bf16" as const }));
  const gradientsOf = (seed: number) => {
    const bySize = new Map<number, { data: Uint16Array; dtype: "bf16" }>();
    for (const n of new Set(shapes)) {
      const data = new Uint16Array(n);
      let x = seed;
      for (let i = 0; i < n; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        data[i] = 0x3800 | (x >>> 22) | ((x & 1) << 15); // finite bf16 of assorted sizes and signs
      }
      bySize.set(n, { data, dtype: "bf16" });
    }
    return shapes.map((n) => bySize.get(n)!);
  };
  const opt = new MicroAdam(params, { denseBelow: 0, lr: 1e-3 });
  const stepStart = performance.now();
  opt.step(gradientsOf(1));
  const stepMs = performance.now() - stepStart;
  const file = path.join(dir, "scale-model.madam");
  const rssBeforeSave = rssMB();
  const save = await withPeakRss(() => opt.saveAsync(file));
  const fileBytes = fs.statSync(file).size;
  const expected = (opt.states as MicroAdamState[]).map((s) => stateDigest(s.native, bufferBytesOf(s)));
  const second = new MicroAdam(params, { denseBelow: 0, lr: 1e-3 });
  const rssBeforeLoad = rssMB();
  const load = await withPeakRss(() => second.loadAsync(file));
  const identical = (second.states as MicroAdamState[]).every((s, i) => s.step === 1 && stateDigest(s.native, bufferBytesOf(s)).every((crc, k) => crc === expected[i][k]));
  // A state's next contents depend on its contents and the gradients only, so both optimizers
  // stepping the same params on the same gradients must end in the same bits.
  const next = gradientsOf(2);
  opt.step(next);
  second.step(next);
  const steppedIdentically = (second.states as MicroAdamState[]).every((s, i) => {
    const a = stateDigest((opt.states[i] as MicroAdamState).native, bufferBytesOf(opt.states[i] as MicroAdamState));
    return s.step === 2 && stateDigest(s.native, bufferBytesOf(s)).every((crc, k) => crc === a[k]);
  });
  opt.dispose();
  second.dispose();
  fs.rmSync(file);
  return {
    case: "3B transformer",
    tensors: shapes.length,
    parameters: total,
    stepMs,
    rssMB: { start: rssStart, beforeSave: rssBeforeSave, peakDuringSave: save.peakRssMB, beforeLoad: rssBeforeLoad, peakDuringLoad: load.peakRssMB, end: rssMB() },
    ...rates(save.ms, load.ms, fileBytes),
    identical,
    steppedIdentically,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: "string", default: os.tmpdir() },
      numel: { type: "string", default: "4700000256" },
      layers: { type: "string", default: "26" },
      case: { type: "string", default: "state,model" },
      out: { type: "string", default: path.join(__dirname, "results", "checkpoint-scale.json") },
    },
  });
  const dir = fs.mkdtempSync(path.join(values.dir, "microadam-scale-"));
  const cases = values.case.split(",");
  const rows: object[] = [];
  try {
    if (cases.includes("state")) rows.push(await oneState(dir, Number(values.numel)));
    if (cases.includes("model")) rows.push(await model(dir, Number(values.layers)));
    const largest = Math.max(...rows.map((r) => (r as { fileBytes: number }).fileBytes));
    const dd = ddRates(dir, largest);
    const record = {
      date: new Date().toISOString(),
      cpu: os.cpus()[0]?.model,
      threads: os.cpus().length,
      memoryGB: os.totalmem() / 1e9,
      loadAverage: os.loadavg(),
      dd: { bytes: largest, ...dd },
      rows,
    };
    console.log(JSON.stringify(record, null, 2));
    fs.mkdirSync(path.dirname(values.out), { recursive: true });
    fs.writeFileSync(values.out, JSON.stringify(record, null, 2) + "\n");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
