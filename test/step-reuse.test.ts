// What a batched step reuses between steps (lib/batched-optimizer.ts: each group's checked
// hyperparameters, the packed dtype codes and hyperparameters, names made once) must never let a
// change between steps go unseen: hyperparameters set, groups replaced, tensors swapped for
// another dtype, arrays detached. Every step is compared bit for bit with each tensor stepped alone.
import { AdamW, adamWStep, createAdamWState, createMicroAdamState, MicroAdam, microAdamStep, toBf16, type Tensor } from "../lib";
import { seeded } from "./support/seeded";

const layout = { topkBlockSize: 128, quantBlockSize: 32, window: 3, density: 0.05 };
const sizes = [300, 7, 128, 64, 1000];
const values = (n: number, seed: number) => Float32Array.from({ length: n }, seeded(seed));
const copy = (t: Tensor): Tensor => (t instanceof Float32Array ? t.slice() : ({ data: t.data.slice(), dtype: t.dtype } as Tensor));
const data = (t: Tensor) => (t instanceof Float32Array ? t : t.data);

type Hyper = { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; alpha?: number };

test("MicroAdam: changes between steps take effect, bit for bit as each tensor stepped alone", () => {
  const params: Tensor[] = sizes.map((n, i) => values(n, i + 1));
  const alone: Tensor[] = params.map(copy);
  const opt = new MicroAdam(
    [
      { params: params.slice(0, 2), lr: 0.01 },
      { params: params.slice(2), weightDecay: 0.1, alpha: 0.2 },
    ],
    { denseBelow: 0, lr: 0.003, ...layout },
  );
  const states = sizes.map((n) => createMicroAdamState({ numel: n, ...layout }));
  const groupOf = [0, 0, 1, 1, 1];
  const hyperOf = (g: number): Hyper => {
    const { lr, beta1, beta2, eps, weightDecay, alpha } = opt.paramGroups[g];
    return { lr, beta1, beta2, eps, weightDecay, alpha };
  };
  const changes: ((grads: Tensor[]) => void)[] = [
    () => {},
    () => (opt.paramGroups[0].lr = 0.02),
    () => (opt.paramGroups[1].beta2 = 0.99),
    () => (opt.paramGroups[0].lr = 0.01), // back to an earlier value
    () => (opt.paramGroups[1] = { ...opt.paramGroups[1], eps: 1e-6, alpha: 0 }), // a group replaced
    (grads) => {
      // params[3] becomes bf16 (its own copy stepping alone too), grads[1] bf16 for this step.
      const bf = toBf16(data(params[3]) as Float32Array);
      opt.paramGroups[1].params[1] = bf;
      params[3] = bf;
      alone[3] = copy(bf);
      grads[1] = toBf16(grads[1] as Float32Array);
    },
    () => (opt.paramGroups[0].lr = 0), // +0, then -0: the packed value follows the sign
    () => (opt.paramGroups[0].lr = -0),
    () => {},
  ];
  changes.forEach((change, s) => {
    const grads: Tensor[] = sizes.map((n, i) => values(n, 100 * (s + 1) + i));
    change(grads);
    expect(opt.step(grads)).toEqual({ step: s + 1, skipped: false });
    alone.forEach((p, i) => microAdamStep(states[i], p, grads[i], hyperOf(groupOf[i])));
    params.forEach((p, i) => expect(Buffer.from(data(p).buffer).equals(Buffer.from(data(alone[i]).buffer))).toBe(true));
    opt.states.forEach((state, i) => expect(state.snapshot()).toEqual(states[i].snapshot()));
  });
});

test("AdamW: a changed weight decay and a replaced tensor take effect at the next step", () => {
  const params = sizes.map((n, i) => values(n, i + 1));
  const alone = params.map((p) => p.slice());
  const opt = new AdamW([{ params: params.slice(0, 3) }, { params: params.slice(3), weightDecay: 0.05 }], { lr: 0.01 });
  const states = sizes.map((n) => createAdamWState({ numel: n }));
  for (let s = 0; s < 4; s++) {
    if (s === 2) opt.paramGroups[1].weightDecay = 0;
    if (s === 3) {
      params[0] = params[0].slice();
      opt.paramGroups[0].params[0] = params[0];
    }
    const grads = sizes.map((n, i) => values(n, 50 * (s + 1) + i));
    opt.step(grads);
    alone.forEach((p, i) => adamWStep(states[i], p, grads[i], { lr: 0.01, weightDecay: i < 3 ? 0 : s >= 2 ? 0 : 0.05 }));
    params.forEach((p, i) => expect(Buffer.from(p.buffer).equals(Buffer.from(alone[i].buffer))).toBe(true));
  }
});

test("errors after steps that reused their checks are the same as on a first step, in the same order", () => {
  const params = sizes.map((n, i) => values(n, i + 1));
  const opt = new MicroAdam([{ params: params.slice(0, 2) }, { params: params.slice(2), lr: 0.02 }], { denseBelow: 0, lr: 0.01, ...layout });
  const grads = () => sizes.map((n, i) => values(n, 7 + i));
  opt.step(grads());
  opt.step(grads());

  opt.paramGroups[1].lr = -1;
  expect(() => opt.step(grads())).toThrow("Expected a number in [0, Infinity) for paramGroups[1].lr but received -1 of type number");
  // A tensor error in group 1's first tensor comes before the group's hyperparameters.
  const wrong = grads();
  wrong[2] = new Float32Array(5);
  expect(() => opt.step(wrong)).toThrow("Expected a tensor of 128 elements (the state's numel) for grads[2] but received Float32Array of length 5");
  opt.paramGroups[1].lr = 0.02;

  // A params array detached between steps, and one moved to shared memory.
  const detached = params[4];
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  expect(() => opt.step(grads())).toThrow("Expected a tensor of 1000 elements (the state's numel) for params[1].params[2] but received Float32Array of length 0");
  opt.paramGroups[1].params[2] = new Float32Array(new SharedArrayBuffer(4000));
  expect(() => opt.step(grads())).toThrow("Expected params[1].params[2] to be backed by a fixed-length ArrayBuffer but it is backed by a SharedArrayBuffer");
  opt.paramGroups[1].params[2] = values(1000, 5);
  expect(opt.step(grads())).toEqual({ step: 3, skipped: false });
  expect(opt.stepCount).toBe(3);
});
