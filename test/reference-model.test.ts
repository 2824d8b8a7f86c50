// Checks of the test-only model (test/reference/) against values worked out by hand from
// docs/algorithm.md. The bit-exact tests trust this model, so it is checked on its own first.

import {
  bf16Down,
  bf16ToF32,
  bf16Up,
  f16ToF32,
  f32Bits,
  f32FromBits,
  f32ToBf16,
  f32ToF16,
  magnitudeKey,
} from "./reference/numeric";
import {
  ModelConfig,
  ModelHyperparameters,
  ModelState,
  ModelTensor,
  checkModelConfig,
  cloneModelState,
  createModelState,
  dequantizeError,
  modelHyperparameters,
  modelLayout,
  modelStep,
  quantizeError,
  readCode,
  selectTopK,
} from "./reference/microadam-model";
import { MIXED_VALUES, Random, randomBits } from "./reference/random";

const hex = (bits: number) => "0x" + bits.toString(16).padStart(4, "0");

describe("bf16", () => {
  test("widening puts the bits in the high half", () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x0001)).toBe(2 ** -133);
    expect(bf16ToF32(0x7f7f)).toBe(3.3895313892515355e38);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0xff80)).toBe(-Infinity);
    expect(Object.is(bf16ToF32(0x8000), -0)).toBe(true);
    expect(bf16ToF32(0x7fc0)).toBeNaN();
  });

  test("nearest rounding: ties to even, subnormals, overflow, NaN", () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie, 0x3F80 even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, 0x3F82 even
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -23)).toBe(0x3f81); // just past the tie
    expect(f32ToBf16(-(1 + 2 ** -8 + 2 ** -23))).toBe(0xbf81);
    expect(f32ToBf16(f32FromBits(0x00008000))).toBe(0x0000); // subnormal tie to even 0
    expect(f32ToBf16(f32FromBits(0x00018000))).toBe(0x0002); // subnormal tie to even 2
    expect(f32ToBf16(f32FromBits(0x00008001))).toBe(0x0001);
    expect(f32ToBf16(f32FromBits(0x7f7f7fff))).toBe(0x7f7f);
    expect(f32ToBf16(f32FromBits(0x7f7f8000))).toBe(0x7f80); // tie past the top → +Inf
    expect(f32ToBf16(f32FromBits(0x7f7fffff))).toBe(0x7f80); // largest float32 → +Inf
    expect(f32ToBf16(f32FromBits(0xff7fffff))).toBe(0xff80);
    expect(f32ToBf16(Infinity)).toBe(0x7f80);
    expect(f32ToBf16(-0)).toBe(0x8000);
    expect(f32ToBf16(NaN)).toBe(0x7fc0);
    expect(f32ToBf16(f32FromBits(0xffc00001))).toBe(0x7fc0);
  });

  test("every bf16 survives the round trip, every NaN becomes 0x7FC0", () => {
    for (let bits = 0; bits <= 0xffff; bits++) {
      const isNaN = (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;
      const back = f32ToBf16(bf16ToF32(bits));
      if (back !== (isNaN ? 0x7fc0 : bits)) throw new Error(`bf16 ${hex(bits)} came back as ${hex(back)}`);
    }
  });

  test("nearest rounding picks the closer neighbour (random float32 values)", () => {
    const rng = new Random(11);
    for (let c = 0; c < 20000; c++) {
      const x = f32FromBits(rng.int(0, 0x7f7fffff)); // positive finite
      const r = f32ToBf16(x);
      const distance = (bits: number) => Math.abs(bf16ToF32(bits) - x);
      const below = r - 1;
      const above = r + 1;
      if (r > 0 && distance(below) < distance(r)) throw new Error(`${x} → ${hex(r)}, ${hex(below)} is closer`);
      if (above < 0x7f80 && distance(above) < distance(r)) throw new Error(`${x} → ${hex(r)}, ${hex(above)} is closer`);
      if (f32ToBf16(-x) !== (r | 0x8000)) throw new Error(`${-x} → ${hex(f32ToBf16(-x))}, not the mirror of ${hex(r)}`);
    }
  });
});

