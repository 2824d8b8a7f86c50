// One training run: a model, an optimizer variant, a peak learning rate and a seed, on fixed
// MNIST sets, with the warmup + cosine schedule every run shares.

import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs";
import { Presets, SingleBar } from "cli-progress";
import { gatherBatch, epochOrder, IMAGE_PIXELS, NUM_CLASSES, type MnistSet } from "../../examples/mnist/data";
import { seededRandom } from "../../examples/mnist/random";
import { warmupDecaySchedule } from "../../lib/tfjs";
import { countWeights, MODELS, type Model, type ModelName } from "./models";
import { makeOptimizer, type VariantName } from "./optimizers";

export interface RunConfig {
  model: ModelName;
  optimizer: VariantName;
  /** Peak learning rate of the schedule. */
  lr: number;
  /** Seed of the initial weights and of the batch order (the data split is fixed). */
  seed: number;
  epochs: number;
  batch: number;
  /** Fraction of the steps spent in linear warmup; cosine decay to 0 afterwards. */
  warmupFraction: number;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  evalLoss: number;
  evalAccuracy: number;
}

export interface RunResult extends RunConfig {
  trainSamples: number;
  evalSamples: number;
  /** Mean training loss of every LOSS_WINDOW consecutive steps. */
  stepLoss: number[];
  lossWindow: number;
  epochRecords: EpochRecord[];
  finalAccuracy: number;
  finalLoss: number;
  /** True when the training loss became NaN or Inf (the run stops there). */
  diverged: boolean;
  steps: number;
  skippedSteps: number;
  wallSeconds: number;
  /** Milliseconds per applyGradients (the optimizer's whole step, copies included). */
  optimizerMsPerStep: number;
  stateBytes: number;
  weightCount: number;
}

export const LOSS_WINDOW = 10;

/** Loss and accuracy over a whole set, in batches of 500. */
export function evaluate(model: Model, weights: tf.Tensor[], set: MnistSet): { loss: number; accuracy: number } {
  const order = Array.from({ length: set.count }, (_, i) => i);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < set.count; start += 500) {
    const batch = gatherBatch(set, order, start, Math.min(set.count, start + 500));
    const [loss, predictions] = tf.tidy(() => {
      const images = tf.tensor2d(batch.images, [batch.count, IMAGE_PIXELS]);
      const oneHot = tf.tensor2d(batch.oneHot, [batch.count, NUM_CLASSES]);
      const logits = model.logits(weights, images);
      return [tf.losses.softmaxCrossEntropy(oneHot, logits).dataSync()[0], tf.argMax(logits, 1).dataSync() as Int32Array] as const;
    });
    lossSum += loss * batch.count;
    for (let i = 0; i < batch.count; i++) if (predictions[i] === batch.labels[i]) correct++;
  }
  return { loss: lossSum / set.count, accuracy: correct / set.count };
}

let runCounter = 0;

/** Trains one configuration; `label` names it on the progress bar. */
export function trainRun(config: RunConfig, train: MnistSet, evalSet: MnistSet, label: string, showProgress: boolean): RunResult {
  const started = performance.now();
  const model = MODELS[config.model];
  const weightCount = countWeights(model);
  const random = seededRandom(config.seed);
  const run = `run${runCounter++}`;
  const variables = model.init(random).map((values, i) => tf.variable(tf.tensor(values, model.shapes[i]), true, `${run}/${model.weightNames[i]}`));
  const stepsPerEpoch = Math.ceil(train.count / config.batch);
  const totalSteps = config.epochs * stepsPerEpoch;
  const schedule = warmupDecaySchedule({
    peak: config.lr,
    warmupSteps: Math.round(config.warmupFraction * totalSteps),
    totalSteps,
    decay: "cosine",
  });
  const bench = makeOptimizer(config.optimizer, schedule, weightCount);

  const bar = new SingleBar(
    { format: `${label} [{bar}] {value}/{total} steps | loss {loss} | acc {acc} | {duration_formatted}`, hideCursor: true, clearOnComplete: true },
    Presets.shades_classic,
  );
  if (showProgress) bar.start(totalSteps, 0, { loss: "-", acc: "-" });

  const stepLoss: number[] = [];
  const epochRecords: EpochRecord[] = [];
  let windowSum = 0;
  let windowCount = 0;
  let optimizerMs = 0;
  let steps = 0;
  let diverged = false;
  for (let epoch = 1; epoch <= config.epochs && !diverged; epoch++) {
    const order = epochOrder(train, random);
    let epochLoss = 0;
    let seen = 0;
    for (let b = 0; b < stepsPerEpoch; b++) {
      const start = b * config.batch;
      const batch = gatherBatch(train, order, start, Math.min(train.count, start + config.batch));
      const images = tf.tensor2d(batch.images, [batch.count, IMAGE_PIXELS]);
      const oneHot = tf.tensor2d(batch.oneHot, [batch.count, NUM_CLASSES]);
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(oneHot, model.logits(variables, images)) as tf.Scalar,
        variables,
      );
      const loss = value.dataSync()[0];
      bench.beforeStep(steps);
      const t0 = performance.now();
      bench.optimizer.applyGradients(grads);
      optimizerMs += performance.now() - t0;
      bench.afterStep();
      tf.dispose([value, images, oneHot, ...Object.values(grads)]);
      steps++;
      if (!Number.isFinite(loss)) {
        diverged = true;
        break;
      }
      epochLoss += loss * batch.count;
      seen += batch.count;
      windowSum += loss;
      if (++windowCount === LOSS_WINDOW) {
        stepLoss.push(windowSum / LOSS_WINDOW);
        windowSum = 0;
        windowCount = 0;
      }
      if (showProgress && steps % 5 === 0) bar.update(steps, { loss: (epochLoss / seen).toFixed(4) });
    }
    const evaluation = evaluate(model, variables, evalSet);
    epochRecords.push({ epoch, trainLoss: seen > 0 ? epochLoss / seen : NaN, evalLoss: evaluation.loss, evalAccuracy: evaluation.accuracy });
    if (showProgress) bar.update(steps, { acc: `${(100 * evaluation.accuracy).toFixed(2)}%` });
  }
  if (showProgress) bar.stop();
  const final = evaluate(model, variables, evalSet);
  const result: RunResult = {
    ...config,
    trainSamples: train.count,
    evalSamples: evalSet.count,
    stepLoss,
    lossWindow: LOSS_WINDOW,
    epochRecords,
    finalAccuracy: final.accuracy,
    finalLoss: final.loss,
    diverged,
    steps,
    skippedSteps: bench.skippedSteps(),
    wallSeconds: (performance.now() - started) / 1000,
    optimizerMsPerStep: optimizerMs / Math.max(1, steps),
    stateBytes: bench.stateBytes(),
    weightCount,
  };
  bench.dispose();
  tf.dispose(variables);
  return result;
}
