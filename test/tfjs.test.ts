// microadam-native/tfjs: the optimizers as tfjs sees them (a tf.Optimizer, minimize, model.fit,
// getWeights/setWeights, serialization) and as exact wrappers of the native steps.
import { execFileSync } from "child_process";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { adamWStep, createAdamWState, createMicroAdamState, microAdamStep } from "../lib";
import { AdamWOptimizer, MicroAdamOptimizer, NativeOptimizer, warmupDecaySchedule } from "../lib/tfjs";
import { trainTiny } from "../bench/tiny-mlp";

const root = path.join(__dirname, "..");

/** Deterministic values in [-1, 1). */
function seeded(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

let variableCounter = 0;
function variable(values: Float32Array, shape: number[]): tf.Variable {
  return tf.variable(tf.tensor(values.slice(), shape), true, `tfjs-test/v${variableCounter++}`);
}

function bits(values: Float32Array | Int32Array | Uint8Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, Math.floor(values.byteLength / 4)));
}

function expectSameBits(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  expect(bits(a)).toEqual(bits(b));
}

afterEach(() => {
  // Each test disposes what it makes; this catches a leak of tensors kept by the optimizers.
  expect(tf.memory().numTensors).toBeLessThan(500);
});

describe("MicroAdamOptimizer is a tf.Optimizer", () => {
  test("a subclass of tf.Optimizer and of tf.serialization.Serializable, registered under its className", () => {
    const opt = new MicroAdamOptimizer({ learningRate: 0.01 });
    expect(Object.prototype.isPrototypeOf.call(tf.Optimizer.prototype, opt)).toBe(true);
    expect(Object.prototype.isPrototypeOf.call(tf.serialization.Serializable.prototype, opt)).toBe(true);
    expect(opt).toBeInstanceOf(NativeOptimizer);
    expect(opt.getClassName()).toBe("MicroAdamOptimizer");
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    expect(map.MicroAdamOptimizer[0]).toBe(MicroAdamOptimizer);
    expect(map.AdamWOptimizer[0]).toBe(AdamWOptimizer);
    opt.dispose();
  });

  test("applyGradients (map and array forms) is exactly the native step on the same numbers", () => {
    const n = 5000;
    const initial = seeded(n, 1);
    const grads = [seeded(n, 2), seeded(n, 3), seeded(n, 4)];
    const reference = initial.slice();
    const state = createMicroAdamState({ numel: n });
    grads.forEach((g) => microAdamStep(state, reference, g, { lr: 0.01 }));

    for (const form of ["map", "array"] as const) {
      const v = variable(initial, [50, 100]);
      const opt = new MicroAdamOptimizer({ learningRate: 0.01 });
      for (const g of grads) {
        const gradient = tf.tensor(g, [50, 100]);
        opt.applyGradients(form === "map" ? { [v.name]: gradient } : [{ name: v.name, tensor: gradient }]);
        gradient.dispose();
      }
      expect(opt.iterations).toBe(3);
      expectSameBits(v.dataSync() as Float32Array, reference);
      expect(opt.stateBytes).toBe(state.stateBytes);
      opt.dispose();
      v.dispose();
    }
    state.dispose();
  });

  test("minimize (the base class's) lowers a loss and returns the cost when asked", () => {
    const v = variable(seeded(4096, 5), [4096]);
    const opt = new MicroAdamOptimizer({ learningRate: 0.05 });
    const loss = () => tf.sum(tf.square(v)) as tf.Scalar;
    const first = opt.minimize(loss, true)!;
    const start = first.dataSync()[0];
    first.dispose();
    for (let i = 0; i < 100; i++) opt.minimize(loss, false, [v]);
    const end = tf.tidy(() => loss().dataSync()[0]);
    expect(end).toBeLessThan(0.8 * start);
    expect(opt.iterations).toBe(101);
    opt.dispose();
    v.dispose();
  });

  test("model.compile + model.fit train a tiny model", async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ units: 32, inputShape: [16], activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
        tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    // denseBelow 0: every variable on MicroAdam (the default 4096 would put all of these on AdamW).
    const opt = new MicroAdamOptimizer({ learningRate: 0.02, density: 0.25, denseBelow: 0 });
    model.compile({ optimizer: opt, loss: "meanSquaredError" });
    const xs = tf.tensor2d(seeded(256 * 16, 7), [256, 16]);
    const ys = tf.tidy(() => tf.sum(xs.slice([0, 0], [256, 4]), 1, true));
    const history = await model.fit(xs, ys, { epochs: 15, batchSize: 32, verbose: 0, shuffle: false });
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
    expect(opt.iterations).toBe(15 * 8);
    expect(opt.variableStates().map((s) => s.kind)).toEqual(["microadam", "microadam", "microadam", "microadam"]);
    tf.dispose([xs, ys]);
    model.dispose();
    opt.dispose();
  });
});