describe("bf16 outward rounding", () => {
  test("hand cases", () => {
    const x = 1 + 2 ** -8;
    expect([bf16Down(x), bf16Up(x)]).toEqual([0x3f80, 0x3f81]);
    expect([bf16Down(-x), bf16Up(-x)]).toEqual([0xbf81, 0xbf80]);
    expect([bf16Down(1), bf16Up(1)]).toEqual([0x3f80, 0x3f80]);
    expect([bf16Down(-0), bf16Up(-0)]).toEqual([0x8000, 0x8000]);
    expect([bf16Down(0), bf16Up(0)]).toEqual([0x0000, 0x0000]);
    expect([bf16Down(2 ** -149), bf16Up(2 ** -149)]).toEqual([0x0000, 0x0001]);
    expect([bf16Down(-(2 ** -149)), bf16Up(-(2 ** -149))]).toEqual([0x8001, 0x8000]);
  });

  test("saturates at ±0x7F7F, never ±Inf", () => {
    const largestFloat32 = f32FromBits(0x7f7fffff);
    expect([bf16Down(largestFloat32), bf16Up(largestFloat32)]).toEqual([0x7f7f, 0x7f7f]);
    expect([bf16Down(-largestFloat32), bf16Up(-largestFloat32)]).toEqual([0xff7f, 0xff7f]);
    expect([bf16Down(Infinity), bf16Up(Infinity)]).toEqual([0x7f7f, 0x7f7f]);
    expect([bf16Down(-Infinity), bf16Up(-Infinity)]).toEqual([0xff7f, 0xff7f]);
    expect(bf16Up(bf16ToF32(0x7f7f))).toBe(0x7f7f);
    expect(bf16Down(bf16ToF32(0xff7f))).toBe(0xff7f);
  });

  test("down(x) ≤ x ≤ up(x) with no bf16 in between (random float32 values)", () => {
    const rng = new Random(12);
    for (let c = 0; c < 20000; c++) {
      const bits = rng.int(0, 0xffffffff);
      if ((bits & 0x7f800000) === 0x7f800000) continue;
      const x = f32FromBits(bits);
      if (Math.abs(x) > bf16ToF32(0x7f7f)) continue; // saturation, checked above
      const down = bf16ToF32(bf16Down(x));
      const up = bf16ToF32(bf16Up(x));
      const exact = bf16ToF32(f32ToBf16(x)) === x;
      if (!(down <= x && x <= up)) throw new Error(`${x}: down ${down}, up ${up}`);
      if ((down === up) !== exact) throw new Error(`${x}: down ${down}, up ${up}, exact ${exact}`);
      // Nothing representable in between.
      if (!exact && bf16ToF32(nextBf16Above(bf16Down(x))) !== up) throw new Error(`${x}: gap between ${down} and ${up}`);
    }
  });
});

/** The bf16 right above `bits` in value (for finite values below the largest). */
function nextBf16Above(bits: number): number {
  if (bits === 0x8000) return 0x0001;
  return bits & 0x8000 ? bits - 1 : bits + 1;
}

