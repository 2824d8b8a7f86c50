// Checkpoints (docs/checkpoint-format.md): the bytes follow the documented format, a resumed run
// is bit-identical to an uninterrupted one, every damaged or mismatched file is refused without
// changing anything, and a save is atomic.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { crc32 } from "zlib";
import fc from "fast-check";
import {
  createMicroAdamState,
  loadState,
  MicroAdam,
  MicroAdamState,
  microAdamStep,
  microAdamStepAsync,
  saveState,
  stateToBuffer,
  toBf16,
  toF16,
  type Tensor,
} from "../lib";
import { mutate, mutation } from "./fuzz/checkpoint-target";

const root = path.join(__dirname, "..");
// The module object itself (not an import namespace), so that a spy replaces what lib/ calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs: typeof fs = require("fs");
const layout = { topkBlockSize: 64, quantBlockSize: 16, window: 3, density: 0.1 } as const;
let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-checkpoint-"))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function wave(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + seed * 1.37) * Math.cos(i * 0.113 * seed));
}

/** A state with `steps` steps behind it (alpha > 0 and weight decay, so every buffer is used). */
function steppedState(numel: number, steps: number, options: object = layout) {
  const state = createMicroAdamState({ numel, ...options });
  const params = wave(numel, 1);
  for (let t = 1; t <= steps; t++) microAdamStep(state, params, wave(numel, t + 1), { lr: 0.01, weightDecay: 0.01, alpha: 0.2 });
  return { state, params };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe("the bytes follow docs/checkpoint-format.md", () => {
  // An encoder written from the document alone, to hold the implementation to it.
  function documented(kind: number, sections: [string, Buffer][]): Buffer {
    const body = sections.map(([tag, payload]) => {
      const head = Buffer.alloc(16);
      head.write(tag, 0, "latin1");
      head.writeBigUInt64LE(BigInt(payload.length), 8);
      const crc = Buffer.alloc(4);
      crc.writeUInt32LE(crc32(Buffer.concat([head, payload])));
      return Buffer.concat([head, payload, crc]);
    });
    const header = Buffer.alloc(32);
    Buffer.from([0x89, 0x4d, 0x41, 0x44, 0x41, 0x4d, 0x0d, 0x0a]).copy(header);
    header.writeUInt16LE(1, 8);
    header.writeUInt16LE(kind, 10);
    header.writeUInt32LE(sections.length, 12);
    header.writeBigUInt64LE(BigInt(32 + body.reduce((s, b) => s + b.length, 0)), 16);
    header.writeUInt32LE(crc32(header.subarray(0, 28)), 28);
    return Buffer.concat([header, ...body]);
  }
  function layoutPayload(s: MicroAdamState): Buffer {
    const b = Buffer.alloc(56);
    b.writeBigUInt64LE(BigInt(s.numel), 0);
    b.writeUInt32LE(s.config.window, 8);
    b.writeUInt32LE(s.config.topkBlockSize, 12);
    b.writeUInt32LE(s.config.quantBlockSize, 16);
    b.writeDoubleLE(s.config.density, 24);
    b.writeBigUInt64LE(BigInt(s.blockCount), 32);
    b.writeBigUInt64LE(BigInt(s.bucketCount), 40);
    b.writeBigUInt64LE(BigInt(s.rowLength), 48);
    return b;
  }
  function statePayload(s: MicroAdamState): Buffer {
    const snap = s.snapshot();
    const step = Buffer.alloc(8);
    step.writeBigUInt64LE(BigInt(snap.step));
    const le16 = (a: Uint16Array) => {
      const b = Buffer.alloc(a.length * 2);
      a.forEach((v, i) => b.writeUInt16LE(v, 2 * i));
      return b;
    };
    return Buffer.concat([step, Buffer.from(snap.errorCodes), le16(snap.errorMin), le16(snap.errorMax), le16(snap.windowIndices), le16(snap.windowValues)]);
  }

  test("a state: header, LAYT, STAT", () => {
    const { state } = steppedState(301, 5);
    const bytes = state.toBuffer();
    expect(bytes).toEqual(documented(1, [["LAYT", layoutPayload(state)], ["STAT", statePayload(state)]]));
    // Overhead: 32 (header) + 2 × 20 (section framing) + 56 (layout) + 8 (step).
    expect(bytes.length).toBe(state.stateBytes + 136);
  });

  test("an optimizer: header, OPTM, then LAYT and STAT per tensor", () => {
    const opt = new MicroAdam(
      [{ params: [wave(300, 1), wave(70, 2)], lr: 0.02, weightDecay: 0.1 }, { params: [wave(5, 3)], alpha: 0.5 }],
      { denseBelow: 0, lr: 0.01, ...layout },
    );
    opt.step([wave(300, 4), wave(70, 5), wave(5, 6)]);
    const optm = Buffer.alloc(8 + 2 * 56);
    optm.writeUInt32LE(2, 0);
    optm.writeUInt32LE(3, 4);
    opt.paramGroups.forEach((g, i) => {
      [g.lr, g.beta1, g.beta2, g.eps, g.weightDecay, g.alpha].forEach((v, k) => optm.writeDoubleLE(v, 8 + 56 * i + 8 * k));
      optm.writeUInt32LE(g.params.length, 8 + 56 * i + 48);
    });
    const sections: [string, Buffer][] = [["OPTM", optm]];
    for (const s of opt.states as MicroAdamState[]) sections.push(["LAYT", layoutPayload(s)], ["STAT", statePayload(s)]);
    expect(opt.toBuffer()).toEqual(documented(2, sections));
    expect(opt.toBuffer().length).toBe(60 + 56 * 2 + opt.states.reduce((sum, s) => sum + s.stateBytes + 104, 0));
  });

  test("the bytes depend only on the state's content: two runs of the same history write the same file", () => {
    // Whatever engine wrote it (another thread count here; another backend later) the snapshot
    // fields are defined by docs/algorithm.md, so the checkpoint is the same bytes.
    const a = steppedState(5000, 7).state.toBuffer();
    const b = steppedState(5000, 7).state.toBuffer();
    expect(a.equals(b)).toBe(true);
  });
});

describe("round trips", () => {
  test("a state through a file and through a buffer", () => {
    const { state } = steppedState(1000, 4);
    const file = path.join(dir, "state.madam");
    state.save(file);
    const fromFile = MicroAdamState.fromFile(file);
    const fromBuffer = MicroAdamState.fromBuffer(state.toBuffer(), { device: "cpu" });
    for (const copy of [fromFile, fromBuffer]) {
      expect(copy.config).toEqual(state.config);
      expect(copy.step).toBe(4);
      expect(copy.snapshot()).toEqual(state.snapshot());
    }
    const target = createMicroAdamState({ numel: 1000, ...layout });
    target.load(file);
    expect(target.snapshot()).toEqual(state.snapshot());
    loadState(target, state.toBuffer());
    expect(target.snapshot()).toEqual(state.snapshot());
    // Saving over a file replaces it and leaves no temporary file behind.
    state.save(file);
    saveState(state, file);
    expect(fs.readdirSync(dir).filter((f) => f.includes("state.madam"))).toEqual(["state.madam"]);
    expect(fs.readFileSync(file).equals(stateToBuffer(state))).toBe(true);
  });

  test("an optimizer carries its groups' hyperparameters", () => {
    const params = [wave(300, 1), wave(7, 2)];
    const opt = new MicroAdam([{ params: [params[0]], lr: 0.02 }, { params: [params[1]], weightDecay: 0.5, eps: 1e-6 }], { denseBelow: 0, lr: 0.01, ...layout });
    opt.step([wave(300, 3), wave(7, 4)]);
    const file = path.join(dir, "opt.madam");
    opt.save(file);
    const other = new MicroAdam([{ params: [params[0].slice()], lr: 9 }, { params: [params[1].slice()] }], { denseBelow: 0, lr: 1, beta1: 0.5, ...layout });
    other.load(file);
    expect(other.paramGroups.map(({ params: _, ...h }) => h)).toEqual(opt.paramGroups.map(({ params: _, ...h }) => h));
    expect(other.stateDict()).toEqual(opt.stateDict());
    const third = new MicroAdam([{ params: [params[0].slice()] }, { params: [params[1].slice()] }], { denseBelow: 0, lr: 1, ...layout });
    third.loadBuffer(opt.toBuffer());
    expect(third.toBuffer().equals(opt.toBuffer())).toBe(true);
  });
});

describe("resuming at step N and running to 2N is bit-identical to 2N steps without stopping", () => {
  const N = 6;
  const sizes = [1000, 257, 1];
  const dtypes = ["f32", "bf16", "f16"] as const;
  const asDtype = (values: Float32Array, dtype: (typeof dtypes)[number]): Tensor =>
    dtype === "f32" ? values.slice() : dtype === "bf16" ? toBf16(values) : toF16(values);
  const copy = (t: Tensor): Tensor => (t instanceof Float32Array ? t.slice() : { data: t.data.slice() as Uint16Array, dtype: t.dtype } as Tensor);
  const gradsAt = (t: number) => sizes.map((n, i) => (i === 1 ? toBf16(wave(n, 100 + t)) : wave(n, 100 + t + i)));

  test.each(dtypes)("MicroAdam with %s params, through a file", (dtype) => {
    const make = (params: Tensor[]) =>
      new MicroAdam([{ params: params.slice(0, 2), weightDecay: 0.01 }, { params: params.slice(2), alpha: 0.3 }], { denseBelow: 0, lr: 0.01, ...layout });
    const initial = sizes.map((n, i) => asDtype(wave(n, i), dtype));

    const straightParams = initial.map(copy);
    const straight = make(straightParams);
    for (let t = 1; t <= 2 * N; t++) straight.step(gradsAt(t));

    const firstParams = initial.map(copy);
    const first = make(firstParams);
    for (let t = 1; t <= N; t++) first.step(gradsAt(t));
    const file = path.join(dir, `resume-${dtype}.madam`);
    first.save(file);
    first.dispose();

    const resumedParams = firstParams.map(copy); // the model's weights, saved by the caller
    const resumed = make(resumedParams);
    resumed.paramGroups[0].lr = 123; // overwritten by the checkpoint's hyperparameters
    resumed.load(file);
    expect(resumed.stepCount).toBe(N);
    for (let t = N + 1; t <= 2 * N; t++) resumed.step(gradsAt(t));
    expect(resumedParams).toEqual(straightParams);
    expect(resumed.toBuffer().equals(straight.toBuffer())).toBe(true);
  });

  test.each(dtypes)("one state with %s params, through a buffer and microAdamStepAsync", async (dtype) => {
    const n = 3000;
    const straightParams = asDtype(wave(n, 9), dtype);
    const straight = createMicroAdamState({ numel: n, ...layout });
    const hyper = { lr: 0.003, weightDecay: 0.02, alpha: 0.1 };
    for (let t = 1; t <= 2 * N; t++) microAdamStep(straight, straightParams, wave(n, t), hyper);

    const params = asDtype(wave(n, 9), dtype);
    const first = createMicroAdamState({ numel: n, ...layout });
    for (let t = 1; t <= N; t++) await microAdamStepAsync(first, params, wave(n, t), hyper);
    const resumed = MicroAdamState.fromBuffer(first.toBuffer());
    for (let t = N + 1; t <= 2 * N; t++) await microAdamStepAsync(resumed, params, wave(n, t), hyper);
    expect(params).toEqual(straightParams);
    expect(resumed.toBuffer().equals(straight.toBuffer())).toBe(true);
  });
});

describe("damaged checkpoints are refused and nothing changes", () => {
  // Small on purpose: every truncation and every single-bit flip is tried.
  const small = { topkBlockSize: 8, quantBlockSize: 4, window: 2, density: 0.25 };

  function expectRefused(target: MicroAdamState | MicroAdam, bytes: Buffer) {
    const before = target.toBuffer();
    const code = codeOf(() => target.loadBuffer(bytes));
    expect(target.toBuffer().equals(before)).toBe(true);
    return code;
  }

  test("every truncation and every single-bit flip of a state checkpoint", () => {
    const { state } = steppedState(10, 3, small);
    const good = state.toBuffer();
    const target = steppedState(10, 1, small).state;
    const codes = new Map<string | undefined, number>();
    const note = (code: string | undefined) => codes.set(code, (codes.get(code) ?? 0) + 1);
    for (let length = 0; length < good.length; length++) note(expectRefused(target, good.subarray(0, length)));
    for (let bit = 0; bit < good.length * 8; bit++) {
      const damaged = Buffer.from(good);
      damaged[bit >> 3] ^= 1 << (bit & 7);
      note(expectRefused(target, damaged));
      note(codeOf(() => MicroAdamState.fromBuffer(damaged)));
    }
    expect([...codes.keys()]).toEqual(["ERR_MICROADAM_CHECKPOINT"]);
    expect(codes.get("ERR_MICROADAM_CHECKPOINT")).toBe(good.length * 17);
    target.loadBuffer(good); // and the intact file still loads
    expect(target.snapshot()).toEqual(state.snapshot());
  });

  test("every truncation and every single-bit flip of an optimizer checkpoint", () => {
    const build = () => new MicroAdam([{ params: [wave(10, 1)] }, { params: [wave(3, 2)], lr: 0.5 }], { denseBelow: 0, lr: 0.1, ...small });
    const source = build();
    source.step([wave(10, 3), wave(3, 4)]);
    const good = source.toBuffer();
    const target = build();
    target.paramGroups[1].lr = 0.7; // a hyperparameter the checkpoint would overwrite
    for (let length = 0; length < good.length; length++) expect(expectRefused(target, good.subarray(0, length))).toBe("ERR_MICROADAM_CHECKPOINT");
    for (let bit = 0; bit < good.length * 8; bit++) {
      const damaged = Buffer.from(good);
      damaged[bit >> 3] ^= 1 << (bit & 7);
      expect(expectRefused(target, damaged)).toBe("ERR_MICROADAM_CHECKPOINT");
    }
    expect(target.paramGroups[1].lr).toBe(0.7);
  });

  test("random damage: bytes overwritten, inserted, removed, duplicated", () => {
    const { state } = steppedState(200, 3, layout);
    const good = state.toBuffer();
    const target = steppedState(200, 1, layout).state;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 5 }), (mutations) => {
        const damaged = mutate(good, mutations);
        if (damaged.equals(good)) return;
        expect(expectRefused(target, damaged)).toBe("ERR_MICROADAM_CHECKPOINT");
      }),
      { numRuns: 1500, seed: 42 },
    );
  });

  test("clear messages for what can be told apart", () => {
    const { state } = steppedState(100, 2);
    const good = state.toBuffer();
    const target = createMicroAdamState({ numel: 100, ...layout });
    const message = (bytes: Uint8Array) => {
      try {
        target.loadBuffer(bytes);
      } catch (e) {
        return (e as Error).message;
      }
      return "loaded";
    };
    expect(message(good.subarray(0, 10))).toBe("checkpoint buffer: too short to be a checkpoint: 10 bytes, the header alone is 32");
    expect(message(Buffer.from("PK\x03\x04 not a checkpoint at all, but long enough"))).toBe(
      "checkpoint buffer: not a microadam-native checkpoint (the first 8 bytes are not its magic number)",
    );
    expect(message(good.subarray(0, 100))).toBe(`checkpoint buffer: truncated: the header says ${good.length} bytes, there are 100`);
    expect(message(Buffer.concat([good, Buffer.from([0])]))).toBe(`checkpoint buffer: 1 unexpected bytes after the end of the checkpoint (${good.length} bytes)`);
    const flipped = Buffer.from(good);
    flipped[good.length - 20] ^= 0x10;
    expect(message(flipped)).toBe("checkpoint buffer: section 1 is damaged (its CRC-32 does not match)");
    const header = Buffer.from(good);
    header[20] ^= 1;
    expect(message(header)).toBe("checkpoint buffer: the header is damaged (its CRC-32 does not match)");
    const file = path.join(dir, "missing.madam");
    expect(() => target.load(file)).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });

  /** Rewrites one section's payload and fixes up its CRC: a file written wrong, not damaged. */
  function forge(bytes: Buffer, sectionIndex: number, edit: (payload: Buffer) => void): Buffer {
    const out = Buffer.from(bytes);
    let offset = 32;
    for (let i = 0; i < sectionIndex; i++) offset += 16 + Number(out.readBigUInt64LE(offset + 8)) + 4;
    const length = Number(out.readBigUInt64LE(offset + 8));
    edit(out.subarray(offset + 16, offset + 16 + length));
    out.writeUInt32LE(crc32(out.subarray(offset, offset + 16 + length)), offset + 16 + length);
    return out;
  }

  test("a newer format version, an unknown kind: refused by name", () => {
    const good = steppedState(100, 2).state.toBuffer();
    const withHeader = (edit: (h: Buffer) => void) => {
      const out = Buffer.from(good);
      edit(out);
      out.writeUInt32LE(crc32(out.subarray(0, 28)), 28);
      return out;
    };
    const target = createMicroAdamState({ numel: 100, ...layout });
    expect(() => target.loadBuffer(withHeader((h) => h.writeUInt16LE(3, 8)))).toThrow(
      "checkpoint buffer: format version 3 is not supported (this build reads versions 1 and 2)",
    );
    // Version 2 exists for optimizers holding AdamW states only.
    expect(() => target.loadBuffer(withHeader((h) => h.writeUInt16LE(2, 8)))).toThrow(
      "checkpoint buffer: format version 2 is for optimizers (kind 2) only, this is kind 1",
    );
    expect(() => target.loadBuffer(withHeader((h) => h.writeUInt16LE(7, 10)))).toThrow("checkpoint buffer: unknown checkpoint kind 7");
  });

  test("content that passes its CRC but breaks the layout's rules is refused as a damaged checkpoint", () => {
    const { state } = steppedState(100, 4);
    const good = state.toBuffer();
    const target = steppedState(100, 1).state;
    const before = target.toBuffer();
    // A window index past its block (offset of windowIndices: 8 + 50 codes + 4 × 7 buckets).
    const badIndex = forge(good, 1, (p) => p.writeUInt16LE(999, 8 + 50 + 28));
    for (const load of [() => target.loadBuffer(badIndex), () => MicroAdamState.fromBuffer(badIndex)]) {
      expect(load).toThrow("checkpoint buffer: its content is invalid: snapshot.windowIndices[0] = 999 is outside its block of 64 elements");
      expect(codeOf(load)).toBe("ERR_MICROADAM_CHECKPOINT");
    }
    // Sizes that contradict the layout; a layout no state can have (density 2).
    const badWindow = forge(good, 0, (p) => p.writeUInt32LE(2000, 8));
    expect(() => MicroAdamState.fromBuffer(badWindow)).toThrow(`checkpoint buffer: its STAT section has ${good.length - 136 + 8} bytes, its layout needs`);
    const badDensity = forge(good, 0, (p) => p.writeDoubleLE(2, 24));
    expect(() => MicroAdamState.fromBuffer(badDensity)).toThrow(
      "checkpoint buffer: its content is invalid: Expected a number in (0, 1] for options.density but received 2 of type number",
    );
    expect(codeOf(() => target.loadBuffer(badDensity))).toBe("ERR_MICROADAM_CHECKPOINT_MISMATCH");
    expect(target.toBuffer().equals(before)).toBe(true);
    // Hyperparameters out of range in an optimizer checkpoint.
    const opt = new MicroAdam([wave(100, 1)], { denseBelow: 0, lr: 0.1, ...layout });
    const optBytes = forge(opt.toBuffer(), 0, (p) => p.writeDoubleLE(-1, 8));
    expect(() => opt.loadBuffer(optBytes)).toThrow(
      "checkpoint buffer: its content is invalid: Expected a number in [0, Infinity) for stateDict.paramGroups[0].lr but received -1 of type number",
    );
    expect(opt.paramGroups[0].lr).toBe(0.1);
  });
});