describe("routing, schedules and overrides", () => {
  test("denseBelow: smaller variables get the native AdamW, exactly adamWStep; the rest MicroAdam", () => {
    const big = variable(seeded(300, 11), [300]);
    const small = variable(seeded(20, 12), [4, 5]);
    const opt = new MicroAdamOptimizer({ learningRate: 0.01, denseBelow: 100 });
    const gBig = seeded(300, 13);
    const gSmall = seeded(20, 14);
    tf.tidy(() => opt.applyGradients({ [big.name]: tf.tensor(gBig), [small.name]: tf.tensor(gSmall, [4, 5]) }));
    expect(opt.variableStates().map((s) => [s.variableName, s.kind])).toEqual([
      [big.name, "microadam"],
      [small.name, "adamw"],
    ]);
    const refSmall = seeded(20, 12);
    const adamW = createAdamWState({ numel: 20 });
    adamWStep(adamW, refSmall, gSmall, { lr: 0.01 });
    expectSameBits(small.dataSync() as Float32Array, refSmall);
    const refBig = seeded(300, 11);
    const micro = createMicroAdamState({ numel: 300 });
    microAdamStep(micro, refBig, gBig, { lr: 0.01 });
    expectSameBits(big.dataSync() as Float32Array, refBig);
    expect(opt.stateBytes).toBe(micro.stateBytes + 8 * 20);
    [adamW, micro].forEach((s) => s.dispose());
    opt.dispose();
    tf.dispose([big, small]);
  });

  test("a schedule gets the step index from 0 and a settable learningRate takes effect on the next step", () => {
    const n = 1000;
    const v = variable(seeded(n, 21), [n]);
    const seen: number[] = [];
    const schedule = (t: number) => {
      seen.push(t);
      return 0.01 * (t + 1);
    };
    const opt = new AdamWOptimizer({ learningRate: schedule });
    const grads = [seeded(n, 22), seeded(n, 23), seeded(n, 24), seeded(n, 25)];
    grads.slice(0, 3).forEach((g) => tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(g) })));
    opt.learningRate = 0.5;
    tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(grads[3]) }));
    expect(seen).toEqual([0, 1, 2]);

    const reference = seeded(n, 21);
    const state = createAdamWState({ numel: n });
    [0.01, 0.02, 0.03, 0.5].forEach((lr, i) => adamWStep(state, reference, grads[i], { lr }));
    expectSameBits(v.dataSync() as Float32Array, reference);
    state.dispose();
    opt.dispose();
    v.dispose();
  });

  test("warmupDecaySchedule: linear warmup, cosine or linear decay, then the final value", () => {
    const cosine = warmupDecaySchedule({ peak: 1, warmupSteps: 4, totalSteps: 14 });
    expect([0, 1, 2, 3].map(cosine)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(cosine(9)).toBeCloseTo(0.5, 12);
    expect(cosine(14)).toBeCloseTo(0, 12);
    expect(cosine(100)).toBeCloseTo(0, 12);
    const linear = warmupDecaySchedule({ peak: 2, totalSteps: 10, decay: "linear", final: 1 });
    expect([0, 5, 10, 20].map(linear)).toEqual([2, 1.5, 1, 1]);
    expect(() => warmupDecaySchedule({ peak: 1, totalSteps: 10, warmupSteps: 11 })).toThrow(
      new RangeError("Expected an integer in [0, 10] for options.warmupSteps but received 11 of type number"),
    );
  });

  test("overrides by name, RegExp or predicate set lr, weight decay (0 = excluded) and the optimizer", () => {
    const w = tf.variable(tf.tensor(seeded(200, 31)), true, "override-test/dense/kernel");
    const b = tf.variable(tf.tensor(seeded(10, 32)), true, "override-test/dense/bias");
    const e = tf.variable(tf.tensor(seeded(50, 33)), true, "override-test/embedding");
    const opt = new MicroAdamOptimizer({
      learningRate: 0.01,
      weightDecay: 0.1,
      denseBelow: 0, // routing by override alone
      overrides: [
        { match: /\/bias$/, weightDecay: 0 },
        { match: "override-test/embedding", learningRate: 0.002 },
        { match: (v) => v.size < 100, optimizer: "adamw" },
      ],
    });
    const gw = seeded(200, 34);
    const gb = seeded(10, 35);
    const ge = seeded(50, 36);
    tf.tidy(() => opt.applyGradients({ [w.name]: tf.tensor(gw), [b.name]: tf.tensor(gb), [e.name]: tf.tensor(ge) }));
    expect(opt.variableStates().map((s) => s.kind)).toEqual(["microadam", "adamw", "adamw"]);

    const rw = seeded(200, 31);
    const sw = createMicroAdamState({ numel: 200 });
    microAdamStep(sw, rw, gw, { lr: 0.01, weightDecay: 0.1 });
    const rb = seeded(10, 32);
    const sb = createAdamWState({ numel: 10 });
    adamWStep(sb, rb, gb, { lr: 0.01, weightDecay: 0 });
    const re = seeded(50, 33);
    const se = createAdamWState({ numel: 50 });
    adamWStep(se, re, ge, { lr: 0.002, weightDecay: 0.1 });
    expectSameBits(w.dataSync() as Float32Array, rw);
    expectSameBits(b.dataSync() as Float32Array, rb);
    expectSameBits(e.dataSync() as Float32Array, re);
    expect(opt.currentLearningRate(e)).toBe(0.002);
    expect(opt.currentLearningRate(w)).toBe(0.01);
    [sw, sb, se].forEach((s) => s.dispose());
    opt.dispose();
    tf.dispose([w, b, e]);
  });

  test("a NaN gradient skips the whole step (every variable, both kinds), or throws with 'error'", () => {
    const a = variable(seeded(500, 41), [500]);
    const b = variable(seeded(10, 42), [10]);
    const opt = new MicroAdamOptimizer({ learningRate: 0.01, denseBelow: 100 });
    const ga = seeded(500, 43);
    const gb = seeded(10, 44);
    gb[3] = NaN;
    tf.tidy(() => opt.applyGradients({ [a.name]: tf.tensor(ga), [b.name]: tf.tensor(gb) }));
    expect(opt.skippedSteps).toBe(1);
    expect(opt.iterations).toBe(1);
    expectSameBits(a.dataSync() as Float32Array, seeded(500, 41));
    expectSameBits(b.dataSync() as Float32Array, seeded(10, 42));
    expect(opt.variableStates().map((s) => s.state.step)).toEqual([0, 0]);
    opt.nonFinite = "error";
    const message = "a gradient holds NaN or Inf (nonFinite: 'error'); nothing was changed";
    // The NaN in the smaller (AdamW) group is found by the wrapper, one in the larger by the engine.
    expect(() => tf.tidy(() => opt.applyGradients({ [a.name]: tf.tensor(ga), [b.name]: tf.tensor(gb) }))).toThrow(
      expect.objectContaining({ message, code: "ERR_MICROADAM_NON_FINITE" }),
    );
    gb[3] = 0;
    ga[7] = -Infinity;
    expect(() => tf.tidy(() => opt.applyGradients({ [a.name]: tf.tensor(ga), [b.name]: tf.tensor(gb) }))).toThrow(
      expect.objectContaining({ message, code: "ERR_MICROADAM_NON_FINITE" }),
    );
    opt.nonFinite = "skip";
    tf.tidy(() => opt.applyGradients({ [a.name]: tf.tensor(ga), [b.name]: tf.tensor(gb) }));
    expect(opt.skippedSteps).toBe(2);
    expectSameBits(a.dataSync() as Float32Array, seeded(500, 41));
    expectSameBits(b.dataSync() as Float32Array, seeded(10, 42));
    expect(opt.variableStates().map((s) => s.state.step)).toEqual([0, 0]);
    opt.dispose();
    tf.dispose([a, b]);
  });
});

