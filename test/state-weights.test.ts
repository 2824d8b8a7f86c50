// The tfjs optimizer weights are binary checkpoints (docs/tfjs.md, "Saving and resuming";
// docs/checkpoint-format.md): a MicroAdam variable's weight is its state's checkpoint (kind 1),
// an AdamW variable's a kind 3 checkpoint, each zero-padded to whole int32 words, and setWeights
// refuses them damaged exactly as a checkpoint file is refused, changing nothing.
import { crc32 } from "zlib";
import * as tf from "@tensorflow/tfjs";
import { AdamW, createMicroAdamState, MicroAdam, MicroAdamState, microAdamStep } from "../lib";
import { AdamWOptimizer, MicroAdamOptimizer, type NamedWeight } from "../lib/tfjs";

const layout = { window: 3, density: 0.25, topkBlockSize: 8, quantBlockSize: 4 } as const;

function seeded(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

let counter = 0;
function variable(numel: number, seed: number): tf.Variable {
  return tf.variable(tf.tensor1d(seeded(numel, seed)), true, `state-weights-test/v${counter++}`);
}

/** The weight's bytes, as tfjs's IO handlers store them. */
function bytesOf(weight: NamedWeight): Buffer {
  const words = weight.tensor.dataSync() as Int32Array;
  return Buffer.from(words.buffer, words.byteOffset, words.byteLength);
}

function int32Weight(name: string, bytes: Uint8Array): NamedWeight {
  const words = new Int32Array(Math.ceil(bytes.length / 4));
  new Uint8Array(words.buffer).set(bytes);
  return { name, tensor: tf.tensor1d(words, "int32") };
}

/** An optimizer with one MicroAdam variable (`numel` elements) and one AdamW variable, stepped twice. */
function stepped(numel: number) {
  const big = variable(numel, 1);
  const small = variable(5, 2);
  const opt = new MicroAdamOptimizer({ learningRate: 0.01, weightDecay: 0.1, denseBelow: 6, ...layout });
  for (const seed of [3, 4]) tf.tidy(() => opt.applyGradients({ [big.name]: tf.tensor1d(seeded(numel, seed)), [small.name]: tf.tensor1d(seeded(5, seed + 10)) }));
  return { opt, big, small, dispose: () => (opt.dispose(), tf.dispose([big, small])) };
}

function documentedCheckpoint(kind: number, tag: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.write(tag, 0, "latin1");
  head.writeBigUInt64LE(BigInt(payload.length), 8);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(Buffer.concat([head, payload])));
  const header = Buffer.alloc(32);
  Buffer.from([0x89, 0x4d, 0x41, 0x44, 0x41, 0x4d, 0x0d, 0x0a]).copy(header);
  header.writeUInt16LE(1, 8);
  header.writeUInt16LE(kind, 10);
  header.writeUInt32LE(1, 12);
  header.writeBigUInt64LE(BigInt(32 + 16 + payload.length + 4), 16);
  header.writeUInt32LE(crc32(header.subarray(0, 28)), 28);
  return Buffer.concat([header, head, payload, crc]);
}

afterEach(() => expect(tf.memory().numTensors).toBeLessThan(200));