describe("a checkpoint that does not fit its target is refused by name", () => {
  test("every layout field of a state", () => {
    const good = steppedState(300, 2).state.toBuffer();
    const cases: [object, string][] = [
      [{ numel: 301 }, "numel is 300 in the checkpoint but 301 here"],
      [{ window: 4 }, "window is 3 in the checkpoint but 4 here"],
      [{ density: 0.2 }, "density is 0.1 in the checkpoint but 0.2 here"],
      [{ topkBlockSize: 128 }, "topkBlockSize is 64 in the checkpoint but 128 here"],
      [{ quantBlockSize: 32 }, "quantBlockSize is 16 in the checkpoint but 32 here"],
    ];
    for (const [change, message] of cases) {
      const target = createMicroAdamState({ numel: 300, ...layout, ...change });
      const before = target.toBuffer();
      expect(() => target.loadBuffer(good)).toThrow(`checkpoint buffer does not fit this state: ${message}`);
      expect(codeOf(() => target.loadBuffer(good))).toBe("ERR_MICROADAM_CHECKPOINT_MISMATCH");
      expect(target.toBuffer().equals(before)).toBe(true);
    }
  });

  test("groups, tensor counts and sizes of an optimizer; a state file for an optimizer and back", () => {
    const source = new MicroAdam([{ params: [wave(30, 1), wave(5, 2)] }, { params: [wave(9, 3)] }], { denseBelow: 0, lr: 0.1, ...layout });
    const good = source.toBuffer();
    const cases: [MicroAdam, string][] = [
      [new MicroAdam([wave(30, 1), wave(5, 2), wave(9, 3)], { denseBelow: 0, lr: 0.1, ...layout }), "it has 2 param groups, this optimizer 1"],
      [new MicroAdam([{ params: [wave(30, 1)] }, { params: [wave(5, 2), wave(9, 3)] }], { denseBelow: 0, lr: 0.1, ...layout }), "param group 0 has 2 tensors in the checkpoint but 1 here"],
      [new MicroAdam([{ params: [wave(30, 1), wave(6, 2)] }, { params: [wave(9, 3)] }], { denseBelow: 0, lr: 0.1, ...layout }), "this optimizer's states[1]: numel is 5 in the checkpoint but 6 here"],
      [new MicroAdam([{ params: [wave(30, 1), wave(5, 2)] }, { params: [wave(9, 3)] }], { denseBelow: 0, lr: 0.1, ...layout, window: 9 }), "this optimizer's states[0]: window is 3 in the checkpoint but 9 here"],
    ];
    for (const [target, message] of cases) {
      const before = target.toBuffer();
      expect(() => target.loadBuffer(good)).toThrow(message);
      expect(codeOf(() => target.loadBuffer(good))).toBe("ERR_MICROADAM_CHECKPOINT_MISMATCH");
      expect(target.toBuffer().equals(before)).toBe(true);
    }
    const state = createMicroAdamState({ numel: 30, ...layout });
    expect(() => state.loadBuffer(good)).toThrow(
      "checkpoint buffer does not fit a MicroAdamState: it holds a MicroAdam optimizer (load it with MicroAdam.load)",
    );
    expect(() => source.loadBuffer(state.toBuffer())).toThrow(
      "checkpoint buffer does not fit a MicroAdam optimizer: it holds a single MicroAdamState (load it with MicroAdamState.load)",
    );
  });
});

