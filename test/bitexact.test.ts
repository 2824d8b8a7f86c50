// The native engine, through the public API, against the test-only model of
// docs/algorithm.md (test/reference/): params, every state buffer and the step result must be
// identical, bit for bit, after every step. Inputs come from fixed seeds, so a failure names
// its case and can be replayed.

import {
  createMicroAdamState,
  getNumThreads,
  microAdamStep,
  microAdamStepAsync,
  setNumThreads,
} from "../lib";
import type { Dtype, MicroAdamSnapshot, MicroAdamStepOptions, NonFinitePolicy, StepResult, Tensor } from "../lib/types";
import {
  MODEL_CONFIG_DEFAULTS,
  ModelConfig,
  ModelState,
  ModelTensor,
  cloneModelState,
  createModelState,
  modelHyperparameters,
  modelLayout,
  modelStep,
} from "./reference/microadam-model";
import { bf16ToF32, f16ToF32, f32FromBits } from "./reference/numeric";
import {
  MIXED_VALUES,
  NonFiniteKind,
  PARAM_VALUES,
  Random,
  ValueProfile,
  cloneTensor,
  injectNonFinite,
  profile,
  randomTensor,
} from "./reference/random";

// ---- Cases ----

/** Layout options as given to createMicroAdamState; a missing one means "use the default". */
interface LayoutOptions {
  numel: number;
  window?: number;
  density?: number;
  topkBlockSize?: number;
  quantBlockSize?: number;
}

interface AgreementCase {
  label: string;
  seed: number;
  layout: LayoutOptions;
  paramDtype: Dtype;
  gradDtype: Dtype;
  steps: number;
  gradValues: ValueProfile;
  /** Per-step options before the lr schedule; a missing field is left to the API's default. */
  hyper: Omit<MicroAdamStepOptions, "lr"> & { lr: number };
  /** Steps (1-based calls) whose gradient gets non-finite values, and which kinds. */
  nonFinite?: { calls: number[]; kinds: NonFiniteKind[] };
}

const DTYPES: Dtype[] = ["f32", "bf16", "f16"];
const DTYPE_PAIRS: [Dtype, Dtype][] = DTYPES.flatMap((p) => DTYPES.map((g) => [p, g] as [Dtype, Dtype]));