describe("saving and resuming", () => {
  /** A small model whose weights come from `seed`, compiled with `optimizer`. */
  function makeModel(seed: number, optimizer: tf.Optimizer): tf.LayersModel {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ units: 64, inputShape: [20], activation: "tanh", kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
        tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
      ],
    });
    model.compile({ optimizer, loss: "meanSquaredError" });
    return model;
  }

  const makeOptimizer = () =>
    new MicroAdamOptimizer({
      learningRate: warmupDecaySchedule({ peak: 0.02, warmupSteps: 3, totalSteps: 20 }),
      density: 0.05,
      denseBelow: 64,
      weightDecay: 0.01,
      overrides: [{ match: /bias/, weightDecay: 0 }],
    });

  const xs = () => tf.tensor2d(seeded(32 * 20, 51), [32, 20]);
  const ys = () => tf.tensor2d(seeded(32 * 3, 52), [32, 3]);

  async function train(model: tf.LayersModel, steps: number): Promise<void> {
    const [x, y] = [xs(), ys()];
    for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
    tf.dispose([x, y]);
  }

  function weightBits(model: tf.LayersModel): number[][] {
    return model.getWeights().map((w) => bits(w.dataSync() as Float32Array));
  }

  test("getWeights/setWeights into a fresh model and optimizer resumes bit-identically", async () => {
    const N = 6;
    const straight = makeModel(1, makeOptimizer());
    await train(straight, 2 * N);

    const first = makeModel(1, makeOptimizer());
    await train(first, N);
    const modelWeights = first.getWeights().map((w) => w.clone());
    const optimizerWeights = await first.optimizer.getWeights();
    expect(optimizerWeights.map((w) => w.name)).toEqual([
      "iter",
      ...first.trainableWeights.map((w) => `${(w.read() as tf.Variable).name}/${w.read().size < 64 ? "adamw" : "microadam"}`),
    ]);
    expect(optimizerWeights.slice(1).every((w) => w.tensor.dtype === "int32")).toBe(true);

    // A different initialization, then everything from the save: the model's variables have new
    // names, so the states are claimed by position.
    const resumed = makeModel(99, makeOptimizer());
    resumed.setWeights(modelWeights);
    await resumed.optimizer.setWeights(optimizerWeights);
    expect(resumed.optimizer.iterations).toBe(N);
    await train(resumed, N);

    expect(weightBits(resumed)).toEqual(weightBits(straight));
    const a = await straight.optimizer.getWeights();
    const b = await resumed.optimizer.getWeights();
    expect(b.map((w) => bits(w.tensor.dataSync() as Int32Array))).toEqual(a.map((w) => bits(w.tensor.dataSync() as Int32Array)));

    tf.dispose([...modelWeights, ...optimizerWeights.map((w) => w.tensor), ...a.map((w) => w.tensor), ...b.map((w) => w.tensor)]);
    for (const m of [straight, first, resumed]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });

  test("model.save with includeOptimizer and tf.loadLayersModel restore the optimizer by class name", async () => {
    const model = makeModel(3, makeOptimizer());
    await train(model, 4);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
      { includeOptimizer: true },
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    const opt = loaded.optimizer as MicroAdamOptimizer;
    expect(opt).toBeInstanceOf(MicroAdamOptimizer);
    expect(opt.iterations).toBe(4);
    expect(opt.getConfig()).toEqual(model.optimizer.getConfig());
    expect(opt.stateBytes).toBe((model.optimizer as MicroAdamOptimizer).stateBytes);

    await train(model, 3);
    await train(loaded, 3);
    expect(weightBits(loaded)).toEqual(weightBits(model));
    for (const m of [model, loaded]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });

  test("setWeights checks everything first and changes nothing on error", async () => {
    const v = variable(seeded(100, 61), [100]);
    const opt = new MicroAdamOptimizer({ learningRate: 0.01, denseBelow: 0 });
    tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(seeded(100, 62)) }));
    const saved = await opt.getWeights();
    const other = new MicroAdamOptimizer({ learningRate: 0.01, window: 5, denseBelow: 0 });
    await expect(other.setWeights(saved)).rejects.toThrow(
      new RangeError(`Expected 5 (this optimizer's window) for weightValues[1] ('${v.name}/microadam') window but received 10 of type number`),
    );
    await expect(opt.setWeights([saved[0], null as never])).rejects.toThrow(new TypeError("Expected an object for weightValues[1] but received null"));
    await expect(opt.setWeights([{ name: "iter", tensor: 3 as never }])).rejects.toThrow(
      new TypeError("Expected a tf.Tensor for weightValues[0].tensor but received 3 of type number"),
    );
    await expect(opt.setWeights([saved[0], { ...saved[1], name: 7 as never }])).rejects.toThrow(
      new TypeError("Expected a string for weightValues[1].name but received 7 of type number"),
    );
    const corrupt = [saved[0], { name: saved[1].name, tensor: tf.tensor1d([1, 1, 0], "int32") }];
    await expect(opt.setWeights(corrupt)).rejects.toThrow(RangeError);
    expect(opt.iterations).toBe(1);
    expect(opt.variableStates()[0].state.step).toBe(1);

    // A restored state claimed by a variable of another size is refused when it is claimed.
    const fresh = new MicroAdamOptimizer({ learningRate: 0.01 });
    await fresh.setWeights(saved);
    const wrong = variable(seeded(99, 63), [99]);
    expect(() => tf.tidy(() => fresh.applyGradients({ [wrong.name]: tf.tensor(seeded(99, 64)) }))).toThrow(RangeError);
    expect(fresh.variableStates()[0].bound).toBe(false);
    tf.dispose([v, wrong, ...saved.map((w) => w.tensor), corrupt[1].tensor]);
    [opt, other, fresh].forEach((o) => o.dispose());
  });

  test("getConfig/fromConfig round-trip options, schedules and overrides; a function cannot be saved", () => {
    const opt = new MicroAdamOptimizer({
      learningRate: warmupDecaySchedule({ peak: 0.003, warmupSteps: 10, totalSteps: 1000, decay: "linear" }),
      beta2: 0.99,
      epsilon: 1e-7,
      window: 5,
      density: 0.02,
      denseBelow: 1000, // not the default, so the round trip shows

      nonFinite: "error",
      overrides: [
        { match: "my_model/dense_1/bias", weightDecay: 0 },
        { match: /layer_norm|bias/i, learningRate: 0.001, optimizer: "adamw" },
      ],
    });
    const config = opt.getConfig();
    // As tfjs-layers stores it: JSON, and every string camel-cased when a model is loaded.
    const copy = MicroAdamOptimizer.fromConfig(MicroAdamOptimizer, JSON.parse(JSON.stringify(config))) as MicroAdamOptimizer;
    expect(copy.getConfig()).toEqual(config);
    expect(copy.overrides[0].match).toBe("my_model/dense_1/bias");
    expect(String(copy.overrides[1].match)).toBe("/layer_norm|bias/i");
    expect(copy.denseBelow).toBe(1000);
    expect(typeof copy.learningRate === "function" && copy.learningRate(10)).toBe(0.003);

    const adamW = new AdamWOptimizer({ learningRate: 0.1, weightDecay: 0.05 });
    expect(AdamWOptimizer.fromConfig(AdamWOptimizer, adamW.getConfig()).getConfig()).toEqual(adamW.getConfig());
    expect(adamW.getConfig()).not.toHaveProperty("window");

    const unsaved = new MicroAdamOptimizer({ learningRate: (t) => 0.1 / (t + 1) });
    expect(() => unsaved.getConfig()).toThrow(expect.objectContaining({ name: "TypeError", code: "ERR_MICROADAM_NOT_SERIALIZABLE" }));
    [opt, copy, adamW, unsaved].forEach((o) => o.dispose());
  });
});