describe("states that cannot be saved or loaded now", () => {
  test("a disposed state, a state busy with an async step", async () => {
    const { state, params } = steppedState(20_000, 1);
    const file = path.join(dir, "busy.madam");
    state.save(file);
    const pending = microAdamStepAsync(state, params, wave(20_000, 5), { lr: 0.01 });
    expect(() => state.save(file)).toThrow("state is busy: a step on it is in flight (await it first)");
    expect(() => state.load(file)).toThrow("state is busy: a step on it is in flight (await it first)");
    expect(() => state.toBuffer()).toThrow("state is busy");
    await pending;
    expect(state.step).toBe(2);
    state.load(file);
    expect(state.step).toBe(1);
    state.dispose();
    expect(() => state.save(file)).toThrow("state was disposed");
    expect(() => state.load(file)).toThrow("state was disposed");

    const opt = new MicroAdam([wave(20_000, 1), wave(10, 2)], { denseBelow: 0, lr: 0.1 });
    const optPending = opt.stepAsync([wave(20_000, 3), wave(10, 4)]);
    expect(() => opt.toBuffer()).toThrow("states[0] is busy: a step on it is in flight (await it first)");
    expect(() => saveState(opt, file)).toThrow("states[0] is busy");
    await optPending;
    opt.save(file);
    opt.states[1].dispose();
    expect(() => opt.load(file)).toThrow("states[1] was disposed");
  });
});

