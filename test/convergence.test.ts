// Convergence sanity: MicroAdam (defaults: m=10, 1% density, Q=64) minimizes a convex
// quadratic f(x) = ½ Σ h_i (x_i − x*_i)² with curvatures h_i ∈ [0.5, 2] to a stated tolerance,
// even though each step writes only 1% of the gradient into the window.
import { createMicroAdamState, microAdamStep } from "../lib";

const n = 10_000;
const steps = 4000;
const lr0 = 0.02;

function lcg(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

test(`MicroAdam reaches loss <= 1e-4 of the start and every coordinate within 0.05 of the optimum in ${steps} steps`, () => {
  const r = lcg(1);
  const h = Float32Array.from({ length: n }, () => 0.5 + 1.5 * r());
  const optimum = Float32Array.from({ length: n }, () => 2 * r() - 1);
  const x = new Float32Array(n);
  const g = new Float32Array(n);
  const loss = () => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += 0.5 * h[i] * (x[i] - optimum[i]) ** 2;
    return sum;
  };
  const start = loss();
  const state = createMicroAdamState({ numel: n });
  for (let t = 1; t <= steps; t++) {
    for (let i = 0; i < n; i++) g[i] = h[i] * (x[i] - optimum[i]);
    const result = microAdamStep(state, x, g, { lr: lr0 * (1 - (t - 1) / steps) });
    expect(result.skipped).toBe(false);
  }
  const end = loss();
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(x[i] - optimum[i]));
  console.log(`convex quadratic, n=${n}: loss ${start.toFixed(2)} -> ${end.toExponential(3)}, worst coordinate error ${worst.toExponential(3)}`);
  expect(end).toBeLessThanOrEqual(1e-4 * start);
  expect(worst).toBeLessThanOrEqual(0.05);
});
