// Exact messages for what test/api-validation.test.ts does not cover: restore, loadStateDict,
// setNumThreads, the checkpoint functions, and buffers that are shared or detached. Every
// refused call leaves the state, the params and the hyperparameters as they were.
import {
  AdamW,
  AdamWState,
  adamWStep,
  adamWStepAsync,
  createAdamWState,
  createMicroAdamState,
  getNumThreads,
  loadState,
  MicroAdam,
  MicroAdamState,
  type MicroAdamSnapshot,
  microAdamStep,
  microAdamStepAsync,
  saveState,
  setNumThreads,
  stateToBuffer,
  bf16BitsToFloat,
  f16BitsToFloat,
  floatToBf16Bits,
  floatToF16Bits,
  toBf16,
  toF16,
  toFloat32,
} from "../lib";

const layout = { topkBlockSize: 64, quantBlockSize: 16, window: 3, density: 0.1 } as const;

function wave(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + seed));
}

function stepped(numel = 301) {
  const state = createMicroAdamState({ numel, ...layout });
  const params = wave(numel, 1);
  for (let t = 1; t <= 3; t++) microAdamStep(state, params, wave(numel, t + 1), { lr: 0.01 });
  return { state, params };
}

type Case = [string, () => unknown, ErrorConstructor, string];

/** Each call throws a `type` with exactly `message`, and `fingerprint` is the same before and after. */
function expectRefused(cases: Case[], fingerprint: () => unknown) {
  for (const [, run, type, message] of cases) {
    const before = fingerprint();
    let thrown: unknown;
    try {
      run();
    } catch (e) {
      thrown = e;
    }
    // By name: errors made by the native layer come from Node's realm, not the test's.
    expect([(thrown as Error)?.constructor?.name, (thrown as Error)?.message]).toEqual([type.name, message]);
    expect(fingerprint()).toEqual(before);
  }
}

function detached(array: Uint16Array): Uint16Array {
  structuredClone(array.buffer, { transfer: [array.buffer as ArrayBuffer] });
  return array;
}

describe("MicroAdamState.restore", () => {
  test("refuses bad snapshots by field and changes nothing", () => {
    const { state } = stepped();
    const good = state.snapshot();
    const windowLength = good.windowIndices.length;
    const outOfBlock = state.snapshot();
    outOfBlock.windowIndices[5] = 999;
    const shared = { ...good, errorMin: new Uint16Array(new SharedArrayBuffer(good.errorMin.byteLength)) };
    const cases: Case[] = [
      ["no snapshot", () => state.restore(undefined as never), TypeError, "Expected an object for snapshot but received undefined"],
      ["no step", () => state.restore({ ...good, step: undefined } as never), TypeError, "Expected a number for snapshot.step but received undefined"],
      ["negative step", () => state.restore({ ...good, step: -1 }), RangeError, "Expected an integer in [0, 9007199254740991] for snapshot.step but received -1 of type number"],
      ["fractional step", () => state.restore({ ...good, step: 1.5 }), RangeError, "Expected an integer in [0, 9007199254740991] for snapshot.step but received 1.5 of type number"],
      ["NaN step", () => state.restore({ ...good, step: NaN }), RangeError, "Expected an integer in [0, 9007199254740991] for snapshot.step but received NaN of type number"],
      ["codes as Uint16Array", () => state.restore({ ...good, errorCodes: new Uint16Array(151) as never }), TypeError, "Expected a Uint8Array for snapshot.errorCodes but received Uint16Array of length 151"],
      ["short errorMin", () => state.restore({ ...good, errorMin: good.errorMin.subarray(1) }), RangeError, "Expected a Uint16Array of length 19 for snapshot.errorMin but received Uint16Array of length 18"],
      ["plain array", () => state.restore({ ...good, windowValues: [...good.windowValues] as never }), TypeError, `Expected a Uint16Array for snapshot.windowValues but received an array of length ${windowLength}`],
      ["detached", () => state.restore({ ...good, windowIndices: detached(good.windowIndices.slice()) }), RangeError, `Expected a Uint16Array of length ${windowLength} for snapshot.windowIndices but received Uint16Array of length 0`],
      ["index outside its block", () => state.restore(outOfBlock), RangeError, "snapshot.windowIndices[5] = 999 is outside its block of 64 elements"],
      ["shared memory", () => state.restore(shared), TypeError, "Expected snapshot.errorMin to be backed by an ArrayBuffer but it is backed by a SharedArrayBuffer"],
    ];
    expectRefused(cases, () => state.toBuffer());
    // An odd numel has a padding nibble that must stay 0.
    const odd = stepped(33).state;
    const padded = odd.snapshot();
    padded.errorCodes[16] |= 0x01;
    expectRefused([["padding", () => odd.restore(padded), RangeError, "snapshot.errorCodes has a non-zero padding nibble in its last byte"]], () => odd.toBuffer());
    state.dispose();
    expect(() => state.restore(good)).toThrow("this MicroAdam state was disposed");
  });
});