describe("argument checks", () => {
  test("options are checked with messages that name them", () => {
    expect(() => new MicroAdamOptimizer({ learningRate: 0.1, lr: 0.1 } as never)).toThrow(TypeError);
    expect(() => new MicroAdamOptimizer({} as never)).toThrow(
      new TypeError("Expected a number or a schedule function for options.learningRate but received undefined"),
    );
    expect(() => new MicroAdamOptimizer({ learningRate: -1 })).toThrow(
      new RangeError("Expected a number in [0, Infinity) for options.learningRate but received -1 of type number"),
    );
    expect(() => new AdamWOptimizer({ learningRate: 0.1, window: 5 } as never)).toThrow(TypeError);
    expect(() => new MicroAdamOptimizer({ learningRate: 0.1, denseBelow: 1.5 })).toThrow(RangeError);
    expect(() => new MicroAdamOptimizer({ learningRate: 0.1, overrides: [{ match: 3 as never }] })).toThrow(
      new TypeError("Expected a variable name, a RegExp or a function (variable) => boolean for options.overrides[0].match but received 3 of type number"),
    );
  });

  test("a bad gradient, an unknown variable or a bad scheduled value throws before anything changes", () => {
    const v = variable(seeded(10, 71), [10]);
    const opt = new MicroAdamOptimizer({ learningRate: () => NaN });
    expect(() => tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(seeded(10, 72)) }))).toThrow(
      new RangeError(`Expected a finite number ≥ 0 from the schedule for learningRate of '${v.name}'(0) but received NaN of type number`),
    );
    opt.learningRate = 0.1;
    expect(() => tf.tidy(() => opt.applyGradients({ [v.name]: tf.zeros([11]) }))).toThrow(RangeError);
    expect(() => tf.tidy(() => opt.applyGradients({ "no-such-variable": tf.zeros([10]) }))).toThrow(RangeError);
    expect(() => tf.tidy(() => opt.applyGradients({ [v.name]: tf.zeros([10], "int32") }))).toThrow(TypeError);
    expect(() => tf.tidy(() => opt.applyGradients([{ name: v.name, tensor: tf.zeros([10]) }, { name: v.name, tensor: tf.ones([10]) }]))).toThrow(
      new RangeError(`variableGradients holds two gradients for variable '${v.name}'`),
    );
    expect(opt.iterations).toBe(0);
    expectSameBits(v.dataSync() as Float32Array, seeded(10, 71));
    opt.dispose();
    expect(() => tf.tidy(() => opt.applyGradients({ [v.name]: tf.zeros([10]) }))).toThrow("This MicroAdamOptimizer was disposed");
    v.dispose();
  });
});