describe("f16", () => {
  test("widening", () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0x7c01)).toBeNaN();
  });

  test("narrowing: ties to even, subnormals, overflow, NaN", () => {
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // tie between 65504 and 65536: even is Inf
    expect(f32ToF16(1e5)).toBe(0x7c00);
    expect(f32ToF16(-1e5)).toBe(0xfc00);
    expect(f32ToF16(1e38)).toBe(0x7c00);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie, even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, even
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(f32ToF16(2 ** -25 + 2 ** -40)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 (× 2^-24)
    expect(f32ToF16(1023.5 * 2 ** -24)).toBe(0x0400); // tie into the smallest normal
    expect(f32ToF16(-(2 ** -26))).toBe(0x8000);
    expect(f32ToF16(2 ** -149)).toBe(0x0000);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(NaN)).toBe(0x7e00);
  });

  test("every f16 survives the round trip, every NaN becomes 0x7E00", () => {
    for (let bits = 0; bits <= 0xffff; bits++) {
      const isNaN = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      const back = f32ToF16(f16ToF32(bits));
      if (back !== (isNaN ? 0x7e00 : bits)) throw new Error(`f16 ${hex(bits)} came back as ${hex(back)}`);
    }
  });

  test("every midpoint between neighbours goes to the even one; one float32 ulp off goes to the near one", () => {
    const nextUp = (x: number) => f32FromBits(f32Bits(x) + 1); // x > 0
    const nextDown = (x: number) => f32FromBits(f32Bits(x) - 1);
    for (let low = 0; low <= 0x7bff; low++) {
      const high = low + 1; // 0x7C00 (Inf) above 0x7BFF: the midpoint is 65520
      const midpoint = high === 0x7c00 ? 65520 : (f16ToF32(low) + f16ToF32(high)) / 2;
      if (Math.fround(midpoint) !== midpoint) throw new Error(`midpoint of ${hex(low)} not a float32`);
      const even = low % 2 === 0 ? low : high;
      const got = [f32ToF16(midpoint), f32ToF16(nextDown(midpoint)), f32ToF16(nextUp(midpoint))];
      const want = [even, low, high];
      if (got.join() !== want.join()) throw new Error(`around ${hex(low)}: got ${got.map(hex)}, want ${want.map(hex)}`);
      if (f32ToF16(-midpoint) !== (even | 0x8000)) throw new Error(`negative midpoint of ${hex(low)}`);
    }
  });
});

describe("Top-K key and selection", () => {
  test("key order is |a| order; ±0 tie; NaN above Inf", () => {
    const ascending = [0, 2 ** -149, 2 ** -126, 1e-3, 1, 3.4e38, Infinity];
    for (let i = 1; i < ascending.length; i++) {
      expect(magnitudeKey(ascending[i])).toBeGreaterThan(magnitudeKey(ascending[i - 1]));
      expect(magnitudeKey(-ascending[i])).toBe(magnitudeKey(ascending[i]));
    }
    expect(magnitudeKey(-0)).toBe(magnitudeKey(0));
    expect(magnitudeKey(NaN)).toBeGreaterThan(magnitudeKey(Infinity));
  });

  test("ties go to the smaller index; the result is in index order", () => {
    expect(selectTopK([2, -2, 2, 1], 0, 4, 2)).toEqual([0, 1]);
    expect(selectTopK([1, -2, 2, 3], 0, 4, 2)).toEqual([1, 3]); // 3, then the tie |−2| = |2|
    expect(selectTopK([-0, 0, -0], 0, 3, 1)).toEqual([0]);
    expect(selectTopK([0, 2 ** -149], 0, 2, 1)).toEqual([1]);
    expect(selectTopK([Infinity, NaN, -Infinity], 0, 3, 1)).toEqual([1]);
    expect(selectTopK([Infinity, NaN, -Infinity], 0, 3, 2)).toEqual([0, 1]);
    expect(selectTopK([9, 9, 1, 5, 5, 5], 2, 6, 2)).toEqual([3, 4]); // a block starting at 2
  });
});

