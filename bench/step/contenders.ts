// The contenders of the step benchmark, each set up for one size and dtype, all in the same
// process and run: MicroAdam, the native fused AdamW, a plain JavaScript Adam, TensorFlow.js
// Adam, and a memory-bandwidth probe.
import * as path from "path";
import { adamWStep, createAdamWState, createMicroAdamState, getNumThreads, microAdamStep, toBf16, type Tensor } from "../../lib";

export type BenchDtype = "f32" | "bf16";

/**
 * Gradients for successive steps: a few different buffers used in turn, so that the Top-K and
 * the error feedback see a changing gradient as in training (a constant one would make every
 * step alike), without generating data inside the timed call.
 */
export function gradientCycle(numel: number, dtype: BenchDtype): () => Tensor {
  const buffers = [2, 5, 7].map((seed) => tensorOf(makeValues(numel, seed), dtype));
  let next = 0;
  return () => buffers[next++ % buffers.length];
}

export interface Prepared {
  run(): void;
  dispose(): void;
}

export interface Contender {
  name: string;
  /** Bytes the method must move per parameter (docs/benchmarks.md, "Bytes per parameter"). */
  bytesPerParam(dtype: BenchDtype): number;
  /** Null where the contender does not run this case (and why, for the table). */
  skipReason(numel: number, dtype: BenchDtype): string | null;
  prepare(numel: number, dtype: BenchDtype, options: MicroAdamLayout): Prepared;
}

export interface MicroAdamLayout {
  window: number;
  density: number;
}

/** Deterministic, gradient-like data: mixed signs and magnitudes, no two blocks alike. */
export function makeValues(numel: number, seed: number): Float32Array {
  const out = new Float32Array(numel);
  let s = seed >>> 0;
  for (let i = 0; i < numel; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 16777216 - 0.5) * (1 + (i % 17));
  }
  return out;
}

function tensorOf(values: Float32Array, dtype: BenchDtype): Tensor {
  return dtype === "f32" ? values : toBf16(values);
}

const elementBytes = (dtype: BenchDtype) => (dtype === "f32" ? 4 : 2);

export const microAdam: Contender = {
  name: "microadam-native MicroAdam",
  // g read 4 (+4 for the non-finite scan), p read+write 8, codes read+write 1, bucket ranges
  // read+write 4·2/64, window rows read 4·m·δ plus one row written 4·δ (m = 10, δ = 1%).
  bytesPerParam: (d) => 2 * elementBytes(d) + 2 * elementBytes(d) + 1 + 8 / 64 + 0.4 + 0.04,
  skipReason: () => null,
  prepare(numel, dtype, layout) {
    const state = createMicroAdamState({ numel, ...layout });
    const params = tensorOf(makeValues(numel, 1), dtype);
    const grads = gradientCycle(numel, dtype);
    const run = () => void microAdamStep(state, params, grads(), { lr: 1e-3 });
    // A full window first: the window moments sum min(t, m) rows, so the first m steps do less
    // work than every later one (and the first has no Top-K hint yet).
    for (let t = 0; t < layout.window; t++) run();
    return { run, dispose: () => state.dispose() };
  },
};

export const nativeAdamW: Contender = {
  name: "microadam-native AdamW (fused, fp32 moments)",
  // g read 4 (+4 for the non-finite scan), p read+write 8, m and v read+write 16.
  bytesPerParam: (d) => 2 * elementBytes(d) + 2 * elementBytes(d) + 16,
  skipReason: () => null,
  prepare(numel, dtype) {
    const state = createAdamWState({ numel });
    const params = tensorOf(makeValues(numel, 1), dtype);
    const grads = gradientCycle(numel, dtype);
    return { run: () => void adamWStep(state, params, grads(), { lr: 1e-3 }), dispose: () => state.dispose() };
  },
};

export const plainJsAdam: Contender = {
  name: "plain JavaScript Adam (one loop over Float32Arrays)",
  bytesPerParam: () => 4 + 8 + 16,
  skipReason: (_n, dtype) => (dtype === "f32" ? null : "Float32Arrays only"),
  prepare(numel) {
    const params = makeValues(numel, 1);
    const grads = makeValues(numel, 2);
    const m = new Float32Array(numel);
    const v = new Float32Array(numel);
    let t = 0;
    const lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    return {
      // Written the way a Node user would: one loop, bias corrections hoisted.
      run() {
        t++;
        const c1 = 1 - beta1 ** t;
        const c2 = 1 - beta2 ** t;
        for (let i = 0; i < numel; i++) {
          const g = grads[i];
          const mi = beta1 * m[i] + (1 - beta1) * g;
          const vi = beta2 * v[i] + (1 - beta2) * g * g;
          m[i] = mi;
          v[i] = vi;
          params[i] -= (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
        }
      },
      dispose() {},
    };
  },
};

export const tfjsAdam: Contender = {
  name: "TensorFlow.js tf.train.adam (pure-JS CPU backend)",
  bytesPerParam: () => 4 + 8 + 16,
  skipReason: (numel, dtype) =>
    dtype !== "f32" ? "float32 only" : numel > 16 * 1024 * 1024 ? "too slow past 16M (seconds per step)" : null,
  prepare(numel) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tf = require("@tensorflow/tfjs") as typeof import("@tensorflow/tfjs");
    tf.enableProdMode();
    const variable = tf.variable(tf.tensor1d(makeValues(numel, 1)), true, "w");
    const grad = tf.tensor1d(makeValues(numel, 2));
    const optimizer = tf.train.adam(1e-3);
    return {
      // applyGradients takes plain gradient tensors at run time; its typing says Variable.
      run: () => optimizer.applyGradients({ w: grad as unknown as import("@tensorflow/tfjs").Variable }),
      dispose() {
        optimizer.dispose();
        variable.dispose();
        grad.dispose();
      },
    };
  },
};

type BandwidthCopy = (destination: ArrayBufferView, source: ArrayBufferView, threads: number) => void;

/** The bench-only probe addon (bench/native/bandwidth_probe.cc), built by cmake-js beside the product addon. */
function loadBandwidthProbe(): BandwidthCopy {
  const file = path.join(__dirname, "..", "..", "build", "bench", "microadam_bandwidth_probe.node");
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(file) as { copy: BandwidthCopy }).copy;
  } catch (cause) {
    throw new Error(`the bandwidth probe addon ${file} could not be loaded: build it with 'npm run build:native' (cmake-js)`, { cause });
  }
}

/** A large parallel copy: this machine's memory bandwidth (read + write), the ceiling. */
export const bandwidthProbe: Contender = {
  name: "memory-bandwidth probe (parallel native copy)",
  bytesPerParam: () => 8,
  skipReason: () => null,
  prepare(numel) {
    const from = makeValues(numel, 3);
    const to = new Float32Array(numel);
    const copy = loadBandwidthProbe();
    const threads = getNumThreads();
    return { run: () => copy(to, from, threads), dispose() {} };
  },
};

export const allContenders = [microAdam, nativeAdamW, plainJsAdam, tfjsAdam, bandwidthProbe];