describe("saving is atomic", () => {
  const saveScript = (file: string, killAfterBytes: number) => `
    const fs = require("fs");
    const { MicroAdam } = require(${JSON.stringify(path.join(root, "lib"))});
    const opt = new MicroAdam([new Float32Array(300000).fill(0.5)], { denseBelow: 0, lr: 0.1 });
    opt.step([Float32Array.from({ length: 300000 }, (_, i) => Math.sin(i))]);
    const write = fs.writeSync;
    let written = 0;
    fs.writeSync = (...args) => {
      const n = write(...args);
      written += n;
      if (written > ${killAfterBytes}) process.kill(process.pid, "SIGKILL"); // a crash mid-save
      return n;
    };
    opt.save(${JSON.stringify(file)});
  `;

  test("a process killed mid-save leaves the previous checkpoint intact", () => {
    const file = path.join(dir, "atomic.madam");
    const previous = new MicroAdam([new Float32Array(300000)], { denseBelow: 0, lr: 0.1 });
    previous.save(file);
    const before = fs.readFileSync(file);
    const child = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", saveScript(file, 1000)], {
      cwd: root,
      env: { ...process.env, TS_NODE_PROJECT: path.join(root, "tsconfig.json") },
      encoding: "utf8",
    });
    expect(child.signal).toBe("SIGKILL");
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    previous.load(file); // still a sound checkpoint
    // The killed save left its temporary file, named so that it is never mistaken for the target.
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(".atomic.madam.") && f.endsWith(".tmp"))).toHaveLength(1);
  }, 60_000);

  test("a failed write leaves the previous checkpoint intact and removes its temporary file", () => {
    const file = path.join(dir, "enospc.madam");
    const { state } = steppedState(5000, 2);
    state.save(file);
    const before = fs.readFileSync(file);
    microAdamStep(state, wave(5000, 1), wave(5000, 2), { lr: 0.1 });
    const spy = jest.spyOn(nodeFs, "writeSync").mockImplementationOnce(() => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    });
    try {
      expect(() => state.save(file)).toThrow("ENOSPC");
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(".enospc.madam"))).toEqual([]);
    // The file is flushed before it replaces the target.
    const sync = jest.spyOn(nodeFs, "fsyncSync");
    try {
      state.save(file);
      expect(sync).toHaveBeenCalled();
    } finally {
      sync.mockRestore();
    }
    expect(fs.readFileSync(file).equals(state.toBuffer())).toBe(true);
  });

  test("saving onto a directory fails cleanly", () => {
    const target = path.join(dir, "a-directory");
    fs.mkdirSync(target);
    const { state } = steppedState(50, 1);
    expect(() => state.save(target)).toThrow(/EISDIR|EPERM|ENOTEMPTY|EEXIST/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(".a-directory"))).toEqual([]);
  });
});
