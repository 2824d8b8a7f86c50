// Streaming checkpoints (docs/checkpoint-format.md, "Streaming"): with a chunk of a few bytes,
// every path crosses chunk boundaries; the bytes and the loaded states are the same as with the
// default chunk; JavaScript never holds more than one chunk of a state; damage at any chunk
// boundary is refused with nothing changed; the async forms hold or replace states as documented.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  createMicroAdamState,
  loadState,
  loadStateAsync,
  MicroAdam,
  MicroAdamState,
  microAdamStep,
  saveState,
  saveStateAsync,
  type MicroAdamSnapshot,
} from "../lib";
import { checkpointChunkBytes, setCheckpointChunkBytes } from "../lib/checkpoint/stream";

const layout = { topkBlockSize: 64, quantBlockSize: 16, window: 3, density: 0.1 } as const;
let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-stream-"))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function wave(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + seed * 1.37) * Math.cos(i * 0.113 * seed));
}

function steppedState(numel: number, steps: number) {
  const state = createMicroAdamState({ numel, ...layout });
  const params = wave(numel, 1);
  for (let t = 1; t <= steps; t++) microAdamStep(state, params, wave(numel, t + 1), { lr: 0.01, weightDecay: 0.01, alpha: 0.2 });
  return state;
}

function steppedOptimizer(steps: number, sizes = [301, 64, 7]) {
  const opt = new MicroAdam([{ params: sizes.slice(0, 2).map((n, i) => wave(n, i)) }, { params: sizes.slice(2).map((n) => wave(n, 9)), lr: 0.3 }], { denseBelow: 0,
    lr: 0.05,
    ...layout,
  });
  for (let t = 1; t <= steps; t++) opt.step(sizes.map((n, i) => wave(n, t * 10 + i)));
  return opt;
}

function withChunk<T>(bytes: number, run: () => T): T {
  const previous = setCheckpointChunkBytes(bytes);
  try {
    return run();
  } finally {
    setCheckpointChunkBytes(previous);
  }
}

async function withChunkAsync<T>(bytes: number, run: () => Promise<T>): Promise<T> {
  const previous = setCheckpointChunkBytes(bytes);
  try {
    return await run();
  } finally {
    setCheckpointChunkBytes(previous);
  }
}

// The module object itself (not an import namespace), so that a spy replaces what lib/ calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs: typeof fs = require("fs");

/** The largest single write and read of the file while `run` runs: what JavaScript held of the state at once. */
function largestIo(run: () => void): { write: number; read: number } {
  const sizes = { write: 0, read: 0 };
  const realWrite = nodeFs.writeSync as (...args: unknown[]) => number;
  const realRead = nodeFs.readSync as (...args: unknown[]) => number;
  // (fd, buffer, offset?, length?, position?): the length is the fourth argument where given.
  const length = (args: unknown[]) => (typeof args[3] === "number" ? args[3] : (args[1] as Uint8Array).byteLength);
  const write = jest.spyOn(nodeFs, "writeSync").mockImplementation(((...args: unknown[]) => {
    sizes.write = Math.max(sizes.write, length(args));
    return realWrite(...args);
  }) as typeof fs.writeSync);
  const read = jest.spyOn(nodeFs, "readSync").mockImplementation(((...args: unknown[]) => {
    sizes.read = Math.max(sizes.read, length(args));
    return realRead(...args);
  }) as typeof fs.readSync);
  try {
    run();
  } finally {
    write.mockRestore();
    read.mockRestore();
  }
  return sizes;
}

