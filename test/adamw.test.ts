// The native AdamW against torch.optim.AdamW's update written out in float32 (Math.fround per
// operation), bit for bit, for every dtype pair; and its optimizer class.
import { AdamW, adamWStep, createAdamWState, setNumThreads, getNumThreads, toBf16, toF16, toFloat32, floatToBf16Bits, floatToF16Bits, type Tensor } from "../lib";

const f = Math.fround;

function pow(base: number, e: number) {
  let r = 1;
  for (; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) r *= base;
    base *= base;
  }
  return r;
}

/** torch AdamW in float32: p*=1-lr*wd; m=b1*m+(1-b1)*g; v=b2*v+(1-b2)*g*g; p-=lr/bc1*m/(sqrt(v)/sqrt(bc2)+eps). */
function referenceStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, t: number, h: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number }) {
  const b1 = f(h.beta1), b2 = f(h.beta2), omb1 = f(1 - h.beta1), omb2 = f(1 - h.beta2), eps = f(h.eps);
  const decay = f(1 - h.lr * h.weightDecay);
  const stepSize = f(h.lr / (1 - pow(h.beta1, t)));
  const sqrtBc2 = f(Math.sqrt(1 - pow(h.beta2, t)));
  for (let i = 0; i < p.length; i++) {
    m[i] = f(f(b1 * m[i]) + f(omb1 * g[i]));
    v[i] = f(f(b2 * v[i]) + f(f(omb2 * g[i]) * g[i]));
    const x = f(p[i] * decay);
    p[i] = f(x - f(stepSize * f(m[i] / f(f(f(Math.sqrt(v[i])) / sqrtBc2) + eps))));
  }
}

function encode(values: Float32Array, dtype: "f32" | "bf16" | "f16"): Tensor {
  return dtype === "f32" ? values.slice() : dtype === "bf16" ? toBf16(values) : toF16(values);
}

const rounders = { f32: (x: number) => f(x), bf16: (x: number) => toFloat32({ data: Uint16Array.of(floatToBf16Bits(x)), dtype: "bf16" })[0], f16: (x: number) => toFloat32({ data: Uint16Array.of(floatToF16Bits(x)), dtype: "f16" })[0] };

describe.each(["f32", "bf16", "f16"] as const)("params %s", (paramDtype) => {
  test.each(["f32", "bf16", "f16"] as const)("grads %s: bit-identical to the float32 reference", (gradDtype) => {
    const n = 70_001; // odd, several chunks
    const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 };
    const params = encode(Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 2), paramDtype);
    const refParams = toFloat32(params as never);
    const m = new Float32Array(n), v = new Float32Array(n);
    const state = createAdamWState({ numel: n });
    for (let t = 1; t <= 5; t++) {
      const grads = encode(Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.3 + t) * (i % 7 === 0 ? 1e-3 : 1)), gradDtype);
      expect(adamWStep(state, params, grads, hyper)).toEqual({ step: t, skipped: false });
      const g = toFloat32(grads as never);
      // The reference runs in float32 and rounds to the param dtype after each step.
      referenceStep(refParams, g, m, v, t, hyper);
      for (let i = 0; i < n; i++) refParams[i] = rounders[paramDtype](refParams[i]);
    }
    expect(toFloat32(params as never)).toEqual(refParams);
    const snap = state.snapshot();
    expect(snap.expAvg).toEqual(m);
    expect(snap.expAvgSq).toEqual(v);
    expect(state.stateBytes).toBe(8 * n);
  });
});

test("thread count does not change the bits", () => {
  const before = getNumThreads();
  const run = (threads: number) => {
    setNumThreads(threads);
    const p = Float32Array.from({ length: 300_000 }, (_, i) => Math.sin(i));
    const s = createAdamWState({ numel: p.length });
    for (let t = 0; t < 3; t++) adamWStep(s, p, Float32Array.from(p, (x) => x * 0.1 + t), { lr: 0.001 });
    return p;
  };
  try {
    expect(run(1)).toEqual(run(3));
  } finally {
    setNumThreads(before);
  }
});

test("AdamW class: groups, state dict resume, non-finite skip, and exact option checks", () => {
  const make = () => [Float32Array.from({ length: 1000 }, (_, i) => i / 1000), new Float32Array(10).fill(1)];
  const grads = (t: number) => [Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i + t)), new Float32Array(10).fill(t)];
  const straight = make();
  const opt = new AdamW([{ params: [straight[0]], weightDecay: 0.1 }, { params: [straight[1]], lr: 0.1 }], { lr: 0.01 });
  for (let t = 1; t <= 6; t++) opt.step(grads(t));

  const resumed = make();
  const first = new AdamW([{ params: [resumed[0]], weightDecay: 0.1 }, { params: [resumed[1]], lr: 0.1 }], { lr: 0.01 });
  for (let t = 1; t <= 3; t++) first.step(grads(t));
  const second = new AdamW([{ params: [resumed[0]] }, { params: [resumed[1]] }], { lr: 5 });
  second.loadStateDict(structuredClone(first.stateDict()));
  for (let t = 4; t <= 6; t++) second.step(grads(t));
  expect(resumed).toEqual(straight);
  expect(second.paramGroups[1].lr).toBe(0.1);
  expect(second.stateBytes).toBe(8 * 1010);

  const bad = grads(7);
  bad[1][3] = Infinity;
  const before = opt.stateDict();
  expect(opt.step(bad)).toEqual({ step: 6, skipped: true });
  expect(opt.stateDict()).toEqual(before);
  expect(() => new AdamW(make(), { lr: 0.01, alpha: 0.5 } as never)).toThrow(
    "Unknown option options.alpha: expected only lr, beta1, beta2, eps, weightDecay, nonFinite",
  );
  expect(() => adamWStep(createAdamWState({ numel: 3 }), new Float32Array(3), new Float32Array(2), { lr: 1 })).toThrow(
    "Expected a tensor of 3 elements (the state's numel) for grads but received Float32Array of length 2",
  );
});