describe("the weights are checkpoints", () => {
  test("a MicroAdam variable's weight is its state's checkpoint, zero-padded to whole words", async () => {
    const paddings = new Set<number>();
    for (const numel of [16, 17, 19, 21]) {
      const { opt, dispose } = stepped(numel);
      const [iter, micro] = await opt.getWeights();
      const state = opt.variableStates()[0].state as MicroAdamState;
      const checkpoint = state.toBuffer();
      const bytes = bytesOf(micro);
      expect(bytes.length).toBe(Math.ceil(checkpoint.length / 4) * 4);
      expect(bytes.subarray(0, checkpoint.length).equals(checkpoint)).toBe(true);
      expect([...bytes.subarray(checkpoint.length)].every((b) => b === 0)).toBe(true);
      paddings.add(bytes.length - checkpoint.length);
      // The checkpoint's own length (header bytes 16-23) tells where the padding starts.
      expect(Number(bytes.readBigUInt64LE(16))).toBe(checkpoint.length);
      // What a weight holds loads as a checkpoint once the padding is cut off.
      const copy = MicroAdamState.fromBuffer(bytes.subarray(0, checkpoint.length));
      expect(copy.snapshot()).toEqual(state.snapshot());
      copy.dispose();
      tf.dispose([iter.tensor, micro.tensor]);
      dispose();
    }
    expect([...paddings].sort()).toEqual([0, 1, 2, 3]);
  });

  test("an AdamW variable's weight is a kind 3 checkpoint: one ADMW section (numel, step, expAvg, expAvgSq)", async () => {
    const { opt, dispose } = stepped(20);
    const weights = await opt.getWeights();
    const state = opt.variableStates()[1];
    expect(state.kind).toBe("adamw");
    const snap = state.state.snapshot() as { step: number; expAvg: Float32Array; expAvgSq: Float32Array };
    const payload = Buffer.alloc(16 + 8 * 5);
    payload.writeBigUInt64LE(5n, 0);
    payload.writeBigUInt64LE(2n, 8);
    [...snap.expAvg, ...snap.expAvgSq].forEach((v, i) => payload.writeFloatLE(v, 16 + 4 * i));
    const expected = documentedCheckpoint(3, "ADMW", payload);
    expect(expected.length).toBe(68 + 8 * 5);
    expect(bytesOf(weights[2]).equals(expected)).toBe(true); // 108 bytes: no padding
    tf.dispose(weights.map((w) => w.tensor));
    dispose();
  });

  test("a round trip through setWeights gives the same bytes and the same states", async () => {
    const { opt, dispose } = stepped(23);
    const saved = await opt.getWeights();
    const copy = new MicroAdamOptimizer({ learningRate: 0.01, denseBelow: 6, ...layout });
    await copy.setWeights(saved);
    expect(copy.variableStates().map((v) => [v.kind, v.state.snapshot()])).toEqual(opt.variableStates().map((v) => [v.kind, v.state.snapshot()]));
    const again = await copy.getWeights();
    expect(again.map(bytesOf)).toEqual(saved.map(bytesOf));
    tf.dispose([...saved, ...again].map((w) => w.tensor));
    copy.dispose();
    dispose();
  });
});