describe("every chunk size gives the same bytes and the same states", () => {
  test.each([4, 8, 12, 100, 4096])("a state, chunks of %d bytes", (chunk) => {
    const state = steppedState(1000, 4);
    const reference = state.toBuffer(); // the default chunk (16 MiB): one chunk per buffer
    const file = path.join(dir, `state-${chunk}.madam`);
    withChunk(chunk, () => {
      state.save(file);
      expect(state.toBuffer().equals(reference)).toBe(true);
    });
    expect(fs.readFileSync(file).equals(reference)).toBe(true);
    const into = createMicroAdamState({ numel: 1000, ...layout });
    withChunk(chunk, () => into.load(file));
    expect(into.snapshot()).toEqual(state.snapshot());
    const fresh = withChunk(chunk, () => MicroAdamState.fromFile(file));
    expect(fresh.snapshot()).toEqual(state.snapshot());
    expect(fresh.step).toBe(4);
  });

  test.each([4, 12, 4096])("an optimizer, chunks of %d bytes", (chunk) => {
    const source = steppedOptimizer(3);
    const reference = source.toBuffer();
    const file = path.join(dir, `opt-${chunk}.madam`);
    withChunk(chunk, () => saveState(source, file));
    expect(fs.readFileSync(file).equals(reference)).toBe(true);
    const target = steppedOptimizer(1);
    withChunk(chunk, () => loadState(target, file));
    expect(target.states.map((s) => s.snapshot())).toEqual(source.states.map((s) => s.snapshot()));
    expect(target.paramGroups[1].lr).toBe(0.3);
    // And both go on identically.
    const grads = [301, 64, 7].map((n, i) => wave(n, 77 + i));
    source.step(grads);
    target.step(grads);
    expect(target.toBuffer().equals(source.toBuffer())).toBe(true);
  });

  test("the async forms write and read the same bytes", async () => {
    const state = steppedState(700, 3);
    const opt = steppedOptimizer(2);
    const stateFile = path.join(dir, "async-state.madam");
    const optFile = path.join(dir, "async-opt.madam");
    await withChunkAsync(12, async () => {
      await state.saveAsync(stateFile);
      await saveStateAsync(opt, optFile);
    });
    expect(fs.readFileSync(stateFile).equals(state.toBuffer())).toBe(true);
    expect(fs.readFileSync(optFile).equals(opt.toBuffer())).toBe(true);
    const into = createMicroAdamState({ numel: 700, ...layout });
    const target = steppedOptimizer(0);
    await withChunkAsync(12, async () => {
      await into.loadAsync(stateFile);
      await loadStateAsync(target, optFile);
    });
    expect(into.snapshot()).toEqual(state.snapshot());
    expect(target.toBuffer().equals(opt.toBuffer())).toBe(true);
    const fresh = await MicroAdamState.fromFileAsync(stateFile);
    expect(fresh.snapshot()).toEqual(state.snapshot());
  });
});

test("JavaScript holds one chunk of a state at a time, saving and loading", () => {
  const state = steppedState(20000, 2);
  const stateBytes = state.stateBytes;
  const file = path.join(dir, "bounded.madam");
  const chunk = 256;
  const saved = largestIo(() => withChunk(chunk, () => state.save(file)));
  const loaded = largestIo(() => withChunk(chunk, () => MicroAdamState.fromFile(file).dispose()));
  expect(stateBytes).toBeGreaterThan(50 * chunk);
  expect(saved.write).toBe(chunk);
  expect(loaded.read).toBe(chunk);
  expect(checkpointChunkBytes()).toBe(16 * 2 ** 20);
});

