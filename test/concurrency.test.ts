// Concurrency beyond test/async.test.ts: many async steps at once, a busy state in a batch,
// disposing a whole MicroAdam mid-step, thread-count changes mid-step, and every state
// operation while a step is in flight (refused, nothing changed).
import {
  createMicroAdamState,
  getNumThreads,
  MicroAdam,
  MicroAdamState,
  microAdamStep,
  microAdamStepAsync,
  setNumThreads,
} from "../lib";
import { binding } from "../lib/binding";

const layout = { topkBlockSize: 256, quantBlockSize: 32, window: 4, density: 0.05 } as const;

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function wave(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * Math.cos(i * 0.011 * (seed + 1)));
}

afterEach(() => setNumThreads(2));

test("64 async steps on 64 states at once, each bit-identical to the same step run alone", async () => {
  const n = 5000;
  const states = Array.from({ length: 64 }, () => createMicroAdamState({ numel: n, ...layout }));
  const params = states.map((_, i) => wave(n, i));
  const expected = params.map((p) => p.slice());
  const references = states.map(() => createMicroAdamState({ numel: n, ...layout }));
  for (let round = 1; round <= 3; round++) {
    const grads = states.map((_, i) => wave(n, 100 * round + i));
    const results = await Promise.all(states.map((s, i) => microAdamStepAsync(s, params[i], grads[i], { lr: 0.01, alpha: 0.1 })));
    expect(results.every((r) => r.step === round && !r.skipped)).toBe(true);
    references.forEach((s, i) => microAdamStep(s, expected[i], grads[i], { lr: 0.01, alpha: 0.1 }));
  }
  expect(params.every((p, i) => bytes(p).equals(bytes(expected[i])))).toBe(true);
  expect(states.every((s, i) => s.toBuffer().equals(references[i].toBuffer()))).toBe(true);
});

test("a batch with one busy state is refused whole and leaves the others free", async () => {
  // Inputs are made before the async step starts, so that it is still running when they are used.
  const n = 1_000_000;
  const [a, b] = [createMicroAdamState({ numel: n, ...layout }), createMicroAdamState({ numel: n, ...layout })];
  const [pa, pb, gb, ga, pb2] = [wave(n, 1), wave(n, 2), wave(n, 3), wave(n, 4), wave(n, 5)];
  const hyper = new Float64Array([0.01, 0.9, 0.999, 1e-8, 0, 0, 0.01, 0.9, 0.999, 1e-8, 0, 0]);
  const before = a.toBuffer();
  const paBefore = pa.slice();
  const pending = microAdamStepAsync(b, pb, gb, { lr: 0.01 });
  expect(() => binding.step([a.native, b.native], [pa, pb2], [ga, ga], new Uint8Array(4), hyper, 0)).toThrow(
    "states[1] is busy: a step on it is in flight (await it before stepping again)",
  );
  expect(a.busy).toBe(false); // acquired first, then released when b refused
  expect(a.toBuffer().equals(before)).toBe(true);
  expect(bytes(pa).equals(bytes(paBefore))).toBe(true);
  await pending;
  expect(microAdamStep(a, pa, ga, { lr: 0.01 })).toEqual({ step: 1, skipped: false });
});

test("every state operation during an async step is refused and changes nothing", async () => {
  const n = 1_000_000;
  const state = createMicroAdamState({ numel: n, ...layout });
  const params = wave(n, 1);
  const [g2, g3, g4] = [wave(n, 2), wave(n, 3), wave(n, 4)];
  microAdamStep(state, params, g2, { lr: 0.01 });
  const saved = state.snapshot();
  const checkpoint = state.toBuffer();
  const reference = MicroAdamState.fromBuffer(checkpoint);
  const expectedParams = params.slice();
  microAdamStep(reference, expectedParams, g3, { lr: 0.01 });

  const pending = microAdamStepAsync(state, params, g3, { lr: 0.01 });
  const busy: [string, () => unknown][] = [
    ["step", () => microAdamStep(state, params, g4, { lr: 0.01 })],
    ["snapshot", () => state.snapshot()],
    ["restore", () => state.restore(saved)],
    ["loadBuffer", () => state.loadBuffer(checkpoint)],
    ["toBuffer", () => state.toBuffer()],
    ["native restore", () => state.native.restore(saved)],
  ];
  const accepted = busy.filter(([, call]) => {
    try {
      call();
      return true;
    } catch (e) {
      return !/busy|in flight/.test((e as Error).message);
    }
  });
  expect(accepted.map(([name]) => name)).toEqual([]);
  await expect(microAdamStepAsync(state, params, g4, { lr: 0.01 })).rejects.toThrow("is busy");
  await pending;
  expect(state.toBuffer().equals(reference.toBuffer())).toBe(true);
  expect(bytes(params).equals(bytes(expectedParams))).toBe(true);
});

test("disposing a whole MicroAdam while its stepAsync runs is safe; later use is refused", async () => {
  const params = [wave(300_000, 1), wave(1000, 2)];
  const opt = new MicroAdam(params, { denseBelow: 0, lr: 0.01, ...layout });
  const pending = opt.stepAsync([wave(300_000, 3), wave(1000, 4)]);
  opt.dispose();
  await expect(pending).resolves.toEqual({ step: 1, skipped: false });
  expect(() => opt.step([wave(300_000, 3), wave(1000, 4)])).toThrow("states[0] was disposed");
  expect(() => opt.stateDict()).toThrow("this MicroAdam state was disposed");
  expect(() => opt.toBuffer()).toThrow("states[0] was disposed");
});

test("loadStateDict and load during an optimizer's async step are refused and change nothing", async () => {
  const params = [wave(200_000, 1), wave(100, 2)];
  const opt = new MicroAdam(params, { denseBelow: 0, lr: 0.01, ...layout });
  opt.step([wave(200_000, 5), wave(100, 6)]);
  const dict = opt.stateDict();
  const bytes = opt.toBuffer();
  opt.paramGroups[0].lr = 0.02;
  const pending = opt.stepAsync([wave(200_000, 3), wave(100, 4)]);
  expect(() => opt.loadStateDict(dict)).toThrow("cannot snapshot a state while a step on it is in flight");
  expect(() => opt.loadBuffer(bytes)).toThrow("states[0] is busy: a step on it is in flight (await it first)");
  expect(opt.paramGroups[0].lr).toBe(0.02);
  await pending;
  expect(opt.stepCount).toBe(2);
  opt.loadBuffer(bytes);
  expect(opt.stepCount).toBe(1);
  expect(opt.paramGroups[0].lr).toBe(0.01);
});

test("changing the thread count while async steps run changes no bits", async () => {
  const n = 100_000;
  const states = [0, 1, 2, 3].map(() => createMicroAdamState({ numel: n, ...layout }));
  const params = states.map((_, i) => wave(n, i));
  const expected = params.map((p) => p.slice());
  const reference = states.map(() => createMicroAdamState({ numel: n, ...layout }));
  for (let round = 0; round < 4; round++) {
    const grads = states.map((_, i) => wave(n, 10 * round + i));
    const pending = states.map((s, i) => microAdamStepAsync(s, params[i], grads[i], { lr: 0.01 }));
    for (const threads of [1, 4, 3, 2]) setNumThreads(threads); // while the steps run
    await Promise.all(pending);
    reference.forEach((s, i) => microAdamStep(s, expected[i], grads[i], { lr: 0.01 }));
  }
  expect(getNumThreads()).toBe(2);
  expect(params.every((p, i) => bytes(p).equals(bytes(expected[i])))).toBe(true);
});
