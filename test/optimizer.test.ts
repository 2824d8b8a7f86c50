// MicroAdam over many tensors: same bits as stepping each tensor alone, param groups,
// schedules, and state dicts that resume bit-identically.
import { AdamW, createMicroAdamState, MicroAdam, microAdamStep, toBf16, type MicroAdamSnapshot, type Tensor } from "../lib";
import { seeded } from "./support/seeded";

const layout = { topkBlockSize: 256, quantBlockSize: 32, window: 4, density: 0.05 };
const sizes = [1000, 1, 257, 4096];

function makeParams(seed: number): Float32Array[] {
  const r = seeded(seed);
  return sizes.map((n) => Float32Array.from({ length: n }, r));
}

function gradsAt(step: number): Float32Array[] {
  const r = seeded(1000 + step);
  return sizes.map((n) => Float32Array.from({ length: n }, r));
}

test("one MicroAdam step equals stepping each tensor with its own state and group hyperparameters", () => {
  const batched = makeParams(1);
  const alone = makeParams(1);
  const opt = new MicroAdam(
    [
      { params: batched.slice(0, 2), lr: 0.01, weightDecay: 0.1 },
      { params: batched.slice(2), alpha: 0.3 },
    ],
    { denseBelow: 0, lr: 0.003, ...layout },
  );
  const states = alone.map((p) => createMicroAdamState({ numel: p.length, ...layout }));
  const groupOf = [0, 0, 1, 1];
  for (let t = 1; t <= 9; t++) {
    const lr0 = 0.01 / t; // a schedule on group 0
    opt.paramGroups[0].lr = lr0;
    const grads = gradsAt(t);
    expect(opt.step(grads)).toEqual({ step: t, skipped: false });
    alone.forEach((p, i) =>
      microAdamStep(states[i], p, grads[i], groupOf[i] === 0 ? { lr: lr0, weightDecay: 0.1 } : { lr: 0.003, alpha: 0.3 }),
    );
    alone.forEach((p, i) => expect(batched[i]).toEqual(p));
    opt.states.forEach((s, i) => expect(s.snapshot()).toEqual(states[i].snapshot()));
  }
  expect(opt.stepCount).toBe(9);
  expect(opt.stateBytes).toBe(states.reduce((sum, s) => sum + s.stateBytes, 0));
});

test("a state dict resumes bit-identically, with mixed dtypes", () => {
  const build = () => {
    const params: Tensor[] = makeParams(7);
    params[1] = toBf16(params[1] as Float32Array);
    return { params, opt: new MicroAdam(params, { denseBelow: 0, lr: 0.02, weightDecay: 0.01, ...layout }) };
  };
  const straight = build();
  for (let t = 1; t <= 12; t++) straight.opt.step(gradsAt(t));

  const first = build();
  for (let t = 1; t <= 6; t++) first.opt.step(gradsAt(t));
  // Round trip through structuredClone, as a saved-and-loaded dict would be.
  const saved = structuredClone(first.opt.stateDict());
  const savedParams = first.params.map((p) => structuredClone(p));

  const resumed = new MicroAdam(savedParams, { denseBelow: 0, lr: 999, ...layout });
  resumed.loadStateDict(saved);
  expect(resumed.paramGroups[0].lr).toBe(0.02);
  expect(resumed.stepCount).toBe(6);
  for (let t = 7; t <= 12; t++) resumed.step(gradsAt(t));
  expect(savedParams).toEqual(straight.params);
  expect(resumed.stateDict()).toEqual(straight.opt.stateDict());
});

