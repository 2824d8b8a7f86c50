// The MicroAdam class with two param groups and a learning-rate schedule, on plain Float32Arrays
// (no TensorFlow.js): a linear regression y = x·W + b fitted by minibatches, the weights with
// weight decay, the bias with its own learning rate and none. The schedule (linear warmup, then
// cosine decay) scales every group's base rate each step, as torch's LambdaLR does.
//
//   npx ts-node examples/param-groups-schedule.ts [--steps 600] [--quick]

import { parseArgs } from "node:util";
import { MicroAdam } from "microadam-native";

const INPUTS = 256;
const OUTPUTS = 16;
const BATCH = 64;

/** mulberry32, so every run is the same. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = Math.imul(s ^ (s >>> 15), s | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** Linear warmup for `warmup` steps, then cosine decay to 0 at `total`: a factor in [0, 1]. */
function scheduleFactor(step: number, warmup: number, total: number): number {
  if (step < warmup) return (step + 1) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return 0.5 * (1 + Math.cos(Math.PI * progress));
}

function main(): void {
  const { values } = parseArgs({ options: { steps: { type: "string" }, quick: { type: "boolean" } } });
  const steps = values.steps !== undefined ? Number(values.steps) : values.quick ? 150 : 600;
  if (!Number.isInteger(steps) || steps < 1) throw new TypeError(`Expected positive integer for --steps but received '${values.steps}'`);
  const warmup = Math.ceil(steps / 20);

  const random = seeded(1);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const trueW = Float32Array.from({ length: INPUTS * OUTPUTS }, () => normal() / Math.sqrt(INPUTS));
  const trueB = Float32Array.from({ length: OUTPUTS }, () => normal());

  const W = new Float32Array(INPUTS * OUTPUTS);
  const b = new Float32Array(OUTPUTS);
  const baseLr = [0.02, 0.05];
  const optimizer = new MicroAdam(
    [
      { params: [W], lr: baseLr[0], weightDecay: 1e-4 },
      { params: [b], lr: baseLr[1], weightDecay: 0 },
    ],
    { lr: baseLr[0] },
  );
  console.log(
    `${INPUTS}x${OUTPUTS} weights + ${OUTPUTS} biases in 2 param groups; MicroAdam state ${optimizer.stateBytes} bytes ` +
      `(AdamW would keep ${8 * (W.length + b.length)})`,
  );

  const gradW = new Float32Array(W.length);
  const gradB = new Float32Array(b.length);
  const x = new Float32Array(BATCH * INPUTS);
  const error = new Float32Array(BATCH * OUTPUTS);
  /** Draws a batch and returns its mean squared error; fills the gradients of ½·MSE. */
  const batchLoss = (withGradients: boolean): number => {
    for (let i = 0; i < x.length; i++) x[i] = normal();
    let loss = 0;
    for (let s = 0; s < BATCH; s++)
      for (let o = 0; o < OUTPUTS; o++) {
        let prediction = b[o];
        let target = trueB[o] + 0.01 * normal();
        for (let i = 0; i < INPUTS; i++) {
          prediction += x[s * INPUTS + i] * W[i * OUTPUTS + o];
          target += x[s * INPUTS + i] * trueW[i * OUTPUTS + o];
        }
        error[s * OUTPUTS + o] = prediction - target;
        loss += (prediction - target) ** 2;
      }
    if (withGradients) {
      gradW.fill(0);
      gradB.fill(0);
      for (let s = 0; s < BATCH; s++)
        for (let o = 0; o < OUTPUTS; o++) {
          const e = error[s * OUTPUTS + o] / (BATCH * OUTPUTS);
          gradB[o] += e;
          for (let i = 0; i < INPUTS; i++) gradW[i * OUTPUTS + o] += e * x[s * INPUTS + i];
        }
    }
    return loss / (BATCH * OUTPUTS);
  };

  const initial = batchLoss(false);
  for (let t = 0; t < steps; t++) {
    // The schedule: each group's lr is its base rate times the same factor, set before the step.
    const factor = scheduleFactor(t, warmup, steps);
    optimizer.paramGroups.forEach((group, g) => (group.lr = baseLr[g] * factor));
    batchLoss(true);
    optimizer.step([gradW, gradB]);
    if (t === 0 || t === warmup - 1 || t === Math.floor(steps / 2) || t === steps - 1)
      console.log(`step ${t + 1}: lr ${optimizer.paramGroups[0].lr.toExponential(2)} (weights), ${optimizer.paramGroups[1].lr.toExponential(2)} (biases)`);
  }
  const final = batchLoss(false);
  console.log(`loss fell from ${initial.toFixed(4)} to ${final.toFixed(4)} in ${steps} steps`);
  optimizer.dispose();
}

main();