describe("MicroAdam.loadStateDict", () => {
  test("refuses bad dicts by field, puts every state back if a later one refuses, changes nothing", () => {
    const params = [wave(300, 1), wave(7, 2)];
    const opt = new MicroAdam([{ params: [params[0]] }, { params: [params[1]], lr: 0.5 }], { denseBelow: 0, lr: 0.01, ...layout });
    opt.step([wave(300, 3), wave(7, 4)]);
    const good = opt.stateDict();
    const secondBad = structuredClone(good);
    (secondBad.states[1] as MicroAdamSnapshot).windowIndices[0] = 5000; // the first state would restore fine
    const cases: Case[] = [
      ["none", () => opt.loadStateDict(undefined as never), TypeError, "Expected an object for stateDict but received undefined"],
      ["format", () => opt.loadStateDict({ ...good, format: "torch" as never }), TypeError, `Expected 'microadam-native/state-dict' for stateDict.format but received "torch" of type string`],
      ["version", () => opt.loadStateDict({ ...good, version: 3 as never }), RangeError, "Expected 1 or 2 for stateDict.version but received 3 of type number"],
      ["layout", () => opt.loadStateDict({ ...good, layout: undefined as never }), TypeError, "Expected an object for stateDict.layout but received undefined"],
      ["density", () => opt.loadStateDict({ ...good, layout: { ...good.layout, density: 0.2 } }), RangeError, "Expected 0.1 (this optimizer's) for stateDict.layout.density but received 0.2 of type number"],
      ["groups", () => opt.loadStateDict({ ...good, paramGroups: good.paramGroups.slice(1) }), RangeError, "Expected an array of 2 groups for stateDict.paramGroups but received an array of length 1"],
      ["numels", () => opt.loadStateDict({ ...good, paramGroups: [{ ...good.paramGroups[0], numels: [301] }, good.paramGroups[1]] }), RangeError, "Expected [300] for stateDict.paramGroups[0].numels but received an array of length 1"],
      ["beta1", () => opt.loadStateDict({ ...good, paramGroups: [good.paramGroups[0], { ...good.paramGroups[1], beta1: 1 }] }), RangeError, "Expected a number in [0, 1) for stateDict.paramGroups[1].beta1 but received 1 of type number"],
      ["states", () => opt.loadStateDict({ ...good, states: [good.states[0]] }), RangeError, "Expected an array of 2 snapshots for stateDict.states but received an array of length 1"],
      ["second state", () => opt.loadStateDict(secondBad), RangeError, "stateDict.states[1].windowIndices[0] = 5000 is outside its block of 7 elements"],
    ];
    expectRefused(cases, () => [opt.toBuffer(), JSON.stringify(opt.paramGroups.map(({ params: _, ...h }) => h))]);
  });
});