describe("layout", () => {
  const defaults = { window: 10, density: 0.01, topkBlockSize: 4096, quantBlockSize: 64 };

  test("n = 1", () => {
    expect(modelLayout({ ...defaults, numel: 1 })).toEqual({
      blockCount: 1, k: [1], offsets: [0], K: 1, bucketCount: 1, stateBytes: 1 + 4 + 40,
    });
  });

  test("n = 4096 keeps 41 (1% of 4096 is 40.96)", () => {
    expect(modelLayout({ ...defaults, numel: 4096 })).toEqual({
      blockCount: 1, k: [41], offsets: [0], K: 41, bucketCount: 64, stateBytes: 2048 + 256 + 1640,
    });
  });

  test("n = 4097 adds a one-element block keeping 1", () => {
    expect(modelLayout({ ...defaults, numel: 4097 })).toEqual({
      blockCount: 2, k: [41, 1], offsets: [0, 41], K: 42, bucketCount: 65, stateBytes: 2049 + 260 + 1680,
    });
  });

  test("1% of 100 is 1 and 1% of 200 is 2, not pushed up by float64 noise", () => {
    expect(modelLayout({ ...defaults, numel: 100 }).k).toEqual([1]);
    expect(modelLayout({ ...defaults, numel: 200 }).k).toEqual([2]);
    expect(modelLayout({ ...defaults, numel: 300 }).k).toEqual([3]);
  });

  test("other densities and block sizes", () => {
    expect(modelLayout({ ...defaults, numel: 4096, density: 0.05 }).k).toEqual([205]); // 204.8
    expect(modelLayout({ ...defaults, numel: 130, topkBlockSize: 64, quantBlockSize: 8, density: 0.3 }).k)
      .toEqual([20, 20, 1]); // 19.2, 19.2, 0.6
    expect(modelLayout({ ...defaults, numel: 64, topkBlockSize: 64, quantBlockSize: 8, density: 0.25 }).k)
      .toEqual([16]); // exactly 16
    const full = modelLayout({ window: 3, density: 1, topkBlockSize: 4, quantBlockSize: 2, numel: 10 });
    expect(full).toEqual({
      blockCount: 3, k: [4, 4, 2], offsets: [0, 4, 8], K: 10, bucketCount: 5, stateBytes: 5 + 20 + 120,
    });
  });

  test("state buffers have the layout's sizes and start at zero", () => {
    const cfg = { window: 3, density: 0.3, topkBlockSize: 64, quantBlockSize: 8, numel: 131 };
    const state = createModelState(cfg);
    const { K, bucketCount, stateBytes } = modelLayout(cfg);
    expect(state.errorCodes.length).toBe(66);
    expect(state.errorMin.length).toBe(bucketCount);
    expect(state.errorMax.length).toBe(bucketCount);
    expect(state.windowIndices.length).toBe(3 * K);
    expect(state.windowValues.length).toBe(3 * K);
    const bytes = state.errorCodes.length + 2 * (2 * bucketCount) + 2 * (2 * 3 * K);
    expect(bytes).toBe(stateBytes);
    expect(state.step).toBe(0);
    expect(state.errorCodes.every((b) => b === 0)).toBe(true);
  });

  test("configurations the doc forbids are rejected", () => {
    const ok = { window: 10, density: 0.01, topkBlockSize: 64, quantBlockSize: 8, numel: 10 };
    expect(() => checkModelConfig(ok)).not.toThrow();
    expect(() => checkModelConfig({ ...ok, topkBlockSize: 60 })).toThrow(); // not a multiple of Q
    expect(() => checkModelConfig({ ...ok, quantBlockSize: 7, topkBlockSize: 63 })).toThrow(); // odd Q
    expect(() => checkModelConfig({ ...ok, density: 0 })).toThrow();
    expect(() => checkModelConfig({ ...ok, window: 0 })).toThrow();
    expect(() => checkModelConfig({ ...ok, numel: 0 })).toThrow();
  });
});

