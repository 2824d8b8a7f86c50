// The CPU kernel's fast paths against the model of docs/algorithm.md, bit for bit, over many
// steps at real block sizes: the Top-K hint carried from step to step (kept, missed and marked
// again lower, missed with a zero block, overshot by a rising block), the histogram selection
// among candidates (exact ties, few distinct values), every shape of the vector passes (Q = 64,
// Q a multiple of 64, of 8 only, not of 8; partial last blocks and buckets), the f16 and bf16
// paths and the dense (weight decay, alpha) and NaN paths. Each case runs here (the best build
// this CPU has) and in child processes forced onto each build by MICROADAM_CPU_PATH (avx512,
// avx2, baseline), at 1 and 3 threads; a build this CPU lacks is reported SKIPPED, loudly.

import { execFileSync } from "child_process";
import * as path from "path";
import { backends, createMicroAdamState, microAdamStep } from "../lib";
import type { Dtype, Tensor } from "../lib/types";
import {
  MODEL_CONFIG_DEFAULTS,
  ModelConfig,
  ModelTensor,
  createModelState,
  modelHyperparameters,
  modelStep,
} from "./reference/microadam-model";
import { f32Bits, f32ToBf16, f32ToF16 } from "./reference/numeric";
import { Random } from "./reference/random";

interface PathCase {
  label: string;
  seed: number;
  numel: number;
  topkBlockSize?: number;
  quantBlockSize?: number;
  window: number;
  density: number;
  paramDtype: Dtype;
  gradDtype: Dtype;
  steps: number;
  weightDecay?: number;
  alpha?: number;
  /** Steps (0-based) whose gradient gets a NaN and an Inf (with nonFinite: 'ignore'). */
  nonFiniteSteps?: number[];
}

const CASES: PathCase[] = [
  { label: "defaults, partial last block", seed: 1, numel: 5 * 4096 + 1234, window: 4, density: 0.01, paramDtype: "f32", gradDtype: "f32", steps: 36 },
  { label: "Q = 128, m = 10, 2%", seed: 2, numel: 3 * 4096 + 700, quantBlockSize: 128, window: 10, density: 0.02, paramDtype: "f32", gradDtype: "bf16", steps: 30 },
  { label: "Q = 16, B = 1024", seed: 3, numel: 6 * 1024 + 77, topkBlockSize: 1024, quantBlockSize: 16, window: 3, density: 0.05, paramDtype: "bf16", gradDtype: "f32", steps: 30 },
  { label: "Q = 24, B = 3072", seed: 4, numel: 4 * 3072 + 500, topkBlockSize: 3072, quantBlockSize: 24, window: 5, density: 0.01, paramDtype: "f32", gradDtype: "f32", steps: 30 },
  { label: "Q = 6, B = 96", seed: 5, numel: 40 * 96 + 13, topkBlockSize: 96, quantBlockSize: 6, window: 3, density: 0.1, paramDtype: "f16", gradDtype: "f16", steps: 24 },
  { label: "f16 gradients, weight decay and alpha", seed: 6, numel: 3 * 4096 + 99, window: 4, density: 0.01, paramDtype: "bf16", gradDtype: "f16", steps: 24, weightDecay: 0.05, alpha: 0.3 },
  { label: "NaN and Inf under 'ignore'", seed: 7, numel: 2 * 4096 + 64, window: 3, density: 0.01, paramDtype: "f32", gradDtype: "f32", steps: 16, nonFiniteSteps: [5, 9] },
];

/**
 * Gradients whose blocks behave differently from step to step: a steady Gaussian block, one that
 * collapses (hint misses) and recovers (hint overshoots), one of exact ties, one with few
 * distinct values, one that is all zeros for a while.
 */
