// Bad input gets a TypeError/RangeError naming the argument, and nothing is modified.
import { createMicroAdamState, MicroAdam, microAdamStep, microAdamStepAsync, setNumThreads, type MicroAdamState } from "../lib";

function fixture(numel = 300) {
  const state = createMicroAdamState({ numel, topkBlockSize: 128, quantBlockSize: 16 });
  const params = Float32Array.from({ length: numel }, (_, i) => Math.sin(i));
  const grads = Float32Array.from({ length: numel }, (_, i) => Math.cos(i * 0.7));
  microAdamStep(state, params, grads, { lr: 0.01 }); // a non-trivial state to protect
  return { state, params, grads };
}

function expectUnchanged(state: MicroAdamState, params: Float32Array, run: () => unknown) {
  const before = state.snapshot();
  const paramsBefore = params.slice();
  expect(run).toThrow();
  expect(state.snapshot()).toEqual(before);
  expect(params).toEqual(paramsBefore);
}

describe("createMicroAdamState", () => {
  const cases: [object, ErrorConstructor, string][] = [
    [{ numel: 0 }, RangeError, "Expected an integer in [1, 9007199254740991] for options.numel but received 0 of type number"],
    [{ numel: 2.5 }, RangeError, "Expected an integer in [1, 9007199254740991] for options.numel but received 2.5 of type number"],
    [{ numel: "10" }, TypeError, 'Expected a number for options.numel but received "10" of type string'],
    [{ numel: 10, window: 0 }, RangeError, "Expected an integer in [1, 1024] for options.window but received 0 of type number"],
    [{ numel: 10, density: 0 }, RangeError, "Expected a number in (0, 1] for options.density but received 0 of type number"],
    [{ numel: 10, density: NaN }, RangeError, "Expected a number in (0, 1] for options.density but received NaN of type number"],
    [{ numel: 10, quantBlockSize: 7 }, RangeError, "Expected an even integer for options.quantBlockSize but received 7 of type number"],
    [{ numel: 10, topkBlockSize: 100, quantBlockSize: 64 }, RangeError, "Expected a multiple of quantBlockSize (64) for options.topkBlockSize but received 100 of type number"],
    [{ numel: 10, topkBlockSize: 131072 }, RangeError, "Expected an integer in [1, 65536] for options.topkBlockSize but received 131072 of type number"],
    [{ numel: 10, device: "tpu" }, TypeError, "Expected one of 'cpu', 'cuda', 'auto' for options.device but received \"tpu\" of type string"],
    [{ numel: 10, windowSize: 3 }, TypeError, "Unknown option options.windowSize: expected only numel, window, density, topkBlockSize, quantBlockSize, device, deviceIndex"],
  ];
  test.each(cases)("%j is refused", (options, type, message) => {
    expect(() => createMicroAdamState(options as never)).toThrow(type);
    expect(() => createMicroAdamState(options as never)).toThrow(message);
  });

  test("options must be an object", () => {
    expect(() => createMicroAdamState(undefined as never)).toThrow("Expected an object for options but received undefined");
  });

  test("layout facts match the definition", () => {
    const s = createMicroAdamState({ numel: 10000 });
    // 3 blocks (4096, 4096, 1808) keep 41 + 41 + 19; 157 buckets of 64.
    expect(s.rowLength).toBe(101);
    expect(s.bucketCount).toBe(157);
    expect(s.stateBytes).toBe(5000 + 4 * 157 + 4 * 10 * 101);
    expect(s.step).toBe(0);
  });
});

