// Exact messages for what test/api-validation.test.ts does not cover: restore, loadStateDict,
// setNumThreads, the checkpoint functions, and buffers that are shared or detached. Every
// refused call leaves the state, the params and the hyperparameters as they were.
import {
  createMicroAdamState,
  getNumThreads,
  loadState,
  MicroAdam,
  MicroAdamState,
  microAdamStep,
  saveState,
  setNumThreads,
  stateToBuffer,
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
    const opt = new MicroAdam([{ params: [params[0]] }, { params: [params[1]], lr: 0.5 }], { lr: 0.01, ...layout });
    opt.step([wave(300, 3), wave(7, 4)]);
    const good = opt.stateDict();
    const secondBad = structuredClone(good);
    secondBad.states[1].windowIndices[0] = 5000; // the first state would restore fine
    const cases: Case[] = [
      ["none", () => opt.loadStateDict(undefined as never), TypeError, "Expected an object for stateDict but received undefined"],
      ["format", () => opt.loadStateDict({ ...good, format: "torch" as never }), TypeError, `Expected 'microadam-native/state-dict' for stateDict.format but received "torch" of type string`],
      ["version", () => opt.loadStateDict({ ...good, version: 2 as never }), RangeError, "Expected 1 for stateDict.version but received 2 of type number"],
      ["layout", () => opt.loadStateDict({ ...good, layout: undefined as never }), TypeError, "Expected an object for stateDict.layout but received undefined"],
      ["density", () => opt.loadStateDict({ ...good, layout: { ...good.layout, density: 0.2 } }), RangeError, "Expected 0.1 (this optimizer's) for stateDict.layout.density but received 0.2 of type number"],
      ["groups", () => opt.loadStateDict({ ...good, paramGroups: good.paramGroups.slice(1) }), RangeError, "Expected an array of 2 groups for stateDict.paramGroups but received an array of length 1"],
      ["numels", () => opt.loadStateDict({ ...good, paramGroups: [{ ...good.paramGroups[0], numels: [301] }, good.paramGroups[1]] }), RangeError, "Expected [300] for stateDict.paramGroups[0].numels but received an array of length 1"],
      ["beta1", () => opt.loadStateDict({ ...good, paramGroups: [good.paramGroups[0], { ...good.paramGroups[1], beta1: 1 }] }), RangeError, "Expected a number in [0, 1) for stateDict.paramGroups[1].beta1 but received 1 of type number"],
      ["states", () => opt.loadStateDict({ ...good, states: [good.states[0]] }), RangeError, "Expected an array of 2 snapshots for stateDict.states but received an array of length 1"],
      ["second state", () => opt.loadStateDict(secondBad), RangeError, "snapshot.windowIndices[0] = 5000 is outside its block of 7 elements"],
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
    const opt = new MicroAdam([wave(10, 1)], { lr: 0.1, ...layout });
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
      ["fromBuffer options", () => MicroAdamState.fromBuffer(bytes, { numel: 3 } as never), TypeError, "Unknown option options.numel: expected only device"],
      ["fromBuffer options type", () => MicroAdamState.fromBuffer(bytes, 7 as never), TypeError, "Expected an object for options but received 7 of type number"],
      ["fromFile", () => MicroAdamState.fromFile([] as never), TypeError, "Expected a file path (a non-empty string) for path but received an array of length 0"],
      ["opt.save", () => opt.save(1 as never), TypeError, "Expected a file path (a non-empty string) for path but received 1 of type number"],
      ["opt.loadBuffer", () => opt.loadBuffer([1, 2] as never), TypeError, "Expected a Uint8Array or Buffer holding a checkpoint for buffer but received an array of length 2"],
    ];
    expectRefused(cases, () => [state.toBuffer(), opt.toBuffer()]);
    expect(() => MicroAdamState.fromBuffer(bytes, { device: "cuda" })).toThrow(expect.objectContaining({ code: "ERR_MICROADAM_DEVICE" }));
  });
});

describe("buffers that are shared or detached", () => {
  test("a step refuses them and changes nothing", () => {
    const { state, params } = stepped();
    const shared = new Float32Array(new SharedArrayBuffer(301 * 4));
    const gone = wave(301, 5);
    structuredClone(gone.buffer, { transfer: [gone.buffer as ArrayBuffer] });
    const fingerprint = () => [state.toBuffer(), Buffer.from(params.buffer)];
    const before = fingerprint();
    expectRefused(
      [
        ["shared", () => microAdamStep(state, shared, wave(301, 2), { lr: 0.1 }), TypeError, "Expected params[0] to be backed by an ArrayBuffer but it is backed by a SharedArrayBuffer"],
        ["detached", () => microAdamStep(state, params, gone, { lr: 0.1 }), RangeError, "Expected a tensor of 301 elements (the state's numel) for grads but received Float32Array of length 0"],
      ],
      fingerprint,
    );
    expect(fingerprint()).toEqual(before);
  });
});
