// The smallest use of microadam-native: one Float32Array of parameters, one optimizer state,
// and a loop of steps. It minimizes the quadratic
//   f(x) = ½ · mean_i a_i (x_i − c_i)²,   gradient_i = a_i (x_i − c_i)
// whose minimum, 0, is at x = c.
//
//   ts-node examples/typed-arrays.ts [--steps 600] [--lr 0.02] [--quick]

import { parseArgs } from "node:util";
import { createMicroAdamState, microAdamStep } from "microadam-native";

const { values: flags } = parseArgs({
  options: {
    steps: { type: "string" },
    lr: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
const steps = Number(flags.steps ?? (flags.quick ? 100 : 600));
const lr = Number(flags.lr ?? 0.02);
if (!Number.isInteger(steps) || steps < 1) throw new TypeError(`Expected positive integer for --steps but received '${flags.steps}'`);
if (!Number.isFinite(lr) || lr <= 0) throw new TypeError(`Expected positive number for --lr but received '${flags.lr}'`);

const numel = 4096;
const curvature = new Float32Array(numel);
const target = new Float32Array(numel);
for (let i = 0; i < numel; i++) {
  curvature[i] = 0.5 + 1.5 * ((i * 7919) % numel) / numel; // a_i in [0.5, 2), spread over the tensor
  target[i] = Math.sin(i);
}

const params = new Float32Array(numel); // x starts at 0
const grads = new Float32Array(numel);

/** Writes the gradient at `params` into `grads` and returns f(params). */
function lossAndGradient(): number {
  let sum = 0;
  for (let i = 0; i < numel; i++) {
    const diff = params[i] - target[i];
    grads[i] = curvature[i] * diff;
    sum += curvature[i] * diff * diff;
  }
  return (0.5 * sum) / numel;
}

// Defaults: a window of 10 sparse gradients, 1% of each 4096-element block kept per step.
const state = createMicroAdamState({ numel });
console.log(
  `${numel} float32 params; optimizer state ${state.stateBytes} bytes ` +
    `(${(state.stateBytes / numel).toFixed(3)} B/param; Adam would keep ${8 * numel})`,
);

const initialLoss = lossAndGradient();
let loss = initialLoss;
const reportEvery = Math.max(1, Math.round(steps / 6));
console.log(`step ${String(0).padStart(4)}  loss ${loss.toExponential(4)}`);
for (let t = 1; t <= steps; t++) {
  const result = microAdamStep(state, params, grads, { lr });
  loss = lossAndGradient();
  if (t % reportEvery === 0 || t === steps) {
    console.log(`step ${String(result.step).padStart(4)}  loss ${loss.toExponential(4)}`);
  }
}
console.log(`loss fell from ${initialLoss.toExponential(4)} to ${loss.toExponential(4)} in ${steps} steps (lr ${lr})`);