describe("setNumThreads", () => {
  afterAll(() => setNumThreads(2));
  test("takes an integer in [1, 1024]", () => {
    const cases: Case[] = [
      ["0", () => setNumThreads(0), RangeError, "Expected an integer in [1, 1024] for threads but received 0 of type number"],
      ["1025", () => setNumThreads(1025), RangeError, "Expected an integer in [1, 1024] for threads but received 1025 of type number"],
      ["2.5", () => setNumThreads(2.5), RangeError, "Expected an integer in [1, 1024] for threads but received 2.5 of type number"],
      ["NaN", () => setNumThreads(NaN), RangeError, "Expected an integer in [1, 1024] for threads but received NaN of type number"],
      ["Infinity", () => setNumThreads(Infinity), RangeError, "Expected an integer in [1, 1024] for threads but received Infinity of type number"],
      ["string", () => setNumThreads("4" as never), TypeError, 'Expected a number for threads but received "4" of type string'],
      ["undefined", () => setNumThreads(undefined as never), TypeError, "Expected a number for threads but received undefined"],
    ];
    setNumThreads(3);
    expectRefused(cases, () => getNumThreads());
    expect(getNumThreads()).toBe(3);
  });
});

describe("checkpoint functions", () => {
  test("name the argument they refuse and change nothing", () => {
    const { state } = stepped();
    const opt = new MicroAdam([wave(10, 1)], { denseBelow: 0, lr: 0.1, ...layout });
    const bytes = state.toBuffer();
    const cases: Case[] = [
      ["saveState target", () => saveState(undefined as never, "x"), TypeError, "Expected a MicroAdamState or a MicroAdam for target but received undefined"],
      ["saveState path", () => saveState(state, 42 as never), TypeError, "Expected a file path (a non-empty string) for path but received 42 of type number"],
      ["saveState empty path", () => saveState(opt, ""), TypeError, 'Expected a file path (a non-empty string) for path but received "" of type string'],
      ["loadState target", () => loadState({} as never, bytes), TypeError, "Expected a MicroAdamState or a MicroAdam for target but received an object"],
      ["loadState source", () => loadState(state, 42 as never), TypeError, "Expected a file path (a non-empty string) or a Uint8Array holding a checkpoint for source but received 42 of type number"],
      ["loadState Uint16Array", () => loadState(state, new Uint16Array(3) as never), TypeError, "Expected a file path (a non-empty string) or a Uint8Array holding a checkpoint for source but received Uint16Array of length 3"],
      ["stateToBuffer", () => stateToBuffer(state.native as never), TypeError, "Expected a MicroAdamState or a MicroAdam for target but received an object (NativeState)"],
      ["save", () => state.save(undefined as never), TypeError, "Expected a file path (a non-empty string) for path but received undefined"],
      ["load", () => state.load(null as never), TypeError, "Expected a file path (a non-empty string) for path but received null"],
      ["loadBuffer", () => state.loadBuffer("abc" as never), TypeError, 'Expected a Uint8Array or Buffer holding a checkpoint for buffer but received "abc" of type string'],
      ["loadBuffer ArrayBuffer", () => state.loadBuffer(bytes.buffer as never), TypeError, "Expected a Uint8Array or Buffer holding a checkpoint for buffer but received an object (ArrayBuffer)"],
      ["fromBuffer device", () => MicroAdamState.fromBuffer(bytes, { device: "tpu" as never }), TypeError, `Expected one of 'cpu', 'cuda', 'auto' for options.device but received "tpu" of type string`],
      ["fromBuffer options", () => MicroAdamState.fromBuffer(bytes, { numel: 3 } as never), TypeError, "Unknown option options.numel: expected only device, deviceIndex"],
      ["fromBuffer options type", () => MicroAdamState.fromBuffer(bytes, 7 as never), TypeError, "Expected an object for options but received 7 of type number"],
      ["fromFile", () => MicroAdamState.fromFile([] as never), TypeError, "Expected a file path (a non-empty string) for path but received an array of length 0"],
      ["opt.save", () => opt.save(1 as never), TypeError, "Expected a file path (a non-empty string) for path but received 1 of type number"],
      ["opt.loadBuffer", () => opt.loadBuffer([1, 2] as never), TypeError, "Expected a Uint8Array or Buffer holding a checkpoint for buffer but received an array of length 2"],
    ];
    expectRefused(cases, () => [state.toBuffer(), opt.toBuffer()]);
    expect(() => MicroAdamState.fromBuffer(bytes, { device: "cuda" })).toThrow(expect.objectContaining({ code: "ERR_MICROADAM_DEVICE" }));
  });
});

