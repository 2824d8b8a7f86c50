// What microadam-native 0.1 saved keeps loading: the files in test/fixtures/v0.1 were written by
// 0.1 (make-fixtures.ts there). Each is loaded with today's code, its states compared with the
// digests recorded at saving, then stepped on and the params compared bit for bit with what 0.1
// computed after the same steps. The tfjs weights of 0.1 (its own word format) go through
// lib/tfjs/legacy-state-weights.ts; binary checkpoints and stateDicts load as they are.
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { createMicroAdamState, loadState, MicroAdam, MicroAdamState, microAdamStep, type MicroAdamSnapshot, type MicroAdamStateDict } from "../lib";
import type { AdamWSnapshot } from "../lib/adamw";
import { AdamWOptimizer, MicroAdamOptimizer, type NativeOptimizer } from "../lib/tfjs";
import { legacyStateWeightsToCheckpoint } from "../lib/tfjs/legacy-state-weights";
import * as recipe from "./fixtures/v0.1/recipe";

const fixtures = path.join(__dirname, "fixtures", "v0.1");
const expected = JSON.parse(fs.readFileSync(path.join(fixtures, "expected.json"), "utf8"));

function sha256(view: ArrayBufferView): string {
  return createHash("sha256").update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)).digest("hex");
}

/** As make-fixtures.ts digests a snapshot: the step, then every array's SHA-256. */
function digest(snapshot: MicroAdamSnapshot | AdamWSnapshot): Record<string, number | string> {
  return Object.fromEntries(Object.entries(snapshot).map(([key, value]) => [key, typeof value === "number" ? value : sha256(value)]));
}

/** Little-endian float32 arrays of the given lengths, one after another in `file`. */
function readFloats(file: string, lengths: readonly number[]): Float32Array[] {
  const bytes = fs.readFileSync(path.join(fixtures, file));
  expect(bytes.length).toBe(4 * lengths.reduce((a, b) => a + b, 0));
  let offset = 0;
  return lengths.map((n) => {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes.subarray(offset, (offset += 4 * n)));
    return out;
  });
}

const stepsAfter = Array.from({ length: recipe.STEPS_AFTER_SAVE }, (_, i) => recipe.STEPS_BEFORE_SAVE + 1 + i);

describe("0.1's binary checkpoints load as they are", () => {
  test("a MicroAdamState (state.madam): fromFile and loadState, then the same steps as 0.1", () => {
    const file = path.join(fixtures, "state.madam");
    const fromFile = MicroAdamState.fromFile(file);
    expect(fromFile.config).toEqual({ numel: recipe.STATE_NUMEL, ...recipe.LAYOUT, device: "cpu" });
    const target = createMicroAdamState({ numel: recipe.STATE_NUMEL, ...recipe.LAYOUT });
    loadState(target, file);
    for (const state of [fromFile, target]) {
      expect(digest(state.snapshot())).toEqual(expected.state.snapshot);
      const [params] = readFloats("state-params.f32", [recipe.STATE_NUMEL]);
      for (const t of stepsAfter) microAdamStep(state, params, recipe.gradientAt(recipe.STATE_NUMEL, 1, t), recipe.STEP);
      expect(sha256(params)).toBe(expected.state.paramsAfter);
      state.dispose();
    }
    // Today's writer writes the same bytes for the same state.
    const again = MicroAdamState.fromFile(file);
    expect(again.toBuffer().equals(fs.readFileSync(file))).toBe(true);
    again.dispose();
  });

  function optimizerOf(params: Float32Array[]): MicroAdam {
    const [a, b, c] = params;
    return new MicroAdam([{ params: [a, b] }, { params: [c], lr: 1, weightDecay: 0.5 }], { denseBelow: 0, ...recipe.OPTIMIZER_OPTIONS, lr: 1 });
  }

  function stepOnAndCompare(opt: MicroAdam, params: Float32Array[]): void {
    expect(opt.paramGroups.map(({ params: _, ...hyper }) => hyper)).toEqual(expected.optimizer.paramGroups.map(({ numels: _, ...hyper }: { numels: number[] }) => hyper));
    expect(opt.states.map((s) => digest(s.snapshot()))).toEqual(expected.optimizer.snapshots);
    for (const t of stepsAfter) opt.step(params.map((p, i) => recipe.gradientAt(p.length, 10 + i, t)));
    expect(params.map(sha256)).toEqual(expected.optimizer.paramsAfter);
    opt.states.forEach((s) => s.dispose());
  }

  test("a MicroAdam (optimizer.madam): its groups' hyperparameters and states, then the same steps as 0.1", () => {
    const params = readFloats("optimizer-params.f32", recipe.GROUP_NUMELS.flat());
    const opt = optimizerOf(params);
    opt.load(path.join(fixtures, "optimizer.madam"));
    stepOnAndCompare(opt, params);
  });

  test("0.1's stateDict (state-dict.json) loads into loadStateDict, then the same steps as 0.1", () => {
    const typed = { Uint8Array, Uint16Array } as const;
    const dict = JSON.parse(fs.readFileSync(path.join(fixtures, "state-dict.json"), "utf8"), (_, v) => {
      if (v && typeof v === "object" && "typedArray" in v) {
        const bytes = Buffer.from(v.base64, "base64");
        const type = typed[v.typedArray as keyof typeof typed];
        const out = new type(bytes.length / type.BYTES_PER_ELEMENT);
        new Uint8Array(out.buffer).set(bytes);
        return out;
      }
      return v;
    }) as MicroAdamStateDict;
    expect(dict.format).toBe("microadam-native/state-dict");
    const params = readFloats("optimizer-params.f32", recipe.GROUP_NUMELS.flat());
    const opt = optimizerOf(params);
    opt.loadStateDict(dict);
    expect(opt.stateDict()).toEqual(dict);
    stepOnAndCompare(opt, params);
  });
});