describe("damage at chunk boundaries is refused and nothing changes", () => {
  test("every truncation and a flipped byte on each side of every chunk boundary (chunks of 16 bytes)", () => {
    const source = steppedState(300, 3);
    const good = source.toBuffer();
    const target = steppedState(300, 1);
    const before = target.toBuffer();
    const file = path.join(dir, "damaged.madam");
    const chunk = 16;
    const refusal = (bytes: Uint8Array): string | undefined => {
      fs.writeFileSync(file, bytes);
      try {
        withChunk(chunk, () => target.load(file));
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return "loaded";
    };
    // Section payloads start at odd offsets of the file; flip bytes around every multiple of the
    // chunk size from each section's start as well as the file's.
    const positions = new Set<number>();
    for (let at = 0; at < good.length; at += chunk) for (const p of [at - 1, at, at + 1, at + 32 + 16, at + 32 + 16 + 56 + 4 + 16]) positions.add(p);
    for (const p of [...positions].filter((p) => p >= 0 && p < good.length)) {
      const damaged = Buffer.from(good);
      damaged[p] ^= 0x40;
      expect([p, refusal(damaged)]).toEqual([p, "ERR_MICROADAM_CHECKPOINT"]);
    }
    for (let length = 0; length < good.length; length += 7) expect([length, refusal(good.subarray(0, length))]).toEqual([length, "ERR_MICROADAM_CHECKPOINT"]);
    expect(target.toBuffer().equals(before)).toBe(true);
    expect(refusal(good)).toBe("loaded");
    expect(target.snapshot()).toEqual(source.snapshot());
  });

  test("an optimizer whose last tensor is damaged keeps every state and hyperparameter", () => {
    const good = steppedOptimizer(3).toBuffer();
    const target = steppedOptimizer(1);
    target.paramGroups[1].lr = 0.9;
    const before = target.states.map((s) => s.snapshot());
    const damaged = Buffer.from(good);
    damaged[good.length - 10] ^= 1;
    const file = path.join(dir, "damaged-opt.madam");
    fs.writeFileSync(file, damaged);
    expect(() => withChunk(8, () => target.load(file))).toThrow("section 6 is damaged (its CRC-32 does not match)");
    expect(target.states.map((s) => s.snapshot())).toEqual(before);
    expect(target.paramGroups[1].lr).toBe(0.9);
  });
});

describe("async saves hold the state, async loads replace it at the end", () => {
  test("a step during saveAsync is refused as busy; afterwards it runs", async () => {
    const state = steppedState(5000, 2);
    const params = wave(5000, 3);
    const file = path.join(dir, "held.madam");
    const before: MicroAdamSnapshot = state.snapshot();
    const saving = withChunkAsync(64, () => state.saveAsync(file));
    expect(state.busy).toBe(true);
    expect(() => microAdamStep(state, params, wave(5000, 4), { lr: 0.1 })).toThrow("busy");
    await saving;
    expect(state.busy).toBe(false);
    expect(MicroAdamState.fromFile(file).snapshot()).toEqual(before);
    microAdamStep(state, params, wave(5000, 4), { lr: 0.1 });
    expect(state.step).toBe(3);
  });

  test("a loadAsync of a damaged file rejects and changes nothing", async () => {
    const state = steppedState(500, 2);
    const file = path.join(dir, "bad-async.madam");
    const bytes = Buffer.from(steppedState(500, 4).toBuffer());
    bytes[bytes.length - 5] ^= 2;
    fs.writeFileSync(file, bytes);
    const before = state.toBuffer();
    await expect(state.loadAsync(file)).rejects.toMatchObject({ code: "ERR_MICROADAM_CHECKPOINT" });
    expect(state.toBuffer().equals(before)).toBe(true);
    await expect(MicroAdamState.fromFileAsync(file)).rejects.toMatchObject({ code: "ERR_MICROADAM_CHECKPOINT" });
  });
});

describe("a process killed while it loads", () => {
  const root = path.join(__dirname, "..");
  // The child runs the built package (dist/), loading the file again and again in 4 KiB chunks.
  const loader = (file: string) => `
    const { MicroAdamState, loadStateAsync } = require(${JSON.stringify(path.join(root, "dist"))});
    require(${JSON.stringify(path.join(root, "dist", "checkpoint", "stream.js"))}).setCheckpointChunkBytes(4096);
    (async () => {
      const state = MicroAdamState.fromFile(${JSON.stringify(file)});
      require("fs").writeSync(1, "ready\\n");
      for (;;) { state.load(${JSON.stringify(file)}); await loadStateAsync(state, ${JSON.stringify(file)}); }
    })();
  `;

  test("leaves the checkpoint as it was and nothing beside it (seeded random SIGKILLs)", async () => {
    const sub = fs.mkdtempSync(path.join(dir, "killed-load-"));
    const file = path.join(sub, "load.madam");
    steppedState(400000, 2).save(file);
    const before = fs.readFileSync(file);
    let seed = 12345;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let kill = 0; kill < 6; kill++) {
      const child = spawn(process.execPath, ["-e", loader(file)], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once("data", () => setTimeout(resolve, 20 + random() * 300));
        child.once("exit", (code) => reject(new Error(`the loader exited (${code}) before it was killed`)));
      });
      const exited = new Promise((resolve) => child.once("exit", (_, signal) => resolve(signal)));
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");
      expect(fs.readFileSync(file).equals(before)).toBe(true);
      expect(fs.readdirSync(sub)).toEqual(["load.madam"]);
    }
    expect(MicroAdamState.fromFile(file).toBuffer().equals(before)).toBe(true);
  }, 60_000);
});

test("adopt checks a staging state unless its contents were checked since its last write", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { binding } = require("../lib/binding") as typeof import("../lib/binding");
  const target = steppedState(300, 2);
  const before = target.toBuffer();
  const staging = new binding.NativeState({ numel: 300, ...layout });
  staging.checkContents(5); // zeros are valid contents
  staging.writeBytes(3, 0, new Uint8Array(new Uint16Array([999]).buffer)); // a window index past its block
  expect(() => target.native.adopt(staging)).toThrow("snapshot.windowIndices[0] = 999 is outside its block of 64 elements");
  expect(target.toBuffer().equals(before)).toBe(true);
  staging.writeBytes(3, 0, new Uint8Array(2));
  target.native.adopt(staging);
  expect(target.step).toBe(5);
  staging.dispose();
});