describe("buffers that are shared, resizable or detached", () => {
  // Resizable and growable buffers are newer than the ES2022 typings.
  type WithMaxLength<T> = new (bytes: number, options: { maxByteLength: number }) => T;
  const resizable = (n: number) => new Float32Array(new (ArrayBuffer as WithMaxLength<ArrayBuffer>)(n * 4, { maxByteLength: 2 * n * 4 }));

  test("a step refuses them and changes nothing", () => {
    const { state, params } = stepped();
    const shared = new Float32Array(new SharedArrayBuffer(301 * 4));
    const growable = new Uint16Array(new (SharedArrayBuffer as WithMaxLength<SharedArrayBuffer>)(301 * 2, { maxByteLength: 602 * 2 }));
    const gone = wave(301, 5);
    structuredClone(gone.buffer, { transfer: [gone.buffer as ArrayBuffer] });
    const fingerprint = () => [state.toBuffer(), Buffer.from(params.buffer)];
    const before = fingerprint();
    expectRefused(
      [
        ["shared", () => microAdamStep(state, shared, wave(301, 2), { lr: 0.1 }), TypeError, "Expected params to be backed by a fixed-length ArrayBuffer but it is backed by a SharedArrayBuffer"],
        ["growable shared", () => microAdamStep(state, params, { data: growable, dtype: "bf16" }, { lr: 0.1 }), TypeError, "Expected grads.data to be backed by a fixed-length ArrayBuffer but it is backed by a SharedArrayBuffer"],
        ["resizable", () => microAdamStep(state, resizable(301), wave(301, 2), { lr: 0.1 }), TypeError, "Expected params to be backed by a fixed-length ArrayBuffer but it is backed by a resizable ArrayBuffer"],
        ["detached", () => microAdamStep(state, params, gone, { lr: 0.1 }), RangeError, "Expected a tensor of 301 elements (the state's numel) for grads but received Float32Array of length 0"],
      ],
      fingerprint,
    );
    expect(fingerprint()).toEqual(before);
  });

  test("every entry point refuses them, async ones with a rejection", async () => {
    const micro = createMicroAdamState({ numel: 8 });
    const adamw = createAdamWState({ numel: 8 });
    const message = (name: string) => `Expected ${name} to be backed by a fixed-length ArrayBuffer but it is backed by a resizable ArrayBuffer`;
    const g = new Float32Array(8);
    expect(() => adamWStep(adamw, g, resizable(8), { lr: 0.1 })).toThrow(message("grads"));
    await expect(microAdamStepAsync(micro, resizable(8), g, { lr: 0.1 })).rejects.toThrow(message("params"));
    await expect(adamWStepAsync(adamw, new Float32Array(8), resizable(8), { lr: 0.1 })).rejects.toThrow(message("grads"));
    expect(() => new MicroAdam([new Float32Array(8), resizable(8)], { denseBelow: 0, lr: 0.1 })).toThrow(message("params[1]"));
    expect(() => new AdamW([{ params: [{ data: resizable(8), dtype: "f32" }] }], { lr: 0.1 })).toThrow(message("params[0].params[0].data"));
    const opt = new MicroAdam([new Float32Array(8)], { denseBelow: 0, lr: 0.1 });
    await expect(opt.stepAsync([resizable(8)])).rejects.toThrow(message("grads[0]"));
    expect([micro.step, adamw.step, opt.stepCount]).toEqual([0, 0, 0]);
  });
});