describe("error quantization", () => {
  const cfg = (numel: number, Q: number): ModelConfig => ({
    numel, window: 1, density: 1, topkBlockSize: Q, quantBlockSize: Q,
  });

  test("range rounded outward to bf16; codes 0..15; element 2i in the high nibble", () => {
    // Bucket 1 holds only 0.3 (0x3E99999A): down 0x3E99, up 0x3E9A, so it is not constant;
    // its code is (0.3 − lo)/u + 0.5 = 0.6·15 + 0.5 → 9.
    const q = quantizeError(cfg(3, 2), [1, 0, 0.3]);
    expect(Array.from(q.errorMin)).toEqual([0x0000, 0x3e99]);
    expect(Array.from(q.errorMax)).toEqual([0x3f80, 0x3e9a]);
    expect(Array.from(q.codes)).toEqual([0xf0, 0x90]);
  });

  test("min and max count −0 below +0, whatever the order", () => {
    // Minimum is a zero: −0 wins over +0 in either order; maximum is a zero: +0 wins.
    for (const values of [[0, -0, 1], [-0, 0, 1]]) expect(quantizeError(cfg(3, 4), values).errorMin[0]).toBe(0x8000);
    for (const values of [[0, -0, -1], [-0, 0, -1]]) expect(quantizeError(cfg(3, 4), values).errorMax[0]).toBe(0x0000);
    expect(quantizeError(cfg(2, 2), [-0, -0]).errorMax[0]).toBe(0x8000);
  });

  test("codes use float32 arithmetic at every operation", () => {
    const q = quantizeError(cfg(4, 4), [NaN, 2, 4, 3]);
    expect([q.errorMin[0], q.errorMax[0]]).toEqual([0x4000, 0x4080]);
    expect([0, 1, 2, 3].map((i) => readCode(q.codes, i))).toEqual([0, 0, 15, 7]);
    // u = 15/15 = 1; 0.49999997 + 0.5 is a float32 tie that rounds to 1.0, so the code is 1
    // (in float64 it would floor to 0).
    const justBelowHalf = f32FromBits(0x3effffff);
    const r = quantizeError(cfg(4, 4), [0, 15, justBelowHalf, 7]);
    expect([r.errorMin[0], r.errorMax[0]]).toEqual([0x0000, 0x4170]);
    expect([0, 1, 2, 3].map((i) => readCode(r.codes, i))).toEqual([0, 15, 1, 7]);
  });

  test("constant buckets, NaN-only buckets, overflowing ranges", () => {
    const constant = quantizeError(cfg(4, 4), [3, 3, 3, 3]);
    expect([constant.errorMin[0], constant.errorMax[0], constant.codes[0], constant.codes[1]]).toEqual([0x4040, 0x4040, 0, 0]);
    const nanOnly = quantizeError(cfg(2, 2), [NaN, NaN]);
    expect([nanOnly.errorMin[0], nanOnly.errorMax[0], nanOnly.codes[0]]).toEqual([0, 0, 0]);
    const huge = quantizeError(cfg(2, 2), [-Infinity, Infinity]);
    expect([huge.errorMin[0], huge.errorMax[0], huge.codes[0]]).toEqual([0xff7f, 0x7f7f, 0]);
    const oneInf = quantizeError(cfg(2, 2), [Infinity, 1]);
    expect([oneInf.errorMin[0], oneInf.errorMax[0]]).toEqual([0x3f80, 0x7f7f]);
    expect([readCode(oneInf.codes, 0), readCode(oneInf.codes, 1)]).toEqual([15, 0]);
  });


  test("dequantization: c·u + lo with u = (hi − lo)/15 in float32, 0 when not finite", () => {
    const codes = Uint8Array.of(0xf7, 0xf0);
    const deq = dequantizeError(cfg(4, 2), codes, Uint16Array.of(0x0000, 0xff7f), Uint16Array.of(0x3f80, 0x7f7f));
    const unit = Math.fround(1 / 15);
    expect(deq[0]).toBe(1); // fround(15·fround(1/15)) is exactly 1
    expect(deq[1]).toBe(Math.fround(7 * unit));
    expect(deq[2]).toBe(bf16ToF32(0xff7f)); // range overflows: u = 0, deq = lo
    expect(deq[3]).toBe(bf16ToF32(0xff7f));
  });
});

// ---- Whole steps worked by hand: n = 4, B = Q = 2, one kept per block, window 2 ----

const tinyConfig: ModelConfig = { numel: 4, window: 2, density: 0.5, topkBlockSize: 2, quantBlockSize: 2 };
const tinyHyper = (overrides: Partial<ModelHyperparameters> = {}): ModelHyperparameters =>
  modelHyperparameters({ lr: 0.5, beta1: 0.5, beta2: 0.5, eps: 1, ...overrides });
const f32Tensor = (values: number[]): ModelTensor => ({ data: Float32Array.from(values), dtype: "f32" });

