// A tiny tfjs model, where MicroAdam everywhere lags Adam: an 8-16-1 MLP (161 weights) fitting a
// smooth function, trained by model.fit with tf.train.adam, with MicroAdamOptimizer's defaults
// (denseBelow 4096: every variable of this model on the native AdamW), and with denseBelow 0
// (every variable on MicroAdam, the default before 2026-12-05). Same data, initial weights,
// batches and learning rate for all; prints the training loss (MSE) at each chosen epoch.
//
//   npx ts-node bench/tiny-mlp.ts [--epochs 20] [--lr 0.01] [--seeds 3]
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { MicroAdamOptimizer } from "../lib/tfjs";

export type TinyVariant = "adam" | "microadam-default" | "microadam-denseBelow-0";
export const TINY_VARIANTS: TinyVariant[] = ["adam", "microadam-default", "microadam-denseBelow-0"];

function seeded(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** 512 samples of 8 inputs in [-1, 1); target sin(x0 + x1) · x2 + 0.5 · x3² − 0.3 · x4. */
function data(): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const n = 512;
  const x = seeded(n * 8, 7);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = x.subarray(8 * i, 8 * i + 8);
    y[i] = Math.sin(r[0] + r[1]) * r[2] + 0.5 * r[3] * r[3] - 0.3 * r[4];
  }
  return { xs: tf.tensor2d(x, [n, 8]), ys: tf.tensor2d(y, [n, 1]) };
}

/** The loss after each epoch (index 0 = epoch 1) of one run. */
export async function trainTiny(variant: TinyVariant, options: { epochs: number; lr: number; seed: number }): Promise<number[]> {
  const optimizer =
    variant === "adam"
      ? tf.train.adam(options.lr, 0.9, 0.999, 1e-8)
      : new MicroAdamOptimizer({ learningRate: options.lr, ...(variant === "microadam-denseBelow-0" ? { denseBelow: 0 } : {}) });
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 16, inputShape: [8], activation: "tanh", kernelInitializer: tf.initializers.glorotUniform({ seed: options.seed }) }),
      tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: options.seed + 1 }) }),
    ],
  });
  model.compile({ optimizer, loss: "meanSquaredError" });
  const { xs, ys } = data();
  const history = await model.fit(xs, ys, { epochs: options.epochs, batchSize: 32, shuffle: false, verbose: 0 });
  tf.dispose([xs, ys]);
  model.dispose();
  optimizer.dispose();
  return history.history.loss as number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { epochs: { type: "string" }, lr: { type: "string" }, seeds: { type: "string" } } });
  const epochs = Number(values.epochs ?? 20);
  const lr = Number(values.lr ?? 0.01);
  const seeds = Number(values.seeds ?? 3);
  if (!Number.isInteger(epochs) || epochs < 1) throw new TypeError(`Expected positive integer for --epochs but received '${values.epochs}'`);
  if (!(lr > 0)) throw new TypeError(`Expected positive number for --lr but received '${values.lr}'`);
  if (!Number.isInteger(seeds) || seeds < 1) throw new TypeError(`Expected positive integer for --seeds but received '${values.seeds}'`);
  console.log(`8-16-1 MLP (161 weights), 512 samples, batch 32, lr ${lr}, loss (MSE) at epoch ${epochs}; tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`);
  for (const variant of TINY_VARIANTS) {
    const finals: number[] = [];
    for (let s = 0; s < seeds; s++) finals.push((await trainTiny(variant, { epochs, lr, seed: 100 + 2 * s })).at(-1)!);
    const mean = finals.reduce((a, b) => a + b, 0) / finals.length;
    console.log(`${variant.padEnd(24)} mean ${mean.toPrecision(4)}  seeds ${finals.map((v) => v.toPrecision(4)).join(" ")}`);
  }
}

if (require.main === module) {
  tf.setBackend("cpu").then(main, (e) => {
    throw e;
  });
}