function gradientValues(rng: Random, c: PathCase, step: number, B: number): Float32Array {
  const out = new Float32Array(c.numel);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  for (let i = 0; i < c.numel; i++) {
    const block = Math.floor(i / B);
    const scale = 1e-3 * (1 + (block % 3));
    switch (block % 6) {
      case 0:
        out[i] = scale * gauss();
        break;
      case 1: // collapses at step 8 and 20, recovers after
        out[i] = scale * gauss() * (step === 8 || step === 20 ? 1e-4 : step === 9 || step === 21 ? 1e3 : 1);
        break;
      case 2: // exact ties in |g|
        out[i] = (rng.chance(0.5) ? -1 : 1) * scale * (1 + (i % 3));
        break;
      case 3: // few distinct values
        out[i] = scale * Math.round(gauss() * 2) / 2;
        break;
      case 4: // from the first step fewer nonzero values than the block keeps (an input rarely
        // lit: a stays sparse, the error stays zero), then zeros of both signs (a all zero)
        if (step < 6) out[i] = (i % B) % 409 === 7 ? scale * gauss() : i % 5 === 0 ? -0 : 0;
        else if (step < 12) out[i] = i % 3 === 0 ? -0 : 0;
        else out[i] = scale * gauss();
        break;
      default: // heavy tail
        out[i] = scale * gauss() * Math.exp(3 * gauss());
    }
  }
  if (c.nonFiniteSteps?.includes(step)) {
    out[rng.int(0, c.numel - 1)] = NaN;
    out[rng.int(0, c.numel - 1)] = -Infinity;
  }
  return out;
}

function encode(values: Float32Array, dtype: Dtype): ModelTensor {
  if (dtype === "f32") return { data: Float32Array.from(values), dtype };
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = dtype === "bf16" ? f32ToBf16(values[i]) : f32ToF16(values[i]);
  return { data: bits, dtype };
}

const publicTensor = (t: ModelTensor): Tensor =>
  t.dtype === "f32" ? (t.data as Float32Array) : { data: t.data as Uint16Array, dtype: t.dtype };

function stepOptions(c: PathCase, step: number) {
  return {
    lr: 1e-2 * (1 + (step % 5) / 5),
    weightDecay: c.weightDecay !== undefined && step % 2 === 0 ? c.weightDecay : undefined,
    alpha: c.alpha !== undefined && step % 3 !== 0 ? c.alpha : undefined,
    nonFinite: c.nonFiniteSteps ? ("ignore" as const) : undefined,
  };
}

/** Runs the case on the native engine; returns a digest of params and state after each step. */
export function nativeDigests(c: PathCase): string[] {
  const B = c.topkBlockSize ?? MODEL_CONFIG_DEFAULTS.topkBlockSize;
  const rng = new Random(c.seed);
  const state = createMicroAdamState({ numel: c.numel, window: c.window, density: c.density, topkBlockSize: c.topkBlockSize, quantBlockSize: c.quantBlockSize });
  const params = encode(Float32Array.from({ length: c.numel }, (_, i) => Math.sin(i) * 0.1), c.paramDtype);
  const digests: string[] = [];
  for (let step = 0; step < c.steps; step++) {
    const grads = encode(gradientValues(rng, c, step, B), c.gradDtype);
    microAdamStep(state, publicTensor(params), publicTensor(grads), stepOptions(c, step));
    const s = state.snapshot();
    digests.push(digest([rawBits(params), s.errorCodes, s.errorMin, s.errorMax, s.windowIndices, s.windowValues]));
  }
  state.dispose();
  return digests;
}

function modelDigests(c: PathCase): string[] {
  const B = c.topkBlockSize ?? MODEL_CONFIG_DEFAULTS.topkBlockSize;
  const cfg: ModelConfig = {
    ...MODEL_CONFIG_DEFAULTS,
    numel: c.numel,
    window: c.window,
    density: c.density,
    topkBlockSize: B,
    quantBlockSize: c.quantBlockSize ?? MODEL_CONFIG_DEFAULTS.quantBlockSize,
  };
  const rng = new Random(c.seed);
  const state = createModelState(cfg);
  const params = encode(Float32Array.from({ length: c.numel }, (_, i) => Math.sin(i) * 0.1), c.paramDtype);
  const digests: string[] = [];
  for (let step = 0; step < c.steps; step++) {
    const grads = encode(gradientValues(rng, c, step, B), c.gradDtype);
    const options = stepOptions(c, step);
    modelStep(cfg, state, params, grads, modelHyperparameters({ ...options, nonFinite: options.nonFinite ?? "skip" }));
    digests.push(digest([rawBits(params), state.errorCodes, state.errorMin, state.errorMax, state.windowIndices, state.windowValues]));
  }
  return digests;
}