describe("one step by hand", () => {
  // g = [0.25, −3, 1, 0.5], zero state: a = g. Block 0 keeps element 1 (|−3|), block 1 keeps
  // element 2. c1 = c2 = (1 − 0.5)/(1 − 0.5) = 1, so u_1 = −3/(3 + 1), u_2 = 1/(1 + 1).
  const grads = () => f32Tensor([0.25, -3, 1, 0.5]);

  test("state and params after step 1", () => {
    const state = createModelState(tinyConfig);
    const params = f32Tensor([1, 1, 1, 1]);
    expect(modelStep(tinyConfig, state, params, grads(), tinyHyper())).toEqual({ step: 1, skipped: false });
    expect(Array.from(params.data)).toEqual([1, 1.375, 0.75, 1]);
    expect(state.step).toBe(1);
    expect(Array.from(state.windowIndices)).toEqual([1, 0, 0, 0]); // row 0: [1, 0]; row 1 unused
    expect(Array.from(state.windowValues)).toEqual([0xc040, 0x3f80, 0, 0]);
    // a after zeroing the kept ones: [0.25, 0 | 0, 0.5] → codes [15, 0 | 0, 15].
    expect(Array.from(state.errorCodes)).toEqual([0xf0, 0x0f]);
    expect(Array.from(state.errorMin)).toEqual([0x0000, 0x0000]);
    expect(Array.from(state.errorMax)).toEqual([0x3e80, 0x3f00]);
  });

  test("steps 2 and 3: error feedback, ages, ring wrap, untouched elements", () => {
    const state = createModelState(tinyConfig);
    const params = f32Tensor([1, 1, 1, 1]);
    modelStep(tinyConfig, state, params, grads(), tinyHyper());

    // Step 2, g = 0: a = deq = [0.25, 0, 0, 0.5]; keeps element 0 and element 3 (offset 1).
    expect(modelStep(tinyConfig, state, params, f32Tensor([0, 0, 0, 0]), tinyHyper())).toEqual({ step: 2, skipped: false });
    expect(Array.from(state.windowIndices)).toEqual([1, 0, 0, 1]);
    expect(Array.from(state.windowValues)).toEqual([0xc040, 0x3f80, 0x3e80, 0x3f00]);
    expect(Array.from(state.errorCodes)).toEqual([0, 0]);
    expect(Array.from(state.errorMin)).toEqual([0, 0]);
    expect(Array.from(state.errorMax)).toEqual([0, 0]);
    // Row 0 has age 1 (weights 0.5), row 1 age 0. c1 = c2 = fround(0.5/0.75).
    const f = Math.fround;
    const c = f(2 / 3);
    const u = (M: number, W: number) => f(f(c * M) / f(f(Math.sqrt(f(c * W))) + 1));
    const afterStep2 = [
      f(1 - f(0.5 * u(0.25, 0.0625))),
      f(1.375 - f(0.5 * u(-1.5, 4.5))),
      f(0.75 - f(0.5 * u(0.5, 0.5))),
      f(1 - f(0.5 * u(0.5, 0.25))),
    ];
    expect(Array.from(params.data)).toEqual(afterStep2);

    // Step 3 writes row 0 again. g = [0, 0, 5, 0], error is zero: block 0 is a tie of zeros
    // (keeps element 0, value +0), block 1 keeps element 2. Element 1 is in no row: unchanged.
    modelStep(tinyConfig, state, params, f32Tensor([0, 0, 5, 0]), tinyHyper());
    expect(Array.from(state.windowIndices)).toEqual([0, 0, 0, 1]);
    expect(Array.from(state.windowValues)).toEqual([0x0000, 0x40a0, 0x3e80, 0x3f00]);
    const c3 = f(0.5 / 0.875);
    const u3 = (M: number, W: number) => f(f(c3 * M) / f(f(Math.sqrt(f(c3 * W))) + 1));
    // Element 0: row 0 (age 0) v = 0 then row 1 (age 1) v = 0.25, in storage order.
    expect(Array.from(params.data)).toEqual([
      f(afterStep2[0] - f(0.5 * u3(f(0 + f(0.5 * 0.25)), f(0 + f(0.5 * 0.0625))))),
      afterStep2[1],
      f(afterStep2[2] - f(0.5 * u3(5, 25))),
      f(afterStep2[3] - f(0.5 * u3(0.25, 0.125))),
    ]);
  });

  test("weight decay multiplies by d = 1 − η·λ first", () => {
    const state = createModelState(tinyConfig);
    const params = f32Tensor([1, 1, 1, 1]);
    modelStep(tinyConfig, state, params, grads(), tinyHyper({ weightDecay: 0.5 })); // d = 0.75
    expect(Array.from(params.data)).toEqual([0.75, 1.125, 0.5, 0.75]);
  });

  test("error injection (α = 0.5) adds α·deq to u and stores (1 − α)·deq", () => {
    const state = createModelState(tinyConfig);
    const params = f32Tensor([1, 1, 1, 1]);
    modelStep(tinyConfig, state, params, grads(), tinyHyper({ alpha: 0.5 }));
    // deq after step 3 = [0.25, 0, 0, 0.5]: u = [0.125, −0.75, 0.5, 0.25], e = [0.125, 0, 0, 0.25].
    expect(Array.from(params.data)).toEqual([0.9375, 1.375, 0.75, 0.875]);
    expect(Array.from(state.errorCodes)).toEqual([0xf0, 0x0f]);
    expect(Array.from(state.errorMin)).toEqual([0, 0]);
    expect(Array.from(state.errorMax)).toEqual([0x3e00, 0x3e80]);
  });

  test("half-precision params round to nearest even; untouched elements stay when ε = 0", () => {
    // ε = 0: kept elements get u = v/|v| = ∓1; the others accumulated nothing, so u = 0 (not 0/0).
    const f16 = { data: new Uint16Array(4).fill(0x3c00), dtype: "f16" } as ModelTensor;
    modelStep(tinyConfig, createModelState(tinyConfig), f16, grads(), tinyHyper({ eps: 0, lr: 3 * 2 ** -12 }));
    // 1 + 3·2^-12 → 1 + 2^-10; 1 − 3·2^-12 is a tie between 1 − 2^-11 and 1 − 2^-10 → even 0x3BFE.
    expect(Array.from(f16.data)).toEqual([0x3c00, 0x3c01, 0x3bfe, 0x3c00]);

    const bf16 = { data: new Uint16Array(4).fill(0x3f80), dtype: "bf16" } as ModelTensor;
    modelStep(tinyConfig, createModelState(tinyConfig), bf16, grads(), tinyHyper({ eps: 0, lr: 3 * 2 ** -9 }));
    expect(Array.from(bf16.data)).toEqual([0x3f80, 0x3f81, 0x3f7e, 0x3f80]);
  });

  test("half-precision gradients are widened exactly", () => {
    const fromF32 = createModelState(tinyConfig);
    const fromBf16 = createModelState(tinyConfig);
    const p1 = f32Tensor([1, 1, 1, 1]);
    const p2 = f32Tensor([1, 1, 1, 1]);
    modelStep(tinyConfig, fromF32, p1, grads(), tinyHyper());
    const bf16Grads = { data: Uint16Array.of(0x3e80, 0xc040, 0x3f80, 0x3f00), dtype: "bf16" } as ModelTensor;
    modelStep(tinyConfig, fromBf16, p2, bf16Grads, tinyHyper());
    expect(Array.from(p2.data)).toEqual(Array.from(p1.data));
    expect(fromBf16).toEqual(fromF32);
  });
});