describe("param groups", () => {
  const p = () => new Float32Array(4);
  const group = "a param group { params: [tensors], ...hyperparameters }";
  const tensorOrGroup = `a tensor (a Float32Array or { data, dtype }) or ${group}`;
  const cases = (make: (params: unknown) => unknown): Case[] => {
    const shared = p();
    return [
      ["an empty group", () => make([{}]), TypeError, `Expected ${tensorOrGroup} for params[0] but received an object`],
      ["a later empty object", () => make([p(), {}]), TypeError, `Expected ${tensorOrGroup} for params[1] but received an object`],
      ["null", () => make([null]), TypeError, "Expected a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' } for params[0] but received null"],
      ["a number", () => make([p(), 5]), TypeError, "Expected a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' } for params[1] but received 5 of type number"],
      ["a group after tensors", () => make([p(), { params: [p()] }]), TypeError, "Expected a tensor (params[0] is a tensor, so every entry must be one) for params[1] but received an object"],
      ["a tensor after groups", () => make([{ params: [p()] }, p()]), TypeError, `Expected ${group} (params[0] is a param group, so every entry must be one) for params[1] but received Float32Array of length 4`],
      ["params not an array", () => make([{ params: 5 }]), TypeError, "Expected a non-empty array of tensors for params[0].params but received 5 of type number"],
      ["no tensors", () => make([{ params: [p()] }, { params: [] }]), TypeError, "Expected a non-empty array of tensors for params[1].params but received an array of length 0"],
      ["a bad tensor in a group", () => make([{ params: [p(), {}] }]), TypeError, "Expected one of 'f32', 'bf16', 'f16' for params[0].params[1].dtype but received undefined"],
      ["null in a group", () => make([{ params: [null] }]), TypeError, "Expected a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' } for params[0].params[0] but received null"],
      ["a bf16 tensor without data", () => make([{ params: [{ dtype: "bf16" }] }]), TypeError, "Expected a Uint16Array (dtype 'bf16') for params[0].params[0].data but received undefined"],
      ["an empty tensor", () => make([p(), new Float32Array(0)]), RangeError, "Expected a tensor of at least 1 element for params[1] but received Float32Array of length 0"],
      ["a tensor twice", () => make([shared, p(), shared]), RangeError, "Expected a tensor other than params[0] (each tensor has one state) for params[2] but received Float32Array of length 4"],
      ["a tensor in two groups", () => make([{ params: [shared] }, { params: [{ data: shared, dtype: "f32" }] }]), RangeError, "Expected a tensor other than params[0].params[0] (each tensor has one state) for params[1].params[0] but received Float32Array of length 4"],
      ["an unknown group key", () => make([{ params: [p()], learningRate: 1 }]), TypeError, `Unknown option params[0].learningRate: expected only params, ${make === makeAdamW ? "lr, beta1, beta2, eps, weightDecay" : "lr, beta1, beta2, eps, weightDecay, alpha"}`],
      ["a bad group hyperparameter", () => make([{ params: [p()] }, { params: [p()], lr: "x" }]), TypeError, 'Expected a number for params[1].lr but received "x" of type string'],
      ["not an array", () => make(p()), TypeError, "Expected a non-empty array of tensors or of param groups for params but received Float32Array of length 4"],
    ];
  };
  const makeMicroAdam = (params: unknown) => new MicroAdam(params as never, { denseBelow: 0, lr: 0.1 });
  const makeAdamW = (params: unknown) => new AdamW(params as never, { lr: 0.1 });

  test.each([
    ["MicroAdam", makeMicroAdam],
    ["AdamW", makeAdamW],
  ])("%s refuses malformed params with a TypeError or RangeError naming the entry", (_, make) => {
    expectRefused(cases(make), () => null);
  });

  test("a layout option is named once, as options.<key>", () => {
    expectRefused(
      [["window", () => new MicroAdam([p()], { denseBelow: 0, lr: 0.1, window: 0 }), RangeError, "Expected an integer in [1, 1024] for options.window but received 0 of type number"]],
      () => null,
    );
  });
});

