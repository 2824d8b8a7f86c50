// A TensorFlow.js model trained by model.fit with MicroAdamOptimizer: a warmup + cosine learning
// rate schedule, weight decay with the biases excluded, then model.save with the optimizer and
// tf.loadLayersModel to carry on training exactly where it stopped.
//
//   npx ts-node examples/tfjs-model-fit.ts [--epochs 5] [--train 8000] [--test 2000] [--quick]

import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { MicroAdamOptimizer, warmupDecaySchedule } from "microadam-native/tfjs";
import { IMAGE_PIXELS, NUM_CLASSES, loadMnistSplit, type MnistSet } from "./mnist/data";

const DEFAULTS = { epochs: 5, train: 8000, test: 2000 };
// --quick: a smoke run of a few seconds (used by test/examples.test.ts).
const QUICK = { epochs: 1, train: 512, test: 256 };
const BATCH = 64;

const USAGE = `Usage: ts-node examples/tfjs-model-fit.ts [options]
  --epochs N   passes over the training digits (default ${DEFAULTS.epochs}; ${QUICK.epochs} with --quick)
  --train N    training digits (default ${DEFAULTS.train}; ${QUICK.train} with --quick)
  --test N     test digits (default ${DEFAULTS.test}; ${QUICK.test} with --quick)
  --quick      a tiny run
  --help       this text`;

function positiveInteger(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`Expected positive integer for --${flag} but received '${text}'`);
  return value;
}

function tensors(set: MnistSet): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  return {
    xs: tf.tensor2d(set.images, [set.count, IMAGE_PIXELS]),
    ys: tf.oneHot(tf.tensor1d(set.labels, "int32"), NUM_CLASSES).toFloat() as tf.Tensor2D,
  };
}

function buildModel(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [IMAGE_PIXELS], units: 128, activation: "relu", kernelInitializer: tf.initializers.heUniform({ seed: 1 }) }),
      tf.layers.dense({ units: NUM_CLASSES, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { epochs: { type: "string" }, train: { type: "string" }, test: { type: "string" }, quick: { type: "boolean" }, help: { type: "boolean" } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const base = values.quick ? QUICK : DEFAULTS;
  const epochs = positiveInteger("epochs", values.epochs, base.epochs);
  const train = positiveInteger("train", values.train, base.train);
  const test = positiveInteger("test", values.test, base.test);

  const data = loadMnistSplit({ train, test, seed: 1 });
  const trainSet = tensors(data.train);
  const testSet = tensors(data.test);
  const stepsPerEpoch = Math.ceil(train / BATCH);

  const optimizer = new MicroAdamOptimizer({
    // Warmup over the first 5% of the steps, then cosine decay to 0; the schedule gets the step index.
    learningRate: warmupDecaySchedule({ peak: 0.016, warmupSteps: Math.ceil(0.05 * epochs * stepsPerEpoch), totalSteps: epochs * stepsPerEpoch }),
    weightDecay: 1e-4,
    overrides: [{ match: /\/bias$/, weightDecay: 0 }],
    // denseBelow keeps its default, 4096: the biases and the 1,280-weight output layer are stepped
    // by the native AdamW, the 100,352-weight hidden layer by MicroAdam.
  });
  const model = buildModel();
  model.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });

  console.log(`${train} train / ${test} test digits, ${epochs} epochs of ${stepsPerEpoch} steps, MicroAdamOptimizer (peak lr 0.016)`);
  await model.fit(trainSet.xs, trainSet.ys, {
    epochs,
    batchSize: BATCH,
    verbose: 0,
    callbacks: {
      onEpochEnd: async (epoch, logs) =>
        console.log(`epoch ${epoch + 1}: loss ${logs!.loss.toFixed(4)}, train accuracy ${(100 * logs!.acc).toFixed(2)}%`),
    },
  });
  const [, accuracy] = model.evaluate(testSet.xs, testSet.ys) as tf.Scalar[];
  const weightCount = model.countParams();
  console.log(`test accuracy ${(100 * accuracy.dataSync()[0]).toFixed(2)}%`);
  console.log(
    `optimizer state ${optimizer.stateBytes.toLocaleString("en-US")} bytes for ${weightCount.toLocaleString("en-US")} weights ` +
      `(${(optimizer.stateBytes / weightCount).toFixed(3)} B/weight; Adam keeps 8)`,
  );

  // Save the model with its optimizer (here into memory; tf.io.fileSystem or a browser handler
  // work the same), load it back, and train both one more epoch: they stay identical.
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
    { includeOptimizer: true },
  );
  const restored = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  console.log(`restored a ${restored.optimizer.getClassName()} at iteration ${restored.optimizer.iterations}`);
  const more = { epochs: 1, batchSize: BATCH, verbose: 0 as const, shuffle: false };
  await model.fit(trainSet.xs, trainSet.ys, more);
  await restored.fit(trainSet.xs, trainSet.ys, more);
  const same = model.getWeights().every((w, i) => tf.tidy(() => tf.all(tf.equal(w, restored.getWeights()[i])).dataSync()[0] === 1));
  console.log(`one more epoch after loading: weights identical to the original's: ${same}`);
  if (!same) process.exitCode = 1;
}

main().catch((error: unknown) => {
  if (error instanceof TypeError && error.message.startsWith("Expected positive integer")) {
    console.error(`${error.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.error(error);
  process.exitCode = 1;
});