function rawBits(t: ModelTensor): Uint32Array | Uint16Array {
  if (t.dtype !== "f32") return t.data as Uint16Array;
  const bits = new Uint32Array(t.data.length);
  // f32 NaN payloads are not part of the contract: every NaN is compared as one pattern.
  for (let i = 0; i < bits.length; i++) bits[i] = Number.isNaN(t.data[i]) ? 0x7fc00000 : f32Bits(t.data[i]);
  return bits;
}

/** FNV-1a over the arrays' elements. */
function digest(arrays: ArrayLike<number>[]): string {
  let h = 0x811c9dc5;
  for (const array of arrays) {
    h = Math.imul(h ^ array.length, 0x01000193) >>> 0;
    for (let i = 0; i < array.length; i++) h = Math.imul(h ^ array[i], 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

const CPU_PATHS = ["avx512", "avx2", "baseline"] as const;
type CpuPath = (typeof CPU_PATHS)[number];

/** Runs `script` in a child process with MICROADAM_CPU_PATH=`cpuPath`; returns its stdout. */
function inChild(cpuPath: string, script: string): string {
  return execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
    cwd: path.join(__dirname, ".."),
    env: { ...process.env, MICROADAM_CPU_PATH: cpuPath, MICROADAM_NO_AVX2: "" },
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
}

/** The digests of one forced build at `threads` threads, from a child process; null if this CPU lacks the build. */
function forcedDigests(cpuPath: CpuPath, threads: number): { kernel: string; digests: Record<string, string[]> } | null {
  const script = `
    const lib = require("./lib");
    const kernel = lib.backends().cpu.kernel;
    const out = { kernel, digests: {} };
    if (kernel === ${JSON.stringify(cpuPath)}) {
      lib.setNumThreads(${threads});
      const { nativeDigests, KERNEL_PATH_CASES } = require(${JSON.stringify(__filename)});
      for (const c of KERNEL_PATH_CASES) out.digests[c.label] = nativeDigests(c);
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const result = JSON.parse(inChild(cpuPath, script));
  return result.kernel === cpuPath ? result : null;
}

export const KERNEL_PATH_CASES = CASES;

// The child process requires this file for nativeDigests only.
if (typeof describe === "function") {
  describe("the kernel's fast paths agree with the model over many steps", () => {
    const forced: { label: string; digests: Record<string, string[]> }[] = [];
    beforeAll(() => {
      for (const cpuPath of CPU_PATHS)
        for (const threads of [1, 3]) {
          const run = forcedDigests(cpuPath, threads);
          if (run === null) {
            console.warn(`SKIPPED: the ${cpuPath} kernel build was not checked: this CPU cannot run it (MICROADAM_CPU_PATH=${cpuPath})`);
            break;
          }
          forced.push({ label: `MICROADAM_CPU_PATH=${cpuPath}, ${threads} threads`, digests: run.digests });
        }
    }, 600_000);

    test("this CPU runs the best build it has", () => {
      expect(backends().cpu.kernel).toBe(forced[0]?.label.match(/=(\w+)/)?.[1]);
    });

    test.each(CASES.map((c) => [c.label, c] as const))("%s", (_label, c) => {
      const expected = modelDigests(c);
      const native = nativeDigests(c);
      const firstDiff = (got: string[]) => got.findIndex((d, i) => d !== expected[i]);
      expect({ build: "this process", firstDifferentStep: firstDiff(native) }).toEqual({ build: "this process", firstDifferentStep: -1 });
      expect(forced.length).toBeGreaterThan(0);
      for (const run of forced)
        expect({ build: run.label, firstDifferentStep: firstDiff(run.digests[c.label]) }).toEqual({ build: run.label, firstDifferentStep: -1 });
    }, 120_000);
  });

  describe("MICROADAM_CPU_PATH", () => {
    const stepScript = `
      const lib = require("./lib");
      const info = lib.backends().cpu;
      let error = null;
      try {
        const state = lib.createMicroAdamState({ numel: 100 });
        lib.microAdamStep(state, new Float32Array(100), new Float32Array(100).fill(1), { lr: 1e-3 });
      } catch (e) { error = { name: e.constructor.name, message: e.message }; }
      process.stdout.write(JSON.stringify({ kernel: info.kernel, kernelError: info.kernelError ?? null, error }));
    `;

    test("an unknown value: steps throw a TypeError that names the variable, and backends() says why", () => {
      const out = JSON.parse(inChild("avx513", stepScript));
      expect(out.kernel).toBe("unavailable");
      expect(out.kernelError).toMatch(/^MICROADAM_CPU_PATH must be avx512, avx2 or baseline \(or unset\), but it is 'avx513'/);
      expect(out.error).toEqual({ name: "TypeError", message: out.kernelError });
    }, 60_000);

    // The non-finite scan has a version per path: each must find a NaN or an Inf wherever it
    // lies (vector bodies and scalar tails) and flag nothing else (the largest finite values,
    // subnormals, -0).
    const scanScript = `
      const lib = require("./lib");
      const f32Bits = new Uint32Array(1), f32 = new Float32Array(f32Bits.buffer);
      const found = [];
      for (const dtype of ["f32", "bf16", "f16"]) {
        const bad = dtype === "f32" ? [0x7fc00000, 0xff800000, 0x7f800001] : dtype === "bf16" ? [0x7fc0, 0xff80, 0x7f81] : [0x7e00, 0xfc00, 0x7c01];
        const edge = dtype === "f32" ? [0x7f7fffff, 0xff7fffff, 1, 0x80000000] : dtype === "bf16" ? [0x7f7f, 0xff7f, 1, 0x8000] : [0x7bff, 0xfbff, 1, 0x8000];
        for (const numel of [1, 63, 64, 65, 4096 + 77]) {
          const make = () => dtype === "f32" ? new Uint32Array(numel) : new Uint16Array(numel);
          const tensor = (bits) => dtype === "f32" ? new Float32Array(bits.buffer) : { data: bits, dtype };
          const state = lib.createMicroAdamState({ numel });
          const params = tensor(make());
          const step = (bits) => {
            try { lib.microAdamStep(state, params, tensor(bits), { lr: 1e-3, nonFinite: "error" }); return "finite"; }
            catch (e) { return e.constructor.name; }
          };
          const clean = make();
          for (let i = 0; i < numel; i++) clean[i] = edge[i % edge.length];
          if (step(clean) !== "finite") found.push(dtype + " " + numel + ": finite values flagged");
          for (const position of new Set([0, numel >> 1, numel - 1, Math.min(63, numel - 1)]))
            for (const b of bad) {
              const g = clean.slice();
              g[position] = b;
              if (step(g) === "finite") found.push(dtype + " " + numel + ": missed " + b.toString(16) + " at " + position);
            }
          state.dispose();
        }
      }
      process.stdout.write(JSON.stringify({ kernel: lib.backends().cpu.kernel, found }));
    `;

    test.each(CPU_PATHS.map((p) => [p]))("the non-finite scan on %s finds every NaN and Inf and nothing else", (cpuPath) => {
      const out = JSON.parse(inChild(cpuPath, scanScript));
      if (out.kernel !== cpuPath) {
        console.warn(`SKIPPED: the ${cpuPath} non-finite scan was not checked: this CPU cannot run it (${out.kernel})`);
        return;
      }
      expect(out.found).toEqual([]);
    }, 60_000);

    test("baseline is always available and is what it says", () => {
      const out = JSON.parse(inChild("baseline", stepScript));
      expect(out).toEqual({ kernel: "baseline", kernelError: null, error: null });
    }, 60_000);

    test("a path this CPU lacks is refused by name, never run", () => {
      const best = backends().cpu.kernel;
      const lacking = CPU_PATHS.slice(0, CPU_PATHS.indexOf(best as CpuPath));
      if (lacking.length === 0) {
        console.warn(`SKIPPED: this CPU runs every build (best: ${best}), so refusing a missing one cannot be checked here`);
        return;
      }
      const out = JSON.parse(inChild(lacking[0], stepScript));
      expect(out.kernel).toBe("unavailable");
      expect(out.kernelError).toMatch(new RegExp(`^MICROADAM_CPU_PATH=${lacking[0]}: this CPU \\(or this build\\) has no ${lacking[0]} kernel`));
      expect(out.error?.message).toBe(out.kernelError);
    }, 60_000);
  });
}
