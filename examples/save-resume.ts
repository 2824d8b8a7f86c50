// Saving a MicroAdam mid-training and resuming it, two ways: a checkpoint file (saveState /
// loadState: atomic write, checked on load) and an in-memory state dict (stateDict /
// loadStateDict, copied with structuredClone). Both resumed runs end bit for bit where the
// uninterrupted run ends.
//
//   npx ts-node examples/save-resume.ts [--steps 200] [--quick]

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { loadState, MicroAdam, saveState, type MicroAdamStateDict } from "microadam-native";

const SIZES = [16384, 512];

/** Deterministic numbers for (seed, i): the same gradient noise in every run that reaches a step. */
function noise(seed: number, i: number): number {
  let z = (Math.imul(seed, 0x9e3779b1) ^ Math.imul(i, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return ((z ^ (z >>> 16)) >>> 0) / 2 ** 31 - 1;
}

/** A noisy quadratic: the gradient of ½·Σ (x_i − target_i)² plus noise that depends on the step. */
function gradients(params: Float32Array[], step: number): Float32Array[] {
  return params.map((x, t) => Float32Array.from(x, (v, i) => v - noise(t + 1, i) + 0.1 * noise(1000 + step, i + t * 65536)));
}

function loss(params: Float32Array[]): number {
  let sum = 0;
  params.forEach((x, t) => x.forEach((v, i) => (sum += 0.5 * (v - noise(t + 1, i)) ** 2)));
  return sum;
}

function makeOptimizer(params: Float32Array[]): MicroAdam {
  return new MicroAdam([{ params: [params[0]], weightDecay: 0.01 }, { params: [params[1]] }], { lr: 0.02 });
}

function train(optimizer: MicroAdam, params: Float32Array[], from: number, to: number): void {
  for (let step = from; step < to; step++) optimizer.step(gradients(params, step));
}

function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  return a.every((x, t) => Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(b[t].buffer, b[t].byteOffset, b[t].byteLength)) === 0);
}

function main(): void {
  const { values } = parseArgs({ options: { steps: { type: "string" }, quick: { type: "boolean" } } });
  const total = values.steps !== undefined ? Number(values.steps) : values.quick ? 40 : 200;
  if (!Number.isInteger(total) || total < 2) throw new TypeError(`Expected an integer ≥ 2 for --steps but received '${values.steps}'`);
  const half = Math.floor(total / 2);
  const initial = () => SIZES.map((n) => new Float32Array(n));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-save-resume-"));
  try {
    // The run that is never interrupted.
    const straight = initial();
    const straightOptimizer = makeOptimizer(straight);
    const start = loss(straight);
    train(straightOptimizer, straight, 0, total);
    console.log(`${total} steps without a break: loss fell from ${start.toFixed(2)} to ${loss(straight).toFixed(2)} in ${total} steps`);

    // The same run, stopped halfway: save the parameters and the optimizer.
    const params = initial();
    const optimizer = makeOptimizer(params);
    train(optimizer, params, 0, half);
    const checkpoint = path.join(dir, "optimizer.ckpt");
    saveState(optimizer, checkpoint);
    params.forEach((x, t) => fs.writeFileSync(path.join(dir, `params${t}.bin`), x));
    const stateDict: MicroAdamStateDict = structuredClone(optimizer.stateDict());
    const paramsCopy = params.map((x) => x.slice());
    console.log(
      `saved at step ${optimizer.stepCount}: checkpoint ${fs.statSync(checkpoint).size} bytes ` +
        `(optimizer state ${optimizer.stateBytes} bytes for ${SIZES.reduce((a, b) => a + b)} parameters)`,
    );
    optimizer.dispose();

    // Resume 1: a new optimizer (a new process would do the same) loads the file.
    const fromFile = SIZES.map((n, t) => {
      const bytes = fs.readFileSync(path.join(dir, `params${t}.bin`));
      return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    });
    if (!sameBits(fromFile, paramsCopy)) throw new Error("the parameters read back differ from the ones written");
    const fileOptimizer = makeOptimizer(fromFile);
    loadState(fileOptimizer, checkpoint);
    train(fileOptimizer, fromFile, half, total);
    const fileSame = sameBits(fromFile, straight);
    console.log(`resumed from the checkpoint file at step ${half}: bit-identical to the uninterrupted run: ${fileSame}`);

    // Resume 2: the state dict kept in memory.
    const dictOptimizer = makeOptimizer(paramsCopy);
    dictOptimizer.loadStateDict(stateDict);
    train(dictOptimizer, paramsCopy, half, total);
    const dictSame = sameBits(paramsCopy, straight);
    console.log(`resumed from the state dict at step ${half}: bit-identical to the uninterrupted run: ${dictSame}`);

    [straightOptimizer, fileOptimizer, dictOptimizer].forEach((o) => o.dispose());
    if (!fileSame || !dictSame) process.exitCode = 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
