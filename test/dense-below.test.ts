// MicroAdam's denseBelow: tensors under it get native AdamW states, stepped in the same native call
// as the MicroAdam states (binding.mixedStep, csrc/core/step_entry.h MixedBatch). The step must
// equal each tensor stepped alone by its own kind, bit for bit, and stay all or nothing: a
// non-finite gradient or a refused argument of either kind changes nothing. State dicts and
// checkpoints carry both kinds (version 2) and refuse a file of the other split.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  adamWStep,
  AdamWState,
  backends,
  createAdamWState,
  createMicroAdamState,
  DEFAULT_DENSE_BELOW,
  MicroAdam,
  MicroAdamState,
  microAdamStep,
  toBf16,
  type Tensor,
} from "../lib";
import { seeded } from "./support/seeded";
import type { NativeStepArgs } from "../lib/binding";
import { DEFAULT_DENSE_BELOW as TFJS_DEFAULT } from "../lib/tfjs";

const layout = { topkBlockSize: 128, quantBlockSize: 32, window: 3, density: 0.05 };
const values = (n: number, seed: number) => Float32Array.from({ length: n }, seeded(seed));
const copy = (t: Tensor): Tensor => (t instanceof Float32Array ? t.slice() : ({ data: t.data.slice(), dtype: t.dtype } as Tensor));
const bytesOf = (t: Tensor) => {
  const d = t instanceof Float32Array ? t : t.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
};
/** Sizes on both sides of denseBelow 500: dense, sparse, dense, sparse, dense (bf16 params). */
const SIZES = [7, 1000, 499, 500, 64];
const DENSE_BELOW = 500;

function build(options: { denseBelow?: number } = { denseBelow: DENSE_BELOW }) {
  const params: Tensor[] = SIZES.map((n, i) => values(n, i + 1));
  params[4] = toBf16(params[4] as Float32Array);
  const opt = new MicroAdam(
    [
      { params: params.slice(0, 2), lr: 0.01 },
      { params: params.slice(2), weightDecay: 0.1, alpha: 0.2 },
    ],
    { lr: 0.003, ...layout, ...options },
  );
  return { params, opt };
}
const gradsAt = (s: number): Tensor[] => SIZES.map((n, i) => values(n, 100 * s + i));

/** Everything the optimizer holds and the params: equal fingerprints, nothing changed. */
function fingerprint(opt: MicroAdam, params: Tensor[]): string {
  return JSON.stringify({
    params: params.map((p) => bytesOf(p).toString("base64")),
    buffer: opt.toBuffer().toString("base64"),
  });
}

test("the default denseBelow is 4096 for MicroAdam and MicroAdamOptimizer; smaller tensors get AdamW states, counted in stateBytes", () => {
  expect(DEFAULT_DENSE_BELOW).toBe(4096);
  expect(TFJS_DEFAULT).toBe(DEFAULT_DENSE_BELOW);
  const params = [new Float32Array(4095), new Float32Array(4096), new Float32Array(10)];
  const opt = new MicroAdam(params, { lr: 0.01 });
  expect(opt.denseBelow).toBe(4096);
  expect(opt.states.map((s) => (s instanceof AdamWState ? "adamw" : s instanceof MicroAdamState ? "microadam" : "?"))).toEqual(["adamw", "microadam", "adamw"]);
  expect(opt.denseTensorCount).toBe(2);
  const microBytes = createMicroAdamState({ numel: 4096 }).stateBytes;
  expect(opt.stateBytes).toBe(8 * 4095 + microBytes + 8 * 10);
  expect(opt.device).toBe("cpu");

  const none = new MicroAdam(params.map((p) => p.slice()), { lr: 0.01, denseBelow: 0 });
  expect(none.denseTensorCount).toBe(0);
  expect(none.states.every((s) => s instanceof MicroAdamState)).toBe(true);
  for (const bad of [-1, 1.5, "4096", NaN])
    expect(() => new MicroAdam([new Float32Array(3)], { lr: 0.01, denseBelow: bad as never })).toThrow(/options\.denseBelow/);
});

test("a step over both kinds equals each tensor stepped alone by its own kind, bit for bit (sync and async)", async () => {
  for (const async of [false, true]) {
    const { params, opt } = build();
    const alone = params.map(copy);
    const states = SIZES.map((n) => (n < DENSE_BELOW ? createAdamWState({ numel: n }) : createMicroAdamState({ numel: n, ...layout })));
    const groupOf = [0, 0, 1, 1, 1];
    for (let s = 1; s <= 4; s++) {
      const grads = gradsAt(s);
      const result = async ? await opt.stepAsync(grads) : opt.step(grads);
      expect(result).toEqual({ step: s, skipped: false });
      states.forEach((state, i) => {
        const { lr, beta1, beta2, eps, weightDecay, alpha } = opt.paramGroups[groupOf[i]];
        if (state instanceof AdamWState) adamWStep(state, alone[i], grads[i], { lr, beta1, beta2, eps, weightDecay });
        else microAdamStep(state as MicroAdamState, alone[i], grads[i], { lr, beta1, beta2, eps, weightDecay, alpha });
      });
      params.forEach((p, i) => expect([async, s, i, bytesOf(p).equals(bytesOf(alone[i]))]).toEqual([async, s, i, true]));
    }
    opt.states.forEach((s, i) => expect(s.snapshot()).toEqual(states[i].snapshot()));
  }
});