describe("look-alike objects made from a prototype", () => {
  const lookAlike = " that the library did not construct (a look-alike made from its prototype)";
  test("are refused wherever a state or an optimizer is expected", async () => {
    const fakeState = Object.create(MicroAdamState.prototype) as MicroAdamState;
    const fakeAdamW = Object.create(AdamWState.prototype) as AdamWState;
    const fakeOptimizer = Object.create(MicroAdam.prototype) as MicroAdam;
    const p = new Float32Array(4);
    const cases: Case[] = [
      ["microAdamStep", () => microAdamStep(fakeState, p, p, { lr: 0.1 }), TypeError, `Expected a MicroAdamState (from createMicroAdamState) for state but received an object (MicroAdamState)${lookAlike}`],
      ["adamWStep", () => adamWStep(fakeAdamW, p, p, { lr: 0.1 }), TypeError, `Expected an AdamWState (from createAdamWState) for state but received an object (AdamWState)${lookAlike}`],
      ["adamWStep with a real MicroAdamState", () => adamWStep(createMicroAdamState({ numel: 4 }) as never, p, p, { lr: 0.1 }), TypeError, "Expected an AdamWState (from createAdamWState) for state but received an object (MicroAdamState)"],
      ["saveState", () => saveState(fakeState, "x"), TypeError, `Expected a MicroAdamState or a MicroAdam for target but received an object (MicroAdamState)${lookAlike}`],
      ["stateToBuffer", () => stateToBuffer(fakeOptimizer), TypeError, `Expected a MicroAdamState or a MicroAdam for target but received an object (MicroAdam)${lookAlike}`],
      ["loadState", () => loadState(fakeState, new Uint8Array(4)), TypeError, `Expected a MicroAdamState or a MicroAdam for target but received an object (MicroAdamState)${lookAlike}`],
      ["loadState with an AdamW", () => loadState(new AdamW([p], { lr: 0.1 }) as never, new Uint8Array(4)), TypeError, "Expected a MicroAdamState or a MicroAdam for target but received an object (AdamW)"],
    ];
    expectRefused(cases, () => null);
    await expect(microAdamStepAsync(fakeState, p, p, { lr: 0.1 })).rejects.toThrow(`for state but received an object (MicroAdamState)${lookAlike}`);
    // A look-alike slipped into an optimizer's states is refused too, and nothing steps.
    const opt = new MicroAdam([new Float32Array(4), new Float32Array(4)], { denseBelow: 0, lr: 0.1 });
    const real = opt.states[1];
    opt.states[1] = fakeState;
    expect(() => opt.step([p, p])).toThrow(`Expected a MicroAdamState (from createMicroAdamState) for states[1] but received an object (MicroAdamState)${lookAlike}`);
    opt.states[1] = real;
    expect(opt.states.map((s) => s.step)).toEqual([0, 0]);
  });
});