describe("non-finite gradients", () => {
  const nanGrads = () => f32Tensor([NaN, 1, 0, 0]);

  function steppedOnce(): { state: ModelState; params: ModelTensor } {
    const state = createModelState(tinyConfig);
    const params = f32Tensor([1, 1, 1, 1]);
    modelStep(tinyConfig, state, params, f32Tensor([0.25, -3, 1, 0.5]), tinyHyper());
    return { state, params };
  }

  test("'skip' changes nothing and says so", () => {
    const { state, params } = steppedOnce();
    const before = cloneModelState(state);
    const paramsBefore = Array.from(params.data);
    expect(modelStep(tinyConfig, state, params, nanGrads(), tinyHyper({ nonFinite: "skip" }))).toEqual({ step: 1, skipped: true });
    expect(state).toEqual(before);
    expect(Array.from(params.data)).toEqual(paramsBefore);
  });

  test("'error' throws and changes nothing", () => {
    const { state, params } = steppedOnce();
    const before = cloneModelState(state);
    const paramsBefore = Array.from(params.data);
    const infGrads = { data: Uint16Array.of(0, 0, 0xfc00, 0), dtype: "f16" } as ModelTensor;
    expect(() => modelStep(tinyConfig, state, params, infGrads, tinyHyper({ nonFinite: "error" }))).toThrow(/non-finite/);
    expect(state).toEqual(before);
    expect(Array.from(params.data)).toEqual(paramsBefore);
  });

  test("'ignore' steps: a NaN is kept first (stored as 0x7FC0) and poisons only its element", () => {
    const state = createModelState(tinyConfig);
    const params = f32Tensor([1, 1, 1, 1]);
    expect(modelStep(tinyConfig, state, params, nanGrads(), tinyHyper({ nonFinite: "ignore" }))).toEqual({ step: 1, skipped: false });
    expect(Array.from(state.windowIndices.subarray(0, 2))).toEqual([0, 0]); // block 1: tie of zeros
    expect(Array.from(state.windowValues.subarray(0, 2))).toEqual([0x7fc0, 0x0000]);
    expect(params.data[0]).toBeNaN();
    expect(Array.from(params.data.subarray(1))).toEqual([1, 1, 1]); // element 2 kept with v = 0: u = 0/ε
    // a = [0 (kept), 1 | 0 (kept), 0]: bucket 0 is [0, 1], bucket 1 constant.
    expect(Array.from(state.errorCodes)).toEqual([0x0f, 0x00]);
    expect(Array.from(state.errorMax)).toEqual([0x3f80, 0x0000]);
  });
});

