// Trains a small MLP on real MNIST digits twice from the same initial weights: once stepped by
// microadam-native's MicroAdam, once by tfjs's own tf.train.adam, and prints both side by side
// with the memory each optimizer keeps. Gradients come from tfjs (pure JS CPU backend) in both
// runs; only the optimizer differs.
//
//   npm start -- [--epochs 6] [--train 8000] [--test 2000] [--batch 64] [--hidden 128]
//                [--lr 0.003] [--adam-lr 0.003] [--seed 1] [--quick]

import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { Presets, SingleBar } from "cli-progress";
import { MicroAdam } from "microadam-native";
import { IMAGE_PIXELS, MnistSet, MnistSplit, NUM_CLASSES, epochOrder, gatherBatch, loadMnistSplit } from "./mnist/data";
import { Evaluation, WEIGHT_NAMES, countWeights, evaluate, initialWeights, mlpLoss, weightShapes, weightTensors } from "./mnist/mlp";
import { seededRandom } from "./mnist/random";

interface RunOptions {
  epochs: number;
  train: number;
  test: number;
  batch: number;
  hidden: number;
  lr: number;
  adamLr: number;
  seed: number;
}

// lr 0.003 was the best of 0.001 / 0.003 for tf.train.adam and of 0.001 / 0.002 / 0.003 / 0.005 / 0.01
// for MicroAdam (5–8 epochs, seed 1), so both use it.
const DEFAULTS = { epochs: 6, train: 8000, test: 2000, batch: 64, hidden: 128, lr: 0.003, seed: 1 };
// --quick: a smoke run of a few seconds (used by test/examples.test.ts).
const QUICK = { epochs: 1, train: 500, test: 200 };

const USAGE = `Usage: ts-node examples/mnist-mlp.ts [options]
  --epochs N    passes over the training set (default ${DEFAULTS.epochs}; ${QUICK.epochs} with --quick)
  --train N     training digits (default ${DEFAULTS.train}; ${QUICK.train} with --quick)
  --test N      test digits, disjoint from the training ones (default ${DEFAULTS.test}; ${QUICK.test} with --quick)
  --batch N     minibatch size (default ${DEFAULTS.batch})
  --hidden N    hidden units (default ${DEFAULTS.hidden})
  --lr X        learning rate of both optimizers (default ${DEFAULTS.lr})
  --adam-lr X   a different learning rate for tf.train.adam (default: --lr)
  --seed N      seed of the data split, batch order and initial weights (default ${DEFAULTS.seed})
  --quick       tiny run: ${QUICK.epochs} epoch, ${QUICK.train} train and ${QUICK.test} test digits
  --help        this text`;

/** One optimizer training its own copy of the model. */
interface Trainer {
  readonly name: string;
  readonly lr: number;
  /** Bytes of optimizer state kept between steps. */
  readonly stateBytes: number;
  /** Milliseconds spent inside the optimizer's step (not in forward/backward). */
  stepMillis: number;
  steps: number;
  /** One step on a batch; returns the batch's loss before the step. */
  trainBatch(images: tf.Tensor2D, oneHot: tf.Tensor2D): number;
  evaluate(set: MnistSet): Evaluation;
}

/**
 * MicroAdam keeps the weights as Float32Arrays, the single source of truth: each step wraps them
 * in tensors for tfjs to take gradients, then MicroAdam updates them in place.
 */
class MicroAdamTrainer implements Trainer {
  readonly name = "microadam";
  stepMillis = 0;
  steps = 0;
  skippedSteps = 0;
  private readonly weights: Float32Array[];
  private readonly optimizer: MicroAdam;

  constructor(
    initial: Float32Array[],
    private readonly shapes: number[][],
    readonly lr: number,
  ) {
    this.weights = initial.map((values) => values.slice());
    this.optimizer = new MicroAdam(this.weights, { lr });
  }

  get stateBytes(): number {
    return this.optimizer.stateBytes;
  }