describe("microAdamStep refuses bad input and changes nothing", () => {
  test.each<[string, (f: ReturnType<typeof fixture>) => unknown, ErrorConstructor, string]>([
    ["missing lr", (f) => microAdamStep(f.state, f.params, f.grads, {} as never), TypeError, "Expected a number for options.lr but received undefined"],
    ["negative lr", (f) => microAdamStep(f.state, f.params, f.grads, { lr: -1 }), RangeError, "Expected a number in [0, Infinity) for options.lr but received -1 of type number"],
    ["infinite lr", (f) => microAdamStep(f.state, f.params, f.grads, { lr: Infinity }), RangeError, "for options.lr but received Infinity of type number"],
    ["beta1 = 1", (f) => microAdamStep(f.state, f.params, f.grads, { lr: 1, beta1: 1 }), RangeError, "Expected a number in [0, 1) for options.beta1 but received 1 of type number"],
    ["eps = 0", (f) => microAdamStep(f.state, f.params, f.grads, { lr: 1, eps: 0 }), RangeError, "Expected a number in (0, Infinity) for options.eps but received 0 of type number"],
    ["alpha = 1", (f) => microAdamStep(f.state, f.params, f.grads, { lr: 1, alpha: 1 }), RangeError, "for options.alpha but received 1 of type number"],
    ["bad policy", (f) => microAdamStep(f.state, f.params, f.grads, { lr: 1, nonFinite: "drop" as never }), TypeError, "Expected one of 'skip', 'error', 'ignore' for options.nonFinite"],
    ["short grads", (f) => microAdamStep(f.state, f.params, f.grads.subarray(1), { lr: 1 }), RangeError, "Expected a tensor of 300 elements (the state's numel) for grads but received Float32Array of length 299"],
    ["short params", (f) => microAdamStep(f.state, f.params.subarray(2), f.grads, { lr: 1 }), RangeError, "for params but received Float32Array of length 298"],
    ["Float64Array grads", (f) => microAdamStep(f.state, f.params, new Float64Array(300) as never, { lr: 1 }), TypeError, "Expected a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' } for grads but received Float64Array of length 300"],
    ["bf16 with Float32Array data", (f) => microAdamStep(f.state, f.params, { data: f.grads, dtype: "bf16" } as never, { lr: 1 }), TypeError, "Expected a Uint16Array (dtype 'bf16') for grads.data"],
    ["unknown dtype", (f) => microAdamStep(f.state, f.params, { data: new Uint16Array(300), dtype: "f8" } as never, { lr: 1 }), TypeError, "Expected one of 'f32', 'bf16', 'f16' for grads.dtype"],
    ["not a state", (f) => microAdamStep({} as never, f.params, f.grads, { lr: 1 }), TypeError, "Expected a MicroAdamState (from createMicroAdamState) for state but received an object"],
  ])("%s", (_name, run, type, message) => {
    const f = fixture();
    expectUnchanged(f.state, f.params, () => run(f));
    expect(() => run(f)).toThrow(type);
    expect(() => run(f)).toThrow(message);
  });

  test("a disposed state is refused", () => {
    const f = fixture();
    f.state.dispose();
    expect(() => microAdamStep(f.state, f.params, f.grads, { lr: 1 })).toThrow("state was disposed");
  });

  test("the async form rejects instead of throwing", async () => {
    const f = fixture();
    await expect(microAdamStepAsync(f.state, f.params, f.grads, { lr: -1 })).rejects.toThrow(RangeError);
  });

  test("setNumThreads names its argument", () => {
    expect(() => setNumThreads(0)).toThrow("Expected an integer in [1, 1024] for threads but received 0 of type number");
  });
});

describe("the native layer checks again when the facade is bypassed", () => {
  test("raw binding calls with bad arguments throw JS errors, not crashes", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { binding } = require("../lib/binding");
    const f = fixture();
    const hyper = new Float64Array([0.01, 0.9, 0.999, 1e-8, 0, 0]);
    const before = f.state.snapshot();
    expect(() => binding.step([f.state.native], [f.params], [f.grads.subarray(3)], new Uint8Array(2), hyper, 0)).toThrow(
      "grads[0] must have 300 elements, received 297",
    );
    expect(() => binding.step([{}], [f.params], [f.grads], new Uint8Array(2), hyper, 0)).toThrow("Expected a NativeState for states[0] but received an object");
    expect(() => binding.step([f.state.native], [f.params], [f.grads], new Uint8Array([0, 9]), hyper, 0)).toThrow(
      "dtypes[0] is not a known dtype code",
    );
    expect(() =>
      binding.step([f.state.native], [f.params], [f.grads], new Uint8Array(2), new Float64Array([-1, 0.9, 0.999, 1e-8, 0, 0]), 0),
    ).toThrow("lr must be a finite number >= 0, received -1");
    expect(() => binding.step([f.state.native, f.state.native], [f.params, f.params], [f.grads, f.grads], new Uint8Array(4), new Float64Array(12).fill(0.5), 0)).toThrow(
      "states[1] is the same state as states[0]",
    );
    const other = createMicroAdamState({ numel: 300, topkBlockSize: 128, quantBlockSize: 16 });
    expect(() =>
      binding.step([f.state.native, other.native], [f.params, f.params.subarray(0)], [f.grads, f.grads], new Uint8Array(4), new Float64Array([...hyper, ...hyper]), 0),
    ).toThrow("shares memory with");
    expect(() => new binding.NativeState({ numel: 10, window: 10, density: 0.01, topkBlockSize: 96, quantBlockSize: 64 })).toThrow(
      "topkBlockSize must be a multiple of quantBlockSize (64), received 96",
    );
    expect(f.state.snapshot()).toEqual(before);
  });
});

describe("MicroAdam argument checks", () => {
  test("grads must match the params one to one", () => {
    const p = new Float32Array(10);
    const opt = new MicroAdam([p], { denseBelow: 0, lr: 0.1 });
    expect(() => opt.step([])).toThrow("Expected an array of 1 tensors (one per parameter) for grads but received an array of length 0");
    expect(() => opt.step([new Float32Array(9)])).toThrow(
      "Expected a tensor of 10 elements (the state's numel) for grads[0] but received Float32Array of length 9",
    );
  });
  test("group options are checked with the group's name", () => {
    expect(() => new MicroAdam([{ params: [new Float32Array(4)], lr: -2 }], { denseBelow: 0, lr: 0.1 })).toThrow(
      "Expected a number in [0, Infinity) for params[0].lr but received -2 of type number",
    );
    expect(() => new MicroAdam([], { denseBelow: 0, lr: 0.1 })).toThrow("Expected a non-empty array of tensors or of param groups for params");
  });
});