describe("packaging", () => {
  function loaded(code: string): string {
    return execFileSync(process.execPath, ["-e", code], { cwd: root, encoding: "utf8" }).trim();
  }

  test("the root entry does not load @tensorflow/tfjs; microadam-native/tfjs does", () => {
    const count = "Object.keys(require.cache).filter((k) => k.includes('@tensorflow')).length";
    expect(loaded(`require('microadam-native'); console.log(${count})`)).toBe("0");
    expect(Number(loaded(`const m = require('microadam-native/tfjs'); if (!m.MicroAdamOptimizer) throw 1; console.log(${count})`))).toBeGreaterThan(0);
  });

  test("the ESM subpath exports exactly what the CommonJS subpath exports", () => {
    const esm = execFileSync(
      process.execPath,
      ["--input-type=module", "-e", "import * as m from 'microadam-native/tfjs'; console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort()))"],
      { cwd: root, encoding: "utf8" },
    );
    const cjs = loaded("console.log(JSON.stringify(Object.keys(require('microadam-native/tfjs')).sort()))");
    expect(JSON.parse(esm.trim().split("\n").pop()!)).toEqual(JSON.parse(cjs.split("\n").pop()!));
  });

  test("the ESM subpath shares the CommonJS module (one class, one tfjs registration)", () => {
    const out = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        "import { MicroAdamOptimizer } from 'microadam-native/tfjs'; import cjs from 'microadam-native/tfjs'; import * as tf from '@tensorflow/tfjs';" +
          "console.log(JSON.stringify([MicroAdamOptimizer === cjs.MicroAdamOptimizer, tf.serialization.SerializationMap.getMap().classNameMap.MicroAdamOptimizer[0] === MicroAdamOptimizer]))",
      ],
      { cwd: root, encoding: "utf8" },
    );
    expect(JSON.parse(out.trim().split("\n").pop()!)).toEqual([true, true]);
  });
});