describe("a step over both kinds is all or nothing", () => {
  const poisoned = (i: number) => {
    const grads = gradsAt(7);
    const g = grads[i] as Float32Array;
    g[g.length - 1] = NaN;
    return grads;
  };

  test.each([
    ["a MicroAdam tensor's", 1],
    ["an AdamW tensor's", 2],
  ])("NaN in %s gradient skips the whole step (sync and async)", async (_, bad) => {
    for (const async of [false, true]) {
      const { params, opt } = build();
      opt.step(gradsAt(1));
      const before = fingerprint(opt, params);
      const grads = poisoned(bad);
      const result = async ? await opt.stepAsync(grads) : opt.step(grads);
      expect(result).toEqual({ step: 1, skipped: true });
      expect(opt.skippedSteps).toBe(1);
      expect(fingerprint(opt, params)).toBe(before);
      expect(opt.stepCount).toBe(1);
      expect(opt.states.map((s) => s.step)).toEqual([1, 1, 1, 1, 1]);
    }
  });

  test("nonFinite 'error' with a NaN in a MicroAdam tensor's gradient throws and changes no tensor of either kind", async () => {
    for (const async of [false, true]) {
      const { params, opt } = build();
      opt.nonFinite = "error";
      opt.step(gradsAt(1));
      const before = fingerprint(opt, params);
      const grads = poisoned(3);
      const run = () => (async ? opt.stepAsync(grads) : Promise.resolve().then(() => opt.step(grads)));
      await expect(run()).rejects.toThrow("a gradient holds NaN or Inf (nonFinite: 'error'); nothing was changed");
      expect(fingerprint(opt, params)).toBe(before);
    }
  });

  test("an error names the tensor by its index in the whole step, and nothing changes", () => {
    // params[1] and params[3] (both MicroAdam's) overlap, with AdamW tensors around them.
    const shared = new Float32Array(1500);
    const params: Tensor[] = [values(7, 1), shared.subarray(0, 1000), values(499, 3), shared.subarray(900, 1400), values(64, 5)];
    const opt = new MicroAdam(params, { lr: 0.003, ...layout, denseBelow: DENSE_BELOW });
    const before = fingerprint(opt, params);
    expect(() => opt.step(gradsAt(1))).toThrow(/^params\[(1|3)\] shares memory with params\[(1|3)\]$/);
    expect(fingerprint(opt, params)).toBe(before);
  });

  test("memory shared between an AdamW tensor and a MicroAdam tensor is refused, and nothing changes", () => {
    const shared = new Float32Array(1200);
    const params: Tensor[] = [shared.subarray(0, 300), shared.subarray(200, 1200)];
    const opt = new MicroAdam(params, { lr: 0.003, ...layout, denseBelow: DENSE_BELOW });
    const before = fingerprint(opt, params);
    expect(() => opt.step([values(300, 1), values(1000, 2)])).toThrow("params[0] shares memory with params[1]");
    // A gradient of one kind's tensor read from the other's params: refused too.
    const disjoint: Tensor[] = [values(300, 3), values(1000, 4)];
    const opt2 = new MicroAdam(disjoint, { lr: 0.003, ...layout, denseBelow: DENSE_BELOW });
    expect(() => opt2.step([(disjoint[1] as Float32Array).subarray(0, 300), values(1000, 5)])).toThrow("params[1] shares memory with grads[0]");
    expect(fingerprint(opt, params)).toBe(before);
    // Gradients may share memory with each other (they are only read).
    const grads = new Float32Array(1300).map(seeded(9));
    expect(opt2.step([grads.subarray(0, 300), grads.subarray(300)]).skipped).toBe(false);
  });
});

test("an async step holds every state busy, both kinds, until it settles: other steps and saves are refused", async () => {
  const { params, opt } = build();
  const reference = build();
  const pending = opt.stepAsync(gradsAt(1));
  expect(opt.states.map((s) => s.busy)).toEqual([true, true, true, true, true]);
  expect(() => opt.step(gradsAt(2))).toThrow("states[0] is busy: a step on it is in flight (await it before stepping again)");
  expect(() => opt.toBuffer()).toThrow(/busy/);
  await expect(opt.stepAsync(gradsAt(2))).rejects.toThrow("states[0] is busy");
  expect(await pending).toEqual({ step: 1, skipped: false });
  expect(opt.states.some((s) => s.busy)).toBe(false);
  reference.opt.step(gradsAt(1));
  expect(fingerprint(opt, params)).toBe(fingerprint(reference.opt, reference.params));
});

