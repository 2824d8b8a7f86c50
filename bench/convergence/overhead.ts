// What the tfjs wrappers cost per step: applyGradients of MicroAdamOptimizer / AdamWOptimizer
// against the same native step on plain Float32Arrays (MicroAdam / AdamW classes), and against
// tfjs's own tf.train.adam, on the same gradients in the same process.

import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs";
import { AdamW, getNumThreads, MicroAdam } from "../../lib";
import { AdamWOptimizer, MicroAdamOptimizer } from "../../lib/tfjs";
import { seededRandom } from "../../examples/mnist/random";

export interface OverheadCase {
  name: string;
  shapes: number[][];
}

export interface OverheadResult {
  name: string;
  weightCount: number;
  tensors: number;
  repeats: number;
  threads: number;
  /** Median milliseconds per step. */
  tfjsAdam: number;
  microAdamOptimizer: number;
  microAdamNative: number;
  adamWOptimizer: number;
  adamWNative: number;
  /** The copies alone: dataSync of every gradient and variable, slice, assign. */
  copiesOnly: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Median milliseconds per call of each step function. The contenders take turns (one step each
 * per round), so garbage collection and the machine's other load fall on all of them alike.
 */
function timeInRounds(repeats: number, steps: Record<string, () => void>): Record<string, number> {
  const names = Object.keys(steps);
  for (let i = 0; i < 2; i++) for (const name of names) steps[name](); // warm up (the first step creates the states)
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < repeats; i++)
    for (const name of names) {
      const t0 = performance.now();
      steps[name]();
      times[name].push(performance.now() - t0);
    }
  return Object.fromEntries(names.map((n) => [n, median(times[n])]));
}

let caseCounter = 0;

export function measureOverhead(c: OverheadCase, repeats: number): OverheadResult {
  const random = seededRandom(7);
  const values = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (2 * random() - 1) * 0.1);
  const initial = c.shapes.map(values);
  const gradValues = c.shapes.map(values);
  const prefix = `overhead${caseCounter++}`;
  const fresh = (tag: string) => initial.map((v, i) => tf.variable(tf.tensor(v.slice(), c.shapes[i]), true, `${prefix}/${tag}/${i}`));
  const grads = gradValues.map((g, i) => tf.tensor(g, c.shapes[i]));
  const gradMap = (vars: tf.Variable[]) => Object.fromEntries(vars.map((v, i) => [v.name, grads[i]]));

  const microVars = fresh("microadam");
  const adamWVars = fresh("adamw");
  const copyVars = fresh("copies");
  const microAdam = new MicroAdamOptimizer({ learningRate: 1e-3, denseBelow: 0 });
  const adamW = new AdamWOptimizer({ learningRate: 1e-3 });
  const microNative = new MicroAdam(initial.map((v) => v.slice()), { denseBelow: 0, lr: 1e-3 });
  const adamWNative = new AdamW(initial.map((v) => v.slice()), { lr: 1e-3 });
  const microMap = gradMap(microVars);
  const adamWMap = gradMap(adamWVars);
  const times = timeInRounds(repeats, {
    microAdamOptimizer: () => microAdam.applyGradients(microMap),
    microAdamNative: () => microNative.step(gradValues),
    adamWOptimizer: () => adamW.applyGradients(adamWMap),
    adamWNative: () => adamWNative.step(gradValues),
    copiesOnly: () => {
      const copies = copyVars.map((v, i) => {
        grads[i].dataSync();
        return (v.dataSync() as Float32Array).slice();
      });
      tf.tidy(() => copyVars.forEach((v, i) => v.assign(tf.tensor(copies[i], v.shape, "float32"))));
    },
  });
  [microAdam, adamW, microNative, adamWNative].forEach((o) => o.dispose());

  // tfjs's Adam last and on its own: it is an order of magnitude slower and makes a lot of garbage.
  const adamVars = fresh("adam");
  const adamMap = gradMap(adamVars);
  const adam: tf.Optimizer = tf.train.adam(1e-3, 0.9, 0.999, 1e-8); // the base type takes gradient maps
  const { tfjsAdam } = timeInRounds(repeats, { tfjsAdam: () => adam.applyGradients(adamMap) });
  adam.dispose();
  tf.dispose([...microVars, ...adamWVars, ...copyVars, ...adamVars, ...grads]);

  return {
    name: c.name,
    weightCount: initial.reduce((sum, v) => sum + v.length, 0),
    tensors: c.shapes.length,
    repeats,
    threads: getNumThreads(),
    tfjsAdam,
    microAdamOptimizer: times.microAdamOptimizer,
    microAdamNative: times.microAdamNative,
    adamWOptimizer: times.adamWOptimizer,
    adamWNative: times.adamWNative,
    copiesOnly: times.copiesOnly,
  };
}