function resolvedConfig(layout: LayoutOptions): ModelConfig {
  return { ...MODEL_CONFIG_DEFAULTS, ...definedOnly(layout) } as ModelConfig;
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Sizes around the edges of blocks and buckets, plus a random one. */
function pickNumel(rng: Random, B: number, Q: number): number {
  const sizes = [1, 2, 3, Q - 1, Q + 1, B - 1, B, B + 1, 2 * B + Q / 2 + 1, 3 * B + 7, rng.int(1, 4 * B + 17)];
  return Math.max(1, rng.pick(sizes));
}

function randomSmallBlockCases(count: number): AgreementCase[] {
  const cases: AgreementCase[] = [];
  for (let c = 0; c < count; c++) {
    const seed = 1000 + c;
    const rng = new Random(seed);
    const [paramDtype, gradDtype] = DTYPE_PAIRS[c % DTYPE_PAIRS.length];
    const B = rng.pick([64, 128, 256]);
    const Q = rng.pick([2, 8, 16, 64]);
    const window = rng.pick([1, 3, 10]);
    cases.push({
      label: `random #${c}`,
      seed,
      // (B − 1)/B keeps all but one element of a full block (k = tile − 1).
      layout: { numel: pickNumel(rng, B, Q), window, density: rng.pick([0.01, 0.05, 0.3, 1, (B - 1) / B]), topkBlockSize: B, quantBlockSize: Q },
      paramDtype,
      gradDtype,
      steps: 2 * window + 3,
      gradValues: MIXED_VALUES,
      hyper: {
        lr: rng.pick([1e-3, 1e-2, 0.3]),
        beta1: rng.pick([0.9, 0.5, 0]),
        beta2: rng.pick([0.999, 0.9, 0.5]),
        eps: rng.pick([1e-8, 1e-8, 1e-3]),
        weightDecay: rng.pick([0, 0, 0.01, 0.1]),
        alpha: rng.pick([0, 0, 0.1, 0.5, 0.9]),
      },
    });
  }
  return cases;
}

function defaultLayoutCases(): AgreementCase[] {
  const base = { gradValues: MIXED_VALUES, hyper: { lr: 1e-2 } };
  return [
    // Everything at its default: options omitted on both calls.
    { ...base, label: "defaults n=4097", seed: 2001, layout: { numel: 4097 }, paramDtype: "f32", gradDtype: "f32", steps: 23 },
    { ...base, label: "defaults n=4096 m=3", seed: 2002, layout: { numel: 4096, window: 3 }, paramDtype: "bf16", gradDtype: "f32", steps: 9 },
    { ...base, label: "defaults n=8193 m=3", seed: 2003, layout: { numel: 8193, window: 3 }, paramDtype: "f16", gradDtype: "bf16", steps: 9,
      hyper: { lr: 3e-3, weightDecay: 0.05, alpha: 0.3 } },
    { ...base, label: "defaults n=6001 m=1 δ=0.05", seed: 2004, layout: { numel: 6001, window: 1, density: 0.05 }, paramDtype: "f32", gradDtype: "f16", steps: 5,
      hyper: { lr: 0.1, beta1: 0.5, beta2: 0.9 } },
  ];
}

/** Hostile gradients on a small layout (3 blocks of 64 and a tail; buckets of 8), every dtype pair. */
function hostileCases(): AgreementCase[] {
  const profiles: [string, ValueProfile][] = [
    ["±0 only", profile({ zeros: 1 })],
    ["exact ties", profile({ zeros: 0.05, ties: 0.85, runs: 0, subnormals: 0 })],
    ["constant runs", profile({ runs: 0.6, maxRun: 40 })],
    ["all one value", profile({ zeros: 0, ties: 0, runs: 1, subnormals: 0, maxRun: 1000 })],
    ["subnormals", profile({ zeros: 0.1, subnormals: 0.7 })],
    ["huge", profile({ huge: 0.3 })],
    ["everything", profile({ zeros: 0.1, ties: 0.2, runs: 0.1, subnormals: 0.1, huge: 0.05 })],
  ];
  const cases: AgreementCase[] = [];
  profiles.forEach(([name, values], p) => {
    DTYPE_PAIRS.forEach(([paramDtype, gradDtype], d) => {
      const seed = 3000 + 10 * p + d;
      cases.push({
        label: `${name}, ${paramDtype} params, ${gradDtype} grads`,
        seed,
        layout: { numel: 205, window: 3, density: [0.01, 0.05, 0.3, 1][(p + d) % 4], topkBlockSize: 64, quantBlockSize: 8 },
        paramDtype,
        gradDtype,
        steps: 9,
        gradValues: values,
        hyper: { lr: 0.05, weightDecay: d % 2 ? 0.1 : 0, alpha: d % 3 === 0 ? 0.5 : 0 },
      });
    });
  });
  return cases;
}

/** NaN and ±Inf gradients under each policy ('skip' is also tested as the default). */
function nonFiniteCases(): AgreementCase[] {
  const policies: (NonFinitePolicy | undefined)[] = ["skip", "error", "ignore", undefined];
  const cases: AgreementCase[] = [];
  policies.forEach((policy, p) => {
    DTYPE_PAIRS.forEach(([paramDtype, gradDtype], d) => {
      cases.push({
        label: `non-finite, policy ${policy ?? "default"}, ${paramDtype} params, ${gradDtype} grads`,
        seed: 4000 + 10 * p + d,
        layout: { numel: 150, window: 3, density: 0.05, topkBlockSize: 64, quantBlockSize: 16 },
        paramDtype,
        gradDtype,
        steps: 9,
        gradValues: MIXED_VALUES,
        hyper: { lr: 0.01, nonFinite: policy, alpha: d % 2 ? 0.25 : 0 },
        nonFinite: { calls: [2, 5, 6], kinds: d % 3 === 0 ? ["nan"] : d % 3 === 1 ? ["inf", "-inf"] : ["nan", "-nan", "inf", "-inf"] },
      });
    });
  });
  return cases;
}

// ---- Inputs and the model's expected trajectory ----

interface PlannedCall {
  grads: ModelTensor;
  options: MicroAdamStepOptions;
}

interface Plan {
  config: ModelConfig;
  initialParams: ModelTensor;
  calls: PlannedCall[];
}

function planCase(c: AgreementCase): Plan {
  const rng = new Random(c.seed);
  const config = resolvedConfig(c.layout);
  const initialParams = randomTensor(rng, config.numel, c.paramDtype, PARAM_VALUES);
  const calls: PlannedCall[] = [];
  for (let call = 1; call <= c.steps; call++) {
    const grads = randomTensor(rng, config.numel, c.gradDtype, c.gradValues);
    if (c.nonFinite?.calls.includes(call)) injectNonFinite(rng, grads, rng.int(1, 3), c.nonFinite.kinds);
    // A schedule: lr moves every step, and is sometimes 0.
    const lr = rng.chance(0.05) ? 0 : c.hyper.lr * (0.25 + 1.5 * rng.next());
    calls.push({ grads, options: definedOnly({ ...c.hyper, lr }) as MicroAdamStepOptions });
  }
  return { config, initialParams, calls };
}

type Outcome = { result: StepResult } | { threw: string };

interface ExpectedCall {
  outcome: Outcome;
  params: ModelTensor;
  state: ModelState;
}

function modelTrajectory(plan: Plan): ExpectedCall[] {
  const state = createModelState(plan.config);
  const params = cloneTensor(plan.initialParams);
  return plan.calls.map(({ grads, options }) => {
    let outcome: Outcome;
    try {
      outcome = { result: modelStep(plan.config, state, params, grads, modelHyperparameters(options)) };
    } catch (error) {
      outcome = { threw: String(error) };
    }
    return { outcome, params: cloneTensor(params), state: cloneModelState(state) };
  });
}

// ---- Comparison ----

type NativeStep = (
  state: ReturnType<typeof createMicroAdamState>,
  params: Tensor,
  grads: Tensor,
  options: MicroAdamStepOptions,
) => Promise<StepResult>;

const syncStep: NativeStep = async (state, params, grads, options) => microAdamStep(state, params, grads, options);
const asyncStep: NativeStep = (state, params, grads, options) => microAdamStepAsync(state, params, grads, options);

/** The public form of a tensor: f32 alternates between a bare Float32Array and the tagged form. */
function publicTensor(tensor: ModelTensor, bareF32: boolean): Tensor {
  if (tensor.dtype === "f32") return bareF32 ? (tensor.data as Float32Array) : { data: tensor.data as Float32Array, dtype: "f32" };
  return { data: tensor.data as Uint16Array, dtype: tensor.dtype };
}

function rawBits(tensor: ModelTensor): Uint32Array | Uint16Array {
  return tensor.dtype === "f32"
    ? new Uint32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length)
    : (tensor.data as Uint16Array);
}