test("an async step whose AdamW tensor's params are detached before it settles is undone for both kinds", async () => {
  const { params, opt } = build();
  opt.step(gradsAt(1));
  const before = opt.toBuffer();
  const pending = opt.stepAsync(gradsAt(2));
  const gone = params[2] as Float32Array; // an AdamW tensor (499 elements)
  structuredClone(gone.buffer, { transfer: [gone.buffer as ArrayBuffer] });
  await expect(pending).rejects.toMatchObject({ code: "ERR_MICROADAM_DETACHED" });
  await expect(opt.stepAsync(gradsAt(2)).catch((e) => e.message)).resolves.toMatch(/params\[1\]\.params\[0\]/);
  expect(opt.toBuffer().equals(before)).toBe(true);
});

test("the mixed native call checks its arguments by their index in the whole call", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { binding } = require("../lib/binding") as { binding: { mixedStep(...args: NativeStepArgs): unknown } };
  const dense = createAdamWState({ numel: 4 });
  const micro = createMicroAdamState({ numel: 300, ...layout });
  const hyper = new Float64Array(12).fill(0.1);
  hyper[1] = hyper[7] = 0.9;
  hyper[2] = hyper[8] = 0.99;
  const dtypes = new Uint8Array(4);
  const args = (states: object[], params: Float32Array[], stream?: bigint): NativeStepArgs =>
    stream === undefined ? [states, params, params.map((p) => p.slice()), dtypes, hyper, 0] : [states, params, params.map((p) => p.slice()), dtypes, hyper, 0, stream];
  const p = [new Float32Array(4), new Float32Array(300)];
  expect(() => binding.mixedStep(...args([dense.native, {}], p))).toThrow("Expected a NativeState or a NativeAdamWState for states[1] but received an object");
  expect(() => binding.mixedStep(...args([dense.native, micro.native], [p[0], new Float32Array(299)]))).toThrow("params[1] must have 300 elements, received 299");
  expect(() => binding.mixedStep(...args([micro.native, dense.native], [p[1], new Float32Array(5)]))).toThrow("params[1] must have 4 elements, received 5");
  expect(() => binding.mixedStep(...args([dense.native, dense.native], [p[0], p[0].slice()]))).toThrow("states[1] is the same state as states[0]");
  expect(() => binding.mixedStep(...args([dense.native, micro.native], p, 7n))).toThrow(/Expected no stream/);
  expect(binding.mixedStep(...args([dense.native, micro.native], p))).toEqual({ skipped: false, steps: [1, 1] });
});

test("dispose() during an async step over both kinds lets the step finish, then frees every state", async () => {
  const { params, opt } = build();
  const reference = build();
  const pending = opt.stepAsync(gradsAt(1));
  opt.dispose();
  expect(await pending).toEqual({ step: 1, skipped: false });
  expect(opt.states.every((s) => s.disposed)).toBe(true);
  expect(() => opt.step(gradsAt(2))).toThrow("states[0] was disposed");
  reference.opt.step(gradsAt(1));
  params.forEach((p, i) => expect(bytesOf(p).equals(bytesOf(reference.params[i]))).toBe(true));
});