describe("setWeights refuses a damaged weight as a damaged checkpoint and changes nothing", () => {
  async function refusal(opt: MicroAdamOptimizer | AdamWOptimizer, weights: NamedWeight[]): Promise<{ code?: string; message: string }> {
    const before = await opt.getWeights();
    let error: { code?: string; message: string } | undefined;
    try {
      await opt.setWeights(weights);
    } catch (e) {
      error = e as { code?: string; message: string };
    }
    const after = await opt.getWeights();
    expect(after.map(bytesOf)).toEqual(before.map(bytesOf));
    expect(opt.iterations).toBe(2);
    tf.dispose([...before, ...after].map((w) => w.tensor));
    if (error === undefined) throw new Error("setWeights accepted the weights");
    return error;
  }

  test("every truncation and every single-bit flip of both kinds of weight", async () => {
    const { opt, dispose } = stepped(10);
    const saved = await opt.getWeights();
    for (const index of [1, 2]) {
      const good = bytesOf(saved[index]);
      const name = saved[index].name;
      const codes = new Set<string | undefined>();
      const tryBytes = async (bytes: Uint8Array) => {
        const weights = saved.map((w, i) => (i === index ? int32Weight(name, bytes) : w));
        const { code, message } = await refusal(opt, weights);
        expect(message.startsWith(`weightValues[${index}] ('${name}')`)).toBe(true);
        codes.add(code);
        weights[index].tensor.dispose();
      };
      for (let words = 1; words < good.length / 4; words++) await tryBytes(good.subarray(0, 4 * words));
      for (let bit = 0; bit < good.length * 8; bit++) {
        const damaged = Buffer.from(good);
        damaged[bit >> 3] ^= 1 << (bit & 7);
        await tryBytes(damaged);
      }
      expect([...codes]).toEqual(["ERR_MICROADAM_CHECKPOINT"]);
    }
    tf.dispose(saved.map((w) => w.tensor));
    dispose();
  });

  test("clear messages: padding, a whole optimizer, a state of the other kind", async () => {
    const { opt, big, dispose } = stepped(20); // its MicroAdam checkpoint needs 2 bytes of padding
    const saved = await opt.getWeights();
    const good = bytesOf(saved[1]);
    const checkpointLength = Number(good.readBigUInt64LE(16));
    expect(good.length - checkpointLength).toBe(2);
    const name = saved[1].name;
    const withWeight = (bytes: Uint8Array) => saved.map((w, i) => (i === 1 ? int32Weight(name, bytes) : w));

    const nonZero = Buffer.from(good);
    nonZero[good.length - 1] = 1;
    const extraWord = Buffer.concat([good, Buffer.alloc(4)]);
    const optimizer = new MicroAdam([seeded(20, 1)], { denseBelow: 0, lr: 0.1, ...layout }).toBuffer();
    const cases: [Uint8Array, string, string][] = [
      [nonZero, "ERR_MICROADAM_CHECKPOINT", `weightValues[1] ('${name}'): 2 bytes after the end of the checkpoint (${checkpointLength} bytes) are not its padding to whole words (at most 3 zero bytes)`],
      [extraWord, "ERR_MICROADAM_CHECKPOINT", `weightValues[1] ('${name}'): 6 bytes after the end of the checkpoint (${checkpointLength} bytes) are not its padding to whole words (at most 3 zero bytes)`],
      [Buffer.from("PK\x03\x04 no checkpoint, no 0.1 weight either"), "ERR_MICROADAM_CHECKPOINT", `weightValues[1] ('${name}'): not a microadam-native checkpoint (the first 8 bytes are not its magic number)`],
      [optimizer, "ERR_MICROADAM_CHECKPOINT_MISMATCH", `weightValues[1] ('${name}') does not fit an optimizer weight: it holds a whole MicroAdam optimizer (a weight holds one state)`],
    ];
    for (const [bytes, code, message] of cases) {
      const weights = withWeight(bytes);
      expect(await refusal(opt, weights)).toEqual(expect.objectContaining({ code, message }));
      weights[1].tensor.dispose();
    }
    // An AdamW state in a MicroAdam variable's place is refused when the variable claims it.
    const fresh = new MicroAdamOptimizer({ learningRate: 0.01, denseBelow: 6, ...layout });
    await fresh.setWeights([saved[0], saved[2]]);
    expect(() => tf.tidy(() => fresh.applyGradients({ [big.name]: tf.tensor1d(seeded(20, 9)) }))).toThrow(
      new RangeError(`Expected a state of 20 elements (the variable's size) for the restored state '${saved[2].name.replace(/\/adamw$/, "")}' claimed by variable '${big.name}' but received 5 of type number`),
    );
    fresh.dispose();
    tf.dispose(saved.map((w) => w.tensor));
    dispose();
  });
});

describe("kind 3 in the checkpoint API", () => {
  test("a MicroAdamState or a MicroAdam refuses an AdamW state's checkpoint by name", async () => {
    const v = variable(30, 5);
    const opt = new AdamWOptimizer({ learningRate: 0.01 });
    tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor1d(seeded(30, 6)) }));
    const [iter, weight] = await opt.getWeights();
    const bytes = bytesOf(weight);
    const state = createMicroAdamState({ numel: 30, ...layout });
    microAdamStep(state, seeded(30, 7), seeded(30, 8), { lr: 0.1 });
    const before = state.toBuffer();
    expect(() => state.loadBuffer(bytes)).toThrow("checkpoint buffer does not fit a MicroAdamState: it holds an AdamW state");
    expect(() => MicroAdamState.fromBuffer(bytes)).toThrow("checkpoint buffer does not fit a MicroAdamState: it holds an AdamW state");
    expect(state.toBuffer().equals(before)).toBe(true);
    const micro = new MicroAdam([seeded(30, 9)], { denseBelow: 0, lr: 0.1, ...layout });
    expect(() => micro.loadBuffer(bytes)).toThrow("checkpoint buffer does not fit a MicroAdam optimizer: it holds an AdamW state");
    // The AdamW step itself is the one AdamW (the root package's) takes.
    const reference = new AdamW([seeded(30, 5)], { lr: 0.01 });
    reference.step([seeded(30, 6)]);
    expect(opt.variableStates()[0].state.snapshot()).toEqual(reference.stateDict().states[0]);
    tf.dispose([v, iter.tensor, weight.tensor]);
    opt.dispose();
    state.dispose();
  });
});