describe("defaults users expect", () => {
  test("a tiny model (8-16-1 MLP) with the default denseBelow trains like tf.train.adam; with denseBelow 0 it lags", async () => {
    // bench/tiny-mlp.ts, one seed: the loss after 20 epochs.
    const options = { epochs: 20, lr: 0.01, seed: 100 };
    const adam = (await trainTiny("adam", options)).at(-1)!;
    const byDefault = (await trainTiny("microadam-default", options)).at(-1)!;
    const sparse = (await trainTiny("microadam-denseBelow-0", options)).at(-1)!;
    expect(byDefault).toBeLessThan(1.25 * adam);
    // The comparison can tell the two apart: MicroAdam on 161 weights is far behind.
    expect(sparse).toBeGreaterThan(2 * adam);
  }, 60_000);

  test("denseBelow defaults to 4096: a 4095-element variable gets the native AdamW, a 4096-element one MicroAdam", () => {
    const small = variable(seeded(4095, 61), [4095]);
    const large = variable(seeded(4096, 62), [64, 64]);
    const opt = new MicroAdamOptimizer({ learningRate: 0.01 });
    expect(opt.denseBelow).toBe(4096);
    expect(opt.getConfig().denseBelow).toBe(4096);
    const gSmall = seeded(4095, 63);
    const gLarge = seeded(4096, 64);
    tf.tidy(() => opt.applyGradients({ [small.name]: tf.tensor(gSmall), [large.name]: tf.tensor(gLarge, [64, 64]) }));
    expect(opt.variableStates().map((s) => [s.variableName, s.kind])).toEqual([
      [small.name, "adamw"],
      [large.name, "microadam"],
    ]);
    const refSmall = seeded(4095, 61);
    const adamW = createAdamWState({ numel: 4095 });
    adamWStep(adamW, refSmall, gSmall, { lr: 0.01 });
    expectSameBits(small.dataSync() as Float32Array, refSmall);
    const refLarge = seeded(4096, 62);
    const micro = createMicroAdamState({ numel: 4096 });
    microAdamStep(micro, refLarge, gLarge, { lr: 0.01 });
    expectSameBits(large.dataSync() as Float32Array, refLarge);
    // stateBytes reports what the default chose: 8 bytes per AdamW element plus MicroAdam's state.
    expect(opt.stateBytes).toBe(8 * 4095 + micro.stateBytes);
    expect(opt.stateBytes).toBe(adamW.stateBytes + micro.stateBytes);
    [adamW, micro].forEach((s) => s.dispose());
    opt.dispose();
    tf.dispose([small, large]);
  });

  test("the first skipped step emits one MICROADAM_STEP_SKIPPED warning; skippedSteps counts every one", () => {
    const v = variable(seeded(5000, 71), [5000]);
    const warn = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      for (const opt of [new MicroAdamOptimizer({ learningRate: 0.01 }), new AdamWOptimizer({ learningRate: 0.01 })]) {
        warn.mockClear();
        const good = seeded(5000, 72);
        const bad = seeded(5000, 73);
        bad[17] = NaN;
        tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(good) }));
        expect(warn).not.toHaveBeenCalled();
        tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(bad) }));
        expect(opt.skippedSteps).toBe(1);
        expect(warn).toHaveBeenCalledTimes(1);
        const [message, options] = warn.mock.calls[0] as unknown as [string, { code: string; type: string }];
        expect(options).toEqual({ type: "MicroAdamWarning", code: "MICROADAM_STEP_SKIPPED" });
        expect(message).toMatch(new RegExp(`^${opt.getClassName()} skipped step 2: a gradient held NaN or Inf`));
        tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(bad) }));
        tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(good) }));
        expect(opt.skippedSteps).toBe(2);
        expect(warn).toHaveBeenCalledTimes(1);
        opt.dispose();
      }
    } finally {
      warn.mockRestore();
    }
    v.dispose();
  });
});