describe("0.1's tfjs optimizer weights load through the converter", () => {
  function artifactsOf(kind: "microadam" | "adamw"): tf.io.ModelArtifacts {
    const folder = path.join(fixtures, `tfjs-${kind}`);
    const modelJSON = JSON.parse(fs.readFileSync(path.join(folder, "model.json"), "utf8")) as tf.io.ModelJSON;
    const weightData = new Uint8Array(fs.readFileSync(path.join(folder, "weights.bin"))).buffer;
    return tf.io.getModelArtifactsForJSONSync(modelJSON, modelJSON.weightsManifest[0].weights, weightData);
  }

  for (const [kind, key] of [["microadam", "tfjsMicroAdam"], ["adamw", "tfjsAdamW"]] as const) {
    test(`${kind}: tf.loadLayersModel restores the optimizer, its states, and trains on as 0.1 did`, async () => {
      const model = await tf.loadLayersModel(tf.io.fromMemory(artifactsOf(kind)));
      const opt = model.optimizer as NativeOptimizer;
      expect(opt).toBeInstanceOf(kind === "microadam" ? MicroAdamOptimizer : AdamWOptimizer);
      expect(opt.iterations).toBe(expected[key].iterations);
      const states = opt.variableStates().map((v) => ({ kind: v.kind, numel: v.state.numel, snapshot: digest(v.state.snapshot()) }));
      expect(states).toEqual(expected[key].states);

      // Saved again, the weights are today's: a checkpoint each, and they load back the same.
      const weights = await opt.getWeights();
      for (const w of weights.slice(1)) expect([...(w.tensor.dataSync() as Int32Array).subarray(0, 1)]).toEqual([new Int32Array(new Uint8Array([0x89, 0x4d, 0x41, 0x44]).buffer)[0]]);
      const copy = recipe.makeTfjsOptimizer(kind);
      await copy.setWeights(weights);
      expect(copy.variableStates().map((v) => digest(v.state.snapshot()))).toEqual(states.map((s) => s.snapshot));
      copy.dispose();
      tf.dispose(weights.map((w) => w.tensor));

      const [x, y] = recipe.tfjsBatch();
      for (let i = 0; i < recipe.TFJS_STEPS_AFTER_SAVE; i++) await model.trainOnBatch(x, y);
      expect(model.getWeights().map((w) => sha256(w.dataSync() as Float32Array))).toEqual(expected[key].weightsAfter);
      tf.dispose([x, y]);
      opt.dispose();
      model.dispose();
    });
  }

  /** 0.1's optimizer weights in the fixture, by name (their bytes as tfjs stored them). */
  function legacyWeights(kind: "microadam" | "adamw"): Map<string, Int32Array> {
    const artifacts = artifactsOf(kind);
    const data = Buffer.from(artifacts.weightData as ArrayBuffer);
    const out = new Map<string, Int32Array>();
    let offset = 0;
    for (const spec of artifacts.weightSpecs!) {
      const bytes = 4 * spec.shape.reduce((a, b) => a * b, 1);
      if (spec.group === "optimizer" && spec.name !== "iter") out.set(spec.name, new Int32Array(new Uint8Array(data.subarray(offset, offset + bytes)).buffer));
      offset += bytes;
    }
    return out;
  }

  test("the converter turns 0.1's words into today's checkpoint of the same state", () => {
    const weights = legacyWeights("microadam");
    const micro = weights.get("dense_Dense1/kernel/microadam")!;
    const checkpoint = legacyStateWeightsToCheckpoint(micro, "w");
    const state = MicroAdamState.fromBuffer(checkpoint);
    expect(state.config).toEqual({ numel: 24 * 64, ...recipe.LAYOUT, device: "cpu" });
    expect({ kind: "microadam", numel: state.numel, snapshot: digest(state.snapshot()) }).toEqual(expected.tfjsMicroAdam.states[0]);
    expect(state.toBuffer().equals(Buffer.from(checkpoint))).toBe(true);
    state.dispose();
  });

  test("a damaged 0.1 weight is refused by name and changes nothing", async () => {
    const weights = legacyWeights("microadam");
    const name = "dense_Dense1/kernel/microadam";
    const good = Buffer.from(weights.get(name)!.buffer);
    const v = tf.variable(tf.zeros([24 * 64]), true, "legacy-formats-test/kernel");
    const opt = recipe.makeTfjsOptimizer("microadam");
    tf.tidy(() => opt.applyGradients({ [v.name]: tf.ones([24 * 64]) }));
    const before = (await opt.getWeights()).map((w) => w.tensor);
    const beforeBytes = before.map((t) => Buffer.from((t.dataSync() as Int32Array).buffer));
    const attempt = async (bytes: Uint8Array) => {
      const words = new Int32Array(bytes.length / 4);
      new Uint8Array(words.buffer).set(bytes);
      const weight = { name, tensor: tf.tensor1d(words, "int32") };
      const iter = { name: "iter", tensor: tf.scalar(5, "int32") };
      let error: unknown;
      await opt.setWeights([iter, weight]).catch((e) => (error = e));
      tf.dispose([iter.tensor, weight.tensor]);
      const after = (await opt.getWeights()).map((w) => w.tensor);
      expect(after.map((t) => Buffer.from((t.dataSync() as Int32Array).buffer))).toEqual(beforeBytes);
      tf.dispose(after);
      return error as Error;
    };
    const withWord = (word: number, value: number) => {
      const b = Buffer.from(good);
      b.writeUInt32LE(value, 4 * word);
      return b;
    };
    // 0.1's own checks, as 0.1 worded them.
    expect(await attempt(good.subarray(0, 4 * 10))).toEqual(new RangeError(`Expected a MicroAdam state header of 16 words for weightValues[1] ('${name}') but received Int32Array of length 10`));
    expect(await attempt(good.subarray(0, good.length - 4))).toBeInstanceOf(RangeError);
    expect((await attempt(withWord(1, 7))).message).toMatch(/^Expected kind 1 \(MicroAdam\) or 2 \(AdamW\) in word 1 \(it is 7\)/);
    // Lengths that add up to the same size but do not fit the layout (0.1 left this to the native restore).
    expect([11, 12, 13].map((w) => good.readUInt32LE(4 * w))).toEqual([768, 48, 48]);
    const shifted = withWord(12, 50); // errorMin 2 longer, errorMax 2 shorter: the same number of words
    shifted.writeUInt32LE(46, 4 * 13);
    expect((await attempt(withWord(12, 52))).message).toMatch(/^Expected 570 words \(as its header's buffer lengths say\)/);
    expect((await attempt(shifted)).message).toMatch(/^Expected buffer lengths that fit its layout \(numel 1536, window 4, quantBlockSize 32\), not 768, 50, 46, /);
    // The converted checkpoint is then checked like any other: a window index outside its block.
    const offsetOfIndices = 4 * (16 + 768 / 4 + 2 * (48 * 2) / 4);
    const badIndex = Buffer.from(good);
    badIndex.writeUInt16LE(60000, offsetOfIndices);
    const refused = await attempt(badIndex);
    expect(refused).toEqual(expect.objectContaining({ code: "ERR_MICROADAM_CHECKPOINT" }));
    expect(refused.message).toMatch(new RegExp(`^weightValues\\[1\\] \\('${name}'\\): its content is invalid: .*windowIndices\\[0\\] = 60000 is outside its block`));
    expect(opt.iterations).toBe(1);
    tf.dispose([v, ...before]);
    opt.dispose();
  });
});