describe("model sanity on random inputs", () => {
  test("a constant gradient stream is deterministic and the window fills in ring order", () => {
    const cfg: ModelConfig = { numel: 70, window: 3, density: 0.1, topkBlockSize: 32, quantBlockSize: 8 };
    const rng = new Random(5);
    const grads: ModelTensor = { data: Float32Array.from(randomBits(rng, 70, "f32", MIXED_VALUES), (b) => f32FromBits(b)), dtype: "f32" };
    const a = createModelState(cfg);
    const b = createModelState(cfg);
    const pa = f32Tensor(new Array(70).fill(1));
    const pb = f32Tensor(new Array(70).fill(1));
    const { K, k, offsets } = modelLayout(cfg);
    expect(k).toEqual([4, 4, 1]); // blocks of 32, 32 and 6
    for (let t = 1; t <= 7; t++) {
      const otherRows = Array.from(a.windowValues).filter((_, slot) => Math.floor(slot / K) !== (t - 1) % 3);
      modelStep(cfg, a, pa, grads, tinyHyper({ lr: 1e-3 * t }));
      modelStep(cfg, b, pb, grads, tinyHyper({ lr: 1e-3 * t }));
      const row = (t - 1) % 3;
      // Only row (t − 1) mod m was written.
      expect(Array.from(a.windowValues).filter((_, slot) => Math.floor(slot / K) !== row)).toEqual(otherRows);
      // It holds offsets inside each block, strictly ascending within the block.
      k.forEach((kj, j) => {
        const kept = Array.from(a.windowIndices.subarray(row * K + offsets[j], row * K + offsets[j] + kj));
        const blockSize = j < 2 ? 32 : 6;
        kept.forEach((offset, q) => {
          expect(offset).toBeLessThan(blockSize);
          if (q > 0) expect(offset).toBeGreaterThan(kept[q - 1]);
        });
      });
    }
    expect(a).toEqual(b);
    expect(Array.from(pa.data)).toEqual(Array.from(pb.data));
  });
});