describe("state dicts name the snapshot they refuse by its path", () => {
  test("AdamW", () => {
    const opt = new AdamW([wave(5, 1), wave(6, 2)], { lr: 0.1 });
    opt.step([wave(5, 3), wave(6, 4)]);
    const good = opt.stateDict();
    const bad = (i: number, patch: object) => ({ ...good, states: good.states.map((s, k) => (k === i ? { ...s, ...patch } : s)) });
    const cases: Case[] = [
      ["short expAvg", () => opt.loadStateDict(bad(1, { expAvg: new Float32Array(2) })), RangeError, "Expected a Float32Array of length 6 for stateDict.states[1].expAvg but received Float32Array of length 2"],
      ["expAvgSq type", () => opt.loadStateDict(bad(0, { expAvgSq: [1, 2] })), TypeError, "Expected a Float32Array for stateDict.states[0].expAvgSq but received an array of length 2"],
      ["step", () => opt.loadStateDict(bad(1, { step: -1 })), RangeError, "Expected an integer in [0, 9007199254740991] for stateDict.states[1].step but received -1 of type number"],
      ["null", () => opt.loadStateDict({ ...good, states: [good.states[0], null as never] }), TypeError, "Expected an object for stateDict.states[1] but received null"],
      ["shared", () => opt.loadStateDict(bad(1, { expAvg: new Float32Array(new SharedArrayBuffer(24)) })), TypeError, "Expected stateDict.states[1].expAvg to be backed by an ArrayBuffer but it is backed by a SharedArrayBuffer"],
    ];
    expectRefused(cases, () => JSON.stringify(opt.stateDict(), (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));
  });

  test("MicroAdam", () => {
    const opt = new MicroAdam([wave(300, 1), wave(70, 2)], { denseBelow: 0, lr: 0.1, ...layout });
    opt.step([wave(300, 3), wave(70, 4)]);
    const good = opt.stateDict();
    const bad = (i: number, patch: object) => ({ ...good, states: good.states.map((s, k) => (k === i ? { ...s, ...patch } : s)) });
    const cases: Case[] = [
      ["short codes", () => opt.loadStateDict(bad(1, { errorCodes: new Uint8Array(3) })), RangeError, "Expected a Uint8Array of length 35 for stateDict.states[1].errorCodes but received Uint8Array of length 3"],
      ["codes type", () => opt.loadStateDict(bad(1, { errorCodes: 5 })), TypeError, "Expected a Uint8Array for stateDict.states[1].errorCodes but received 5 of type number"],
      ["shared", () => opt.loadStateDict(bad(0, { errorMax: new Uint16Array(new SharedArrayBuffer((good.states[0] as MicroAdamSnapshot).errorMax.byteLength)) })), TypeError, "Expected stateDict.states[0].errorMax to be backed by an ArrayBuffer but it is backed by a SharedArrayBuffer"],
    ];
    expectRefused(cases, () => opt.toBuffer());
  });
});

describe("conversions and optimizer fields", () => {
  test("the 16-bit conversions check what they convert", () => {
    const cases: Case[] = [
      ["floatToBf16Bits", () => floatToBf16Bits("1" as never), TypeError, 'Expected a number for x but received "1" of type string'],
      ["floatToF16Bits", () => floatToF16Bits(1n as never), TypeError, "Expected a number for x but received 1n of type bigint"],
      ["bf16BitsToFloat", () => bf16BitsToFloat(65536), RangeError, "Expected an integer in [0, 65535] for bits but received 65536 of type number"],
      ["f16BitsToFloat", () => f16BitsToFloat(Symbol("s") as never), TypeError, "Expected a number for bits but received Symbol(s) of type symbol"],
      ["toBf16", () => toBf16(undefined as never), TypeError, "Expected a typed array or an array of numbers for values but received undefined"],
      ["toF16", () => toF16([1, "2"] as never), TypeError, 'Expected a number for values[1] but received "2" of type string'],
      ["toF16 bigints", () => toF16(new BigInt64Array(2) as never), TypeError, "Expected a typed array or an array of numbers for values but received BigInt64Array of length 2"],
      ["toFloat32", () => toFloat32(null as never), TypeError, "Expected an object for tensor but received null"],
      ["toFloat32 dtype", () => toFloat32({ data: new Uint16Array(2), dtype: "fp8" } as never), TypeError, `Expected one of 'f32', 'bf16', 'f16' for tensor.dtype but received "fp8" of type string`],
      ["toFloat32 data", () => toFloat32({ data: new Float32Array(2), dtype: "bf16" } as never), TypeError, "Expected a Uint16Array (dtype 'bf16') for tensor.data but received Float32Array of length 2"],
    ];
    expectRefused(cases, () => null);
    expect(Array.from(toFloat32(toBf16([1, -2.5])))).toEqual([1, -2.5]);
    expect(Array.from(toFloat32(toF16(Float64Array.of(0.5))))).toEqual([0.5]);
  });

  test("fields changed on an optimizer are checked at the next step", () => {
    const params = wave(8, 1);
    const opt = new MicroAdam([params], { denseBelow: 0, lr: 0.1 });
    const before = Buffer.from(params.buffer.slice(0));
    opt.nonFinite = Object.create(null);
    expect(() => opt.step([wave(8, 2)])).toThrow("Expected one of 'skip', 'error', 'ignore' for nonFinite but received an object");
    opt.nonFinite = "skip";
    opt.paramGroups[0].lr = -1;
    expect(() => opt.step([wave(8, 2)])).toThrow("Expected a number in [0, Infinity) for paramGroups[0].lr but received -1 of type number");
    expect(Buffer.from(params.buffer).equals(before)).toBe(true);
    expect(opt.stepCount).toBe(0);
  });
});
