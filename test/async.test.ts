// Steps off the event loop: same bits as the synchronous step, one step per state at a time.
import { createMicroAdamState, MicroAdam, microAdamStep, microAdamStepAsync } from "../lib";

const numel = 200_003;

function data(seed: number) {
  return Float32Array.from({ length: numel }, (_, i) => Math.sin(i * 0.001 + seed) * Math.cos(i * 0.37 * seed));
}

test("microAdamStepAsync gives the same bits as microAdamStep", async () => {
  const syncState = createMicroAdamState({ numel });
  const asyncState = createMicroAdamState({ numel });
  const p1 = data(1);
  const p2 = data(1);
  for (let t = 1; t <= 12; t++) {
    const g = data(t + 1);
    microAdamStep(syncState, p1, g, { lr: 0.001, weightDecay: 0.01 });
    await expect(microAdamStepAsync(asyncState, p2, g, { lr: 0.001, weightDecay: 0.01 })).resolves.toEqual({
      step: t,
      skipped: false,
    });
  }
  expect(p2).toEqual(p1);
  expect(asyncState.snapshot()).toEqual(syncState.snapshot());
});

test("a state busy with an async step refuses a second step, then works again", async () => {
  const state = createMicroAdamState({ numel });
  const params = data(2);
  const grads = data(3);
  const first = microAdamStepAsync(state, params, grads, { lr: 0.001 });
  expect(state.busy).toBe(true);
  expect(() => microAdamStep(state, params, grads, { lr: 0.001 })).toThrow(
    "states[0] is busy: a step on it is in flight (await it before stepping again)",
  );
  await expect(microAdamStepAsync(state, params, grads, { lr: 0.001 })).rejects.toThrow("is busy");
  expect(() => state.snapshot()).toThrow("cannot snapshot a state while a step on it is in flight");
  await expect(first).resolves.toEqual({ step: 1, skipped: false });
  expect(state.busy).toBe(false);
  expect(microAdamStep(state, params, grads, { lr: 0.001 })).toEqual({ step: 2, skipped: false });
});

test("async steps on different states run concurrently and each is correct", async () => {
  const states = [0, 1, 2].map(() => createMicroAdamState({ numel }));
  const reference = [0, 1, 2].map(() => createMicroAdamState({ numel }));
  const params = [0, 1, 2].map((i) => data(10 + i));
  const expected = params.map((p) => p.slice());
  const grads = [0, 1, 2].map((i) => data(20 + i));
  await Promise.all(states.map((s, i) => microAdamStepAsync(s, params[i], grads[i], { lr: 0.01 })));
  reference.forEach((s, i) => microAdamStep(s, expected[i], grads[i], { lr: 0.01 }));
  expect(params).toEqual(expected);
});

test("disposing a state while its async step runs is safe", async () => {
  const state = createMicroAdamState({ numel });
  const params = data(4);
  const pending = microAdamStepAsync(state, params, data(5), { lr: 0.01 });
  state.dispose();
  await expect(pending).resolves.toEqual(expect.objectContaining({ skipped: false }));
  expect(() => state.snapshot()).toThrow("this MicroAdam state was disposed");
});

test("MicroAdam.stepAsync matches MicroAdam.step", async () => {
  const a = [data(6), data(7).subarray(0, 1000)];
  const b = a.map((p) => p.slice());
  const optA = new MicroAdam(a, { denseBelow: 0, lr: 0.005 });
  const optB = new MicroAdam(b, { denseBelow: 0, lr: 0.005 });
  for (let t = 0; t < 3; t++) {
    const grads = [data(30 + t), data(40 + t).subarray(0, 1000)];
    optA.step(grads);
    await optB.stepAsync(grads);
  }
  expect(b).toEqual(a);
});