test("loadStateDict refuses a mismatched dict and leaves the optimizer as it was", () => {
  const params = makeParams(3);
  const opt = new MicroAdam(params, { denseBelow: 0, lr: 0.01, ...layout });
  opt.step(gradsAt(1));
  const before = opt.stateDict();

  const otherLayout = new MicroAdam(makeParams(3), { denseBelow: 0, lr: 0.01, ...layout, window: 5 }).stateDict();
  expect(() => opt.loadStateDict(otherLayout)).toThrow(
    "Expected 4 (this optimizer's) for stateDict.layout.window but received 5 of type number",
  );

  const badIndex = structuredClone(before);
  (badIndex.states[3] as MicroAdamSnapshot).windowIndices[0] = 60000; // past its block of 256
  expect(() => opt.loadStateDict(badIndex)).toThrow("stateDict.states[3].windowIndices[0] = 60000 is outside its block of 256 elements");

  const shortCodes = structuredClone(before);
  (shortCodes.states[0] as MicroAdamSnapshot).errorCodes = (shortCodes.states[0] as MicroAdamSnapshot).errorCodes.subarray(1);
  expect(() => opt.loadStateDict(shortCodes)).toThrow("Expected a Uint8Array of length 500 for stateDict.states[0].errorCodes but received Uint8Array of length 499");

  expect(opt.stateDict()).toEqual(before);
});

test("non-finite gradients: a multi-tensor step is all or nothing", () => {
  const params = makeParams(5);
  const opt = new MicroAdam(params, { denseBelow: 0, lr: 0.01, ...layout });
  opt.step(gradsAt(1));
  const before = opt.stateDict();
  const paramsBefore = params.map((p) => p.slice());
  const grads = gradsAt(2);
  grads[3][4000] = NaN;
  expect(opt.step(grads)).toEqual({ step: 1, skipped: true });
  expect(params).toEqual(paramsBefore);
  expect(opt.stateDict()).toEqual(before);
  opt.nonFinite = "error";
  expect(() => opt.step(grads)).toThrow("a gradient holds NaN or Inf (nonFinite: 'error'); nothing was changed");
  expect(opt.stateDict()).toEqual(before);
});

test("skipped steps: skippedSteps counts them, the first emits one MICROADAM_STEP_SKIPPED warning", async () => {
  const emit = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
  try {
    for (const make of [
      (p: Float32Array[]) => new MicroAdam(p, { denseBelow: 0, lr: 0.01, ...layout }),
      (p: Float32Array[]) => new AdamW(p, { lr: 0.01 }),
    ]) {
      emit.mockClear();
      const opt = make(makeParams(6));
      expect(opt.skippedSteps).toBe(0);
      opt.step(gradsAt(1));
      expect(emit).not.toHaveBeenCalled();
      const bad = gradsAt(2);
      bad[0][3] = Infinity;
      expect(opt.step(bad)).toEqual({ step: 1, skipped: true });
      expect(opt.skippedSteps).toBe(1);
      await opt.stepAsync(bad);
      opt.step(gradsAt(3));
      expect(opt.step(bad)).toEqual({ step: 2, skipped: true });
      expect(opt.skippedSteps).toBe(3);
      expect(emit).toHaveBeenCalledTimes(1);
      const [message, options] = emit.mock.calls[0] as unknown as [string, { type: string; code: string }];
      expect(options).toEqual({ type: "MicroAdamWarning", code: "MICROADAM_STEP_SKIPPED" });
      expect(message).toMatch(new RegExp(`^${opt.constructor.name} skipped step 2: a gradient held NaN or Inf \\(nonFinite: 'skip'\\)`));
      opt.dispose();
    }
  } finally {
    emit.mockRestore();
  }
});

test("the skipped-step warning is a real process warning: its name and code reach a 'warning' listener", () => {
  // In a child process: jest's sandbox has its own process object for listeners.
  const script =
    `const { MicroAdam } = require(${JSON.stringify(require("path").join(__dirname, "..", "dist"))});` +
    `process.on("warning", (w) => console.log(JSON.stringify([w.name, w.code])));` +
    `const p = new Float32Array(10); const opt = new MicroAdam([p], { denseBelow: 0, lr: 0.01 });` +
    `const g = new Float32Array(10).fill(NaN); opt.step([g]); opt.step([g]); console.log(JSON.stringify(opt.skippedSteps));`;
  const out = require("child_process").execFileSync(process.execPath, ["--no-warnings", "-e", script], { encoding: "utf8" }) as string;
  expect(out.trim().split("\n")).toEqual(['2', '["MicroAdamWarning","MICROADAM_STEP_SKIPPED"]']);
});