describe("state dicts and checkpoints carry both kinds", () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "dense-below-"))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("stateDict is version 2 with AdamW snapshots where the states are AdamW's, and resumes bit for bit", () => {
    const { params, opt } = build();
    opt.step(gradsAt(1));
    const dict = opt.stateDict();
    expect(dict.version).toBe(2);
    expect(dict.denseBelow).toBe(DENSE_BELOW);
    expect(dict.states.map((s) => ("expAvg" in s ? "adamw" : "microadam"))).toEqual(["adamw", "microadam", "adamw", "microadam", "adamw"]);
    const resumed = build();
    resumed.params.forEach((p, i) => bytesOf(p).set(bytesOf(params[i])));
    resumed.opt.loadStateDict(structuredClone(dict));
    opt.step(gradsAt(2));
    resumed.opt.step(gradsAt(2));
    expect(fingerprint(resumed.opt, resumed.params)).toBe(fingerprint(opt, params));

    // Without AdamW states the dict is version 1, as 0.1 wrote it.
    const plain = build({ denseBelow: 0 });
    expect(plain.opt.stateDict().version).toBe(1);
    expect("denseBelow" in plain.opt.stateDict()).toBe(false);
  });

  test("a state dict of the other split is refused by entry, naming the fix, and nothing changes", () => {
    const dense = build();
    const plain = build({ denseBelow: 0 });
    dense.opt.step(gradsAt(1));
    plain.opt.step(gradsAt(1));
    const before = fingerprint(dense.opt, dense.params);
    expect(() => dense.opt.loadStateDict(plain.opt.stateDict())).toThrow(
      "stateDict.states[0] is a MicroAdam snapshot but this optimizer has an AdamW state there (its tensor has 7 elements, under this optimizer's denseBelow (500)): construct the optimizer with the denseBelow it was saved with (0 for a state dict of version 1 with small tensors)",
    );
    expect(fingerprint(dense.opt, dense.params)).toBe(before);
    expect(() => plain.opt.loadStateDict(dense.opt.stateDict())).toThrow(
      "stateDict.states[0] is an AdamW snapshot but this optimizer has a MicroAdam state there (its tensor has 7 elements, not under this optimizer's denseBelow (0))",
    );
  });

  test("checkpoints: ADMW sections for AdamW states in a version 2 file; file, buffer and async round trips resume bit for bit", async () => {
    const { params, opt } = build();
    opt.step(gradsAt(1));
    const bytes = opt.toBuffer();
    expect(bytes.readUInt16LE(8)).toBe(2); // format version
    expect(bytes.readUInt16LE(10)).toBe(2); // kind: optimizer
    expect(bytes.readUInt32LE(12)).toBe(1 + 3 + 2 * 2); // OPTM, 3 ADMW, 2 × (LAYT, STAT)
    expect(build({ denseBelow: 0 }).opt.toBuffer().readUInt16LE(8)).toBe(1);

    const file = path.join(dir, "mixed.madam");
    opt.save(file);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    const asyncFile = path.join(dir, "mixed-async.madam");
    await opt.saveAsync(asyncFile);
    expect(fs.readFileSync(asyncFile).equals(bytes)).toBe(true);

    for (const load of [
      (o: MicroAdam) => o.load(file),
      (o: MicroAdam) => o.loadBuffer(bytes),
      (o: MicroAdam) => o.loadAsync(asyncFile),
    ]) {
      const resumed = build();
      resumed.params.forEach((p, i) => bytesOf(p).set(bytesOf(params[i])));
      await load(resumed.opt);
      expect(resumed.opt.toBuffer().equals(bytes)).toBe(true);
      resumed.opt.step(gradsAt(2));
      const reference = build();
      reference.params.forEach((p, i) => bytesOf(p).set(bytesOf(params[i])));
      reference.opt.loadBuffer(bytes);
      reference.opt.step(gradsAt(2));
      expect(fingerprint(resumed.opt, resumed.params)).toBe(fingerprint(reference.opt, reference.params));
    }
  });

  test("a checkpoint of the other split, or with a section missing, is refused and nothing changes", () => {
    const dense = build();
    const plain = build({ denseBelow: 0 });
    dense.opt.step(gradsAt(1));
    plain.opt.step(gradsAt(1));
    const before = fingerprint(plain.opt, plain.params);
    expect(() => plain.opt.loadBuffer(dense.opt.toBuffer())).toThrow(
      "checkpoint buffer does not fit this optimizer: tensor 0 has an AdamW state in the checkpoint but a MicroAdam state here (7 elements; construct the optimizer with the denseBelow it was saved with)",
    );
    expect(fingerprint(plain.opt, plain.params)).toBe(before);
    const denseBefore = fingerprint(dense.opt, dense.params);
    // A version 1 file (all MicroAdam) into an optimizer with AdamW states: LAYT where ADMW belongs.
    expect(() => dense.opt.loadBuffer(plain.opt.toBuffer())).toThrow(/tensor 0 has a MicroAdam state in the checkpoint but an AdamW state here/);
    expect(fingerprint(dense.opt, dense.params)).toBe(denseBefore);
  });
});

test("CUDA states take denseBelow 0 only (the native AdamW runs on the CPU)", () => {
  const cuda = backends().cuda;
  if (!cuda.usable) {
    console.log(`SKIPPED: denseBelow with device 'cuda' needs a usable CUDA device (${cuda.error})`);
    expect(() => new MicroAdam([new Float32Array(10)], { lr: 0.01, device: "cuda", denseBelow: 10 })).toThrow(/needs a usable CUDA device/);
    return;
  }
  expect(() => new MicroAdam([new Float32Array(10)], { lr: 0.01, device: "cuda", denseBelow: 10 })).toThrow(
    "Expected 0 for CUDA states (the native AdamW runs on the CPU only) for options.denseBelow but received 10 of type number",
  );
  const opt = new MicroAdam([new Float32Array(10)], { lr: 0.01, device: "cuda" });
  expect(opt.denseBelow).toBe(0);
  expect(opt.denseTensorCount).toBe(0);
  opt.dispose();
});
