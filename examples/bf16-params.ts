// MicroAdam on bfloat16 parameters: the weights live as raw bf16 bits in a Uint16Array and are
// updated in place (each update is rounded to bf16, nearest-even), while the gradient is float32.
// With bf16 weights and MicroAdam the whole footprint is about 2 + 0.96 bytes per parameter,
// against 4 + 8 for float32 weights with Adam.
//
// It fits a least-squares linear model y ≈ X·w, with w in bf16.
//
//   ts-node examples/bf16-params.ts [--steps 400] [--lr 0.01] [--quick]

import { parseArgs } from "node:util";
import { bf16BitsToFloat, MicroAdam, toBf16 } from "microadam-native";

const { values: flags } = parseArgs({
  options: {
    steps: { type: "string" },
    lr: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
const steps = Number(flags.steps ?? (flags.quick ? 100 : 400));
const lr = Number(flags.lr ?? 0.01);
if (!Number.isInteger(steps) || steps < 1) throw new TypeError(`Expected positive integer for --steps but received '${flags.steps}'`);
if (!Number.isFinite(lr) || lr <= 0) throw new TypeError(`Expected positive number for --lr but received '${flags.lr}'`);

// A fixed problem: `samples` rows of `features` inputs, targets from a known weight vector.
const features = 2048;
const samples = 256;
let seed = 12345;
const random = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296 - 0.5;
};
const inputs = Float32Array.from({ length: samples * features }, random);
const trueWeights = Float32Array.from({ length: features }, () => 2 * random());
const targets = new Float32Array(samples);
for (let s = 0; s < samples; s++) {
  let dot = 0;
  for (let f = 0; f < features; f++) dot += inputs[s * features + f] * trueWeights[f];
  targets[s] = dot;
}

// toBf16 rounds float32 values to a bf16 tensor, { data: Uint16Array, dtype: "bf16" }.
const weights = toBf16(new Float32Array(features)); // w starts at 0
const grads = new Float32Array(features);

/** Mean squared error of the bf16 weights; writes its gradient into `grads`. */
function lossAndGradient(): number {
  grads.fill(0);
  let sum = 0;
  for (let s = 0; s < samples; s++) {
    let prediction = 0;
    for (let f = 0; f < features; f++) prediction += inputs[s * features + f] * bf16BitsToFloat(weights.data[f]);
    const residual = prediction - targets[s];
    sum += residual * residual;
    for (let f = 0; f < features; f++) grads[f] += (2 * residual * inputs[s * features + f]) / samples;
  }
  return sum / samples;
}

const optimizer = new MicroAdam([weights], { lr });
console.log(
  `${features} bf16 params (${weights.data.byteLength} bytes); MicroAdam state ${optimizer.stateBytes} bytes ` +
    `(${(optimizer.stateBytes / features).toFixed(3)} B/param; Adam would keep ${8 * features})`,
);

const initialLoss = lossAndGradient();
let loss = initialLoss;
const reportEvery = Math.max(1, Math.round(steps / 5));
console.log(`step ${String(0).padStart(4)}  mse ${loss.toExponential(4)}`);
for (let t = 1; t <= steps; t++) {
  const { step } = optimizer.step([grads]);
  loss = lossAndGradient();
  if (t % reportEvery === 0 || t === steps) console.log(`step ${String(step).padStart(4)}  mse ${loss.toExponential(4)}`);
}
console.log(`mse fell from ${initialLoss.toExponential(4)} to ${loss.toExponential(4)} in ${steps} steps (lr ${lr})`);
console.log(`first weights (bf16 → float): ${Array.from(weights.data.subarray(0, 4), bf16BitsToFloat).map((w) => w.toFixed(4)).join(", ")}`);