const isF32NaN = (bits: number) => (bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0;

/** How to show one element of a compared array. */
type Show = (value: number, index: number) => string;
const showHex = (digits: number): Show => (v) => "0x" + v.toString(16).padStart(digits, "0");
const showBits = (dtype: Dtype): Show => (v) => {
  const value = dtype === "f32" ? f32FromBits(v) : dtype === "bf16" ? bf16ToF32(v) : f16ToF32(v);
  return `${showHex(dtype === "f32" ? 8 : 4)(v, 0)} (${value})`;
};

class Mismatch extends Error {}

/** Throws with the first differing index, both values and the case when the arrays differ. */
function expectSameArray(
  where: string,
  field: string,
  expected: ArrayLike<number>,
  actual: ArrayLike<number>,
  show: Show,
  same: (e: number, a: number) => boolean = (e, a) => e === a,
): void {
  if (expected.length !== actual.length) {
    throw new Mismatch(`${where}\n  ${field}: length ${actual.length}, model says ${expected.length}`);
  }
  for (let i = 0; i < expected.length; i++) {
    if (!same(expected[i], actual[i])) {
      throw new Mismatch(
        `${where}\n  ${field}[${i}]: native ${show(actual[i], i)}, model ${show(expected[i], i)}`,
      );
    }
  }
}

function expectSameState(where: string, expected: ModelState, actual: MicroAdamSnapshot, K: number): void {
  if (actual.step !== expected.step) throw new Mismatch(`${where}\n  snapshot step: native ${actual.step}, model ${expected.step}`);
  const slot: Show = (v, i) => `${showHex(4)(v, i)} (row ${Math.floor(i / K)}, slot ${i % K})`;
  expectSameArray(where, "errorCodes", expected.errorCodes, actual.errorCodes, showHex(2));
  expectSameArray(where, "errorMin", expected.errorMin, actual.errorMin, showBits("bf16"));
  expectSameArray(where, "errorMax", expected.errorMax, actual.errorMax, showBits("bf16"));
  expectSameArray(where, "windowIndices", expected.windowIndices, actual.windowIndices, slot);
  expectSameArray(where, "windowValues", expected.windowValues, actual.windowValues, (v, i) => `${showBits("bf16")(v, i)} at ${slot(v, i)}`);
}

function expectSameParams(where: string, expected: ModelTensor, actual: ModelTensor): void {
  // f32 NaN payloads are not part of the contract (a JS model cannot track them).
  const same = expected.dtype === "f32" ? (e: number, a: number) => e === a || (isF32NaN(e) && isF32NaN(a)) : undefined;
  expectSameArray(where, "params", rawBits(expected), rawBits(actual), showBits(expected.dtype), same);
}

function describeCase(c: AgreementCase, config: ModelConfig): string {
  const { label, seed, paramDtype, gradDtype, steps, hyper } = c;
  return `case "${label}" (seed ${seed}): ${JSON.stringify({ ...config, paramDtype, gradDtype, steps, hyper })}`;
}

/** Runs the planned calls on a fresh native state and checks every call against the model. */
async function expectNativeMatches(c: AgreementCase, plan: Plan, expected: ExpectedCall[], step: NativeStep): Promise<void> {
  const { config } = plan;
  const layout = modelLayout(config);
  const header = describeCase(c, config);
  const state = createMicroAdamState(c.layout);
  const initial = state.snapshot();
  const at = (what: string) => `${header}\n  ${what}`;
  if (state.stateBytes !== layout.stateBytes) throw new Mismatch(at(`stateBytes: native ${state.stateBytes}, model ${layout.stateBytes}`));
  expectSameState(at("fresh state"), createModelState(config), initial, layout.K);

  const params = cloneTensor(plan.initialParams);
  for (let call = 0; call < plan.calls.length; call++) {
    const { grads, options } = plan.calls[call];
    const want = expected[call];
    const where = at(`after call ${call + 1} with ${JSON.stringify(options)}`);
    const gradBitsBefore = rawBits(grads).slice();

    let outcome: Outcome;
    try {
      outcome = { result: await step(state, publicTensor(params, call % 2 === 0), publicTensor(grads, call % 2 === 1), options) };
    } catch (error) {
      outcome = { threw: String(error) };
    }
    if ("threw" in want.outcome || "threw" in outcome) {
      if (!("threw" in want.outcome && "threw" in outcome)) {
        throw new Mismatch(`${where}\n  native ${JSON.stringify(outcome)}, model ${JSON.stringify(want.outcome)}`);
      }
    } else if (outcome.result.step !== want.outcome.result.step || outcome.result.skipped !== want.outcome.result.skipped) {
      throw new Mismatch(`${where}\n  result: native ${JSON.stringify(outcome.result)}, model ${JSON.stringify(want.outcome.result)}`);
    }
    expectSameArray(where, "grads (must be read only)", gradBitsBefore, rawBits(grads), showBits(grads.dtype));
    expectSameParams(where, want.params, params);
    if (state.step !== want.state.step) throw new Mismatch(`${where}\n  state.step: native ${state.step}, model ${want.state.step}`);
    expectSameState(where, want.state, state.snapshot(), layout.K);
  }
}

/** Plans a case, runs the model once and checks the native engine against it. */
async function checkAgreement(c: AgreementCase, step: NativeStep = syncStep): Promise<void> {
  const plan = planCase(c);
  await expectNativeMatches(c, plan, modelTrajectory(plan), step);
}

// ---- Tests ----

describe("native engine agrees with the model bit for bit", () => {
  test("stateBytes and snapshot sizes follow the layout", () => {
    const layouts: LayoutOptions[] = [
      { numel: 1 },
      { numel: 4096 },
      { numel: 4097 },
      { numel: 100 },
      { numel: 12345, window: 7, density: 0.05 },
      { numel: 999, window: 1, density: 1, topkBlockSize: 128, quantBlockSize: 2 },
      { numel: 70000, window: 3, density: 0.3, topkBlockSize: 65536, quantBlockSize: 65536 },
    ];
    for (const options of layouts) {
      const config = resolvedConfig(options);
      const layout = modelLayout(config);
      const state = createMicroAdamState(options);
      const snapshot = state.snapshot();
      const context = JSON.stringify(config);
      expect({ context, numel: state.numel, step: state.step, stateBytes: state.stateBytes }).toEqual({
        context, numel: config.numel, step: 0, stateBytes: layout.stateBytes,
      });
      expect({
        context,
        errorCodes: snapshot.errorCodes.length,
        errorMin: snapshot.errorMin.length,
        errorMax: snapshot.errorMax.length,
        windowIndices: snapshot.windowIndices.length,
        windowValues: snapshot.windowValues.length,
      }).toEqual({
        context,
        errorCodes: Math.ceil(config.numel / 2),
        errorMin: layout.bucketCount,
        errorMax: layout.bucketCount,
        windowIndices: config.window * layout.K,
        windowValues: config.window * layout.K,
      });
    }
  });

  describe("random cases, small blocks, every dtype pair", () => {
    test.each(randomSmallBlockCases(108).map((c) => [c.label, c] as const))("%s", async (_label, c) => {
      await checkAgreement(c);
    });
  });

  describe("default block sizes (B = 4096, Q = 64)", () => {
    test.each(defaultLayoutCases().map((c) => [c.label, c] as const))("%s", async (_label, c) => {
      await checkAgreement(c);
    });
  });

  describe("hostile gradients", () => {
    test.each(hostileCases().map((c) => [c.label, c] as const))("%s", async (_label, c) => {
      await checkAgreement(c);
    });
  });

  describe("non-finite gradients", () => {
    test.each(nonFiniteCases().map((c) => [c.label, c] as const))("%s", async (_label, c) => {
      await checkAgreement(c);
    });
  });

  test("tiny negative bucket maxima round up to −0; exact ties and ±0 in hand-made gradients", async () => {
    const tiny = 2 ** -149;
    // Blocks of 4 keep 1 each; buckets of 2. Bucket 1 of the first step is [−2^-149, −2^-148]:
    // its max rounds up to −0 (0x8000), its min down to 0x8001.
    const gradsPerCall = [
      [-1, -tiny, -2 * tiny, 0, 3, -3, 3, -3, -0, 0, -0, 0],
      [0, 0, 0, 0, -0, -0, -0, -0, 2, 2, -2, -2],
      [tiny, -tiny, 1e38, -1e38, 1, 1, 1, 1, 0, -0, tiny, 0],
      [-1e38, -3e38, 3e38, 1e38, -0, 0, 2 ** -126, -(2 ** -126), 5, 5, 5, 5],
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    ];
    const c: AgreementCase = {
      label: "hand-made gradients",
      seed: 0,
      layout: { numel: 12, window: 2, density: 0.25, topkBlockSize: 4, quantBlockSize: 2 },
      paramDtype: "f32",
      gradDtype: "f32",
      steps: gradsPerCall.length,
      gradValues: MIXED_VALUES,
      hyper: { lr: 0.01, alpha: 0.5 },
    };
    const plan: Plan = {
      config: resolvedConfig(c.layout),
      initialParams: { data: new Float32Array(12).fill(1), dtype: "f32" },
      calls: gradsPerCall.map((g) => ({ grads: { data: Float32Array.from(g), dtype: "f32" }, options: { lr: 0.01, alpha: 0.5 } })),
    };
    const expected = modelTrajectory(plan);
    expect(expected[0].state.errorMax[1]).toBe(0x8000); // the case does reach −0
    await expectNativeMatches(c, plan, expected, syncStep);
  });

  test("ε = 0 is refused (0/0 would make kept zeros NaN), and nothing changes", () => {
    const state = createMicroAdamState({ numel: 300, topkBlockSize: 64, quantBlockSize: 8 });
    const params = new Float32Array(300).fill(1);
    expect(() => microAdamStep(state, params, new Float32Array(300), { lr: 0.01, eps: 0 })).toThrow(
      "Expected a number in (0, Infinity) for options.eps but received 0 of type number",
    );
    expect(state.step).toBe(0);
    expect(params.every((v) => v === 1)).toBe(true);
  });

  test("microAdamStepAsync gives the same results", async () => {
    for (const [paramDtype, gradDtype] of [["f32", "bf16"], ["bf16", "f16"], ["f16", "f32"]] as [Dtype, Dtype][]) {
      await checkAgreement(
        {
          label: `async, ${paramDtype} params, ${gradDtype} grads`,
          seed: 6000,
          layout: { numel: 1000, window: 3, density: 0.05, topkBlockSize: 256, quantBlockSize: 16 },
          paramDtype,
          gradDtype,
          steps: 9,
          gradValues: MIXED_VALUES,
          hyper: { lr: 0.01, alpha: 0.2, weightDecay: 0.01, nonFinite: "skip" },
          nonFinite: { calls: [4], kinds: ["nan"] },
        },
        asyncStep,
      );
    }
  });

  describe("thread counts", () => {
    let threadsBefore: number;
    beforeAll(() => {
      threadsBefore = getNumThreads();
    });
    afterAll(() => {
      setNumThreads(threadsBefore);
    });

    const threadCases: AgreementCase[] = [
      {
        label: "threads, many small blocks",
        seed: 7001,
        layout: { numel: 20011, window: 3, density: 0.05, topkBlockSize: 256, quantBlockSize: 16 },
        paramDtype: "bf16",
        gradDtype: "f32",
        steps: 7,
        gradValues: MIXED_VALUES,
        hyper: { lr: 0.01, alpha: 0.1, weightDecay: 0.01 },
      },
      {
        label: "threads, default blocks",
        seed: 7002,
        layout: { numel: 3 * 4096 + 5, window: 3 },
        paramDtype: "f32",
        gradDtype: "f16",
        steps: 7,
        gradValues: MIXED_VALUES,
        hyper: { lr: 0.01 },
      },
    ];

    test.each(threadCases.map((c) => [c.label, c] as const))("1, 2 and 3 threads give the model's results: %s", async (_label, c) => {
      const plan = planCase(c);
      const expected = modelTrajectory(plan);
      for (const threads of [1, 2, 3]) {
        setNumThreads(threads);
        expect(getNumThreads()).toBe(threads);
        try {
          await expectNativeMatches(c, plan, expected, syncStep);
        } catch (error) {
          throw error instanceof Mismatch ? new Mismatch(`with ${threads} threads: ${error.message}`) : error;
        }
      }
    });
  });
});