  trainBatch(images: tf.Tensor2D, oneHot: tf.Tensor2D): number {
    return tf.tidy(() => {
      const lossAndGradients = tf.valueAndGrads((...weights: tf.Tensor[]) => mlpLoss(weights, images, oneHot));
      // The weight tensors alias this.weights; tidy disposes them right after the in-place step.
      const { value, grads } = lossAndGradients(weightTensors(this.weights, this.shapes));
      const loss = value.dataSync()[0];
      const gradients = grads.map((gradient) => gradient.dataSync<"float32">());
      const start = performance.now();
      const { skipped } = this.optimizer.step(gradients);
      this.stepMillis += performance.now() - start;
      this.steps++;
      if (skipped) this.skippedSteps++;
      return loss;
    });
  }

  evaluate(set: MnistSet): Evaluation {
    return tf.tidy(() => evaluate(weightTensors(this.weights, this.shapes), set));
  }
}

/** tfjs's Adam on tf.Variables: m and v are two float32 tensors the size of the weights. */
class TfjsAdamTrainer implements Trainer {
  readonly name = "adam";
  stepMillis = 0;
  steps = 0;
  readonly stateBytes: number;
  private readonly variables: tf.Variable[];
  // Typed as the base class: AdamOptimizer.applyGradients is declared for Variables only, though it
  // takes the gradient tensors that tf.variableGrads returns, as the base signature says.
  private readonly optimizer: tf.Optimizer;

  constructor(initial: Float32Array[], shapes: number[][], readonly lr: number) {
    this.variables = initial.map((values, i) =>
      tf.tidy(() => tf.variable(tf.tensor(values.slice(), shapes[i]), true, `adam/${WEIGHT_NAMES[i]}`)),
    );
    // tfjs would take its backend's epsilon (1e-7); MicroAdam's default is 1e-8, as in PyTorch.
    this.optimizer = tf.train.adam(lr, 0.9, 0.999, 1e-8);
    this.stateBytes = 8 * initial.reduce((sum, values) => sum + values.length, 0);
  }

  trainBatch(images: tf.Tensor2D, oneHot: tf.Tensor2D): number {
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => mlpLoss(this.variables, images, oneHot), this.variables);
      const loss = value.dataSync()[0];
      const start = performance.now();
      this.optimizer.applyGradients(grads);
      this.stepMillis += performance.now() - start;
      this.steps++;
      return loss;
    });
  }

  evaluate(set: MnistSet): Evaluation {
    return evaluate(this.variables, set);
  }
}

function positiveInteger(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected positive integer for --${flag} but received '${text}'`);
  }
  return value;
}

function positiveNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new TypeError(`Expected positive number for --${flag} but received '${text}'`);
  }
  return value;
}

/** The options of a run, or null when --help was asked for. */
function parseOptions(argv: string[]): RunOptions | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      epochs: { type: "string" },
      train: { type: "string" },
      test: { type: "string" },
      batch: { type: "string" },
      hidden: { type: "string" },
      lr: { type: "string" },
      "adam-lr": { type: "string" },
      seed: { type: "string" },
      quick: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return null;
  const sizes = values.quick ? { ...DEFAULTS, ...QUICK } : DEFAULTS;
  const lr = positiveNumber("lr", values.lr, DEFAULTS.lr);
  const seedText = values.seed;
  const seed = seedText === undefined ? DEFAULTS.seed : Number(seedText);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new TypeError(`Expected integer in [0, 4294967295] for --seed but received '${seedText}'`);
  }
  return {
    epochs: positiveInteger("epochs", values.epochs, sizes.epochs),
    train: positiveInteger("train", values.train, sizes.train),
    test: positiveInteger("test", values.test, sizes.test),
    batch: positiveInteger("batch", values.batch, sizes.batch),
    hidden: positiveInteger("hidden", values.hidden, sizes.hidden),
    lr,
    adamLr: positiveNumber("adam-lr", values["adam-lr"], lr),
    seed,
  };
}

const formatBytes = (bytes: number): string => bytes.toLocaleString("en-US");
const percent = (fraction: number): string => `${(100 * fraction).toFixed(2)}%`;

function printEpochRow(epoch: number, trainer: Trainer, trainLoss: number, test: Evaluation): void {
  const stepMs = trainer.steps === 0 ? 0 : trainer.stepMillis / trainer.steps;
  console.log(
    `${String(epoch).padStart(5)}  ${trainer.name.padEnd(9)}  ${trainLoss.toFixed(4).padStart(10)}  ` +
      `${test.loss.toFixed(4).padStart(9)}  ${percent(test.accuracy).padStart(8)}  ${stepMs.toFixed(2).padStart(10)}`,
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  let options: RunOptions | null;
  let data: MnistSplit;
  try {
    options = parseOptions(process.argv.slice(2));
    if (options === null) {
      console.log(USAGE);
      return;
    }
    data = loadMnistSplit({ train: options.train, test: options.test, seed: options.seed });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }

  tf.enableProdMode(); // also silences tfjs's "install tfjs-node" banner
  await tf.setBackend("cpu");
  const random = seededRandom(options.seed);
  const shapes = weightShapes(options.hidden);
  const initial = initialWeights(options.hidden, random);
  const weightCount = countWeights(options.hidden);
  const microAdam = new MicroAdamTrainer(initial, shapes, options.lr);
  const adam = new TfjsAdamTrainer(initial, shapes, options.adamLr);
  const trainers: Trainer[] = [microAdam, adam];

  console.log(
    `MNIST ${IMAGE_PIXELS}-${options.hidden}-${NUM_CLASSES} MLP (${formatBytes(weightCount)} weights), ` +
      `${options.train} train / ${options.test} test digits, batch ${options.batch}, ` +
      `${options.epochs} epoch${options.epochs === 1 ? "" : "s"}, seed ${options.seed}, tfjs ${tf.version.tfjs} (${tf.getBackend()})`,
  );
  console.log(`learning rate: microadam ${microAdam.lr}, adam ${adam.lr}`);
  console.log(
    `optimizer state: microadam ${formatBytes(microAdam.stateBytes)} bytes ` +
      `(${(microAdam.stateBytes / weightCount).toFixed(3)} B/weight); ` +
      `adam ${formatBytes(adam.stateBytes)} bytes (8 B/weight: two float32 moments, m and v)`,
  );
  console.log("");
  console.log("epoch  optimizer  train loss  test loss  test acc  step (ms)");

  const batchesPerEpoch = Math.ceil(options.train / options.batch);
  const finalAccuracy = new Map<string, number>();
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    // Hidden when stderr is not a terminal (cli-progress's default), e.g. under the tests.
    const bar = new SingleBar(
      {
        format: `epoch ${epoch}/${options.epochs} [{bar}] {value}/{total} batches | microadam loss {microLoss} | adam loss {adamLoss} | {duration_formatted}`,
        clearOnComplete: true,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
    bar.start(batchesPerEpoch, 0, { microLoss: "-", adamLoss: "-" });
    const order = epochOrder(data.train, random);
    const lossSums = [0, 0];
    let seen = 0;
    for (let b = 0; b < batchesPerEpoch; b++) {
      const start = b * options.batch;
      const batch = gatherBatch(data.train, order, start, Math.min(options.train, start + options.batch));
      const images = tf.tensor2d(batch.images, [batch.count, IMAGE_PIXELS]);
      const oneHot = tf.tensor2d(batch.oneHot, [batch.count, NUM_CLASSES]);
      // Both optimizers see the same batch, one after the other.
      trainers.forEach((trainer, t) => (lossSums[t] += trainer.trainBatch(images, oneHot) * batch.count));
      images.dispose();
      oneHot.dispose();
      seen += batch.count;
      bar.update(b + 1, { microLoss: (lossSums[0] / seen).toFixed(4), adamLoss: (lossSums[1] / seen).toFixed(4) });
    }
    bar.stop();
    trainers.forEach((trainer, t) => {
      const test = trainer.evaluate(data.test);
      finalAccuracy.set(trainer.name, test.accuracy);
      printEpochRow(epoch, trainer, lossSums[t] / options.train, test);
    });
  }

  console.log("");
  if (microAdam.skippedSteps > 0) {
    console.log(`microadam skipped ${microAdam.skippedSteps} steps with non-finite gradients`);
  }
  console.log(
    `final test accuracy: microadam ${percent(finalAccuracy.get("microadam") ?? NaN)}, ` +
      `adam ${percent(finalAccuracy.get("adam") ?? NaN)}`,
  );
  console.log(
    `optimizer state: microadam ${formatBytes(microAdam.stateBytes)} bytes vs adam ${formatBytes(adam.stateBytes)} bytes ` +
      `(${(adam.stateBytes / microAdam.stateBytes).toFixed(1)}x smaller)`,
  );
  console.log(`wall time ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
