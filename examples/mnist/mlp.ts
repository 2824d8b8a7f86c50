// A one-hidden-layer perceptron for MNIST: 784 → hidden (ReLU) → 10, softmax cross-entropy.
// Written as pure functions of its weight tensors, so the same code serves weights held as
// tf.Variables (for tf.train.adam) and weights held as Float32Arrays (for MicroAdam).

import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, MnistSet, NUM_CLASSES, gatherBatch } from "./data";
import { Random } from "./random";

/** Names of the weights, in the order every list of weights or gradients here uses. */
export const WEIGHT_NAMES = ["w1", "b1", "w2", "b2"] as const;

/** The shape of each weight, in WEIGHT_NAMES order. */
export function weightShapes(hiddenSize: number): number[][] {
  return [[IMAGE_PIXELS, hiddenSize], [hiddenSize], [hiddenSize, NUM_CLASSES], [NUM_CLASSES]];
}

export function countWeights(hiddenSize: number): number {
  return weightShapes(hiddenSize).reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Initial weights: He-uniform for the ReLU layer, Glorot-uniform for the output layer, zero
 * biases (the defaults Keras would pick for these layers).
 */
export function initialWeights(hiddenSize: number, random: Random): Float32Array[] {
  const uniform = (count: number, limit: number): Float32Array => {
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = (2 * random() - 1) * limit;
    return values;
  };
  return [
    uniform(IMAGE_PIXELS * hiddenSize, Math.sqrt(6 / IMAGE_PIXELS)),
    new Float32Array(hiddenSize),
    uniform(hiddenSize * NUM_CLASSES, Math.sqrt(6 / (hiddenSize + NUM_CLASSES))),
    new Float32Array(NUM_CLASSES),
  ];
}

/**
 * Tensors over the given arrays. The CPU backend keeps a Float32Array it is given without
 * copying, so these tensors share memory with `weights`: use them before the weights change and
 * dispose them (tf.tidy) afterwards.
 */
export function weightTensors(weights: Float32Array[], shapes: number[][]): tf.Tensor[] {
  return weights.map((values, i) => tf.tensor(values, shapes[i], "float32"));
}

/** Logits, batch × 10. */
export function mlpLogits(weights: tf.Tensor[], images: tf.Tensor2D): tf.Tensor2D {
  const [w1, b1, w2, b2] = weights;
  const hidden = tf.relu(tf.add(tf.matMul(images, w1 as tf.Tensor2D), b1));
  return tf.add(tf.matMul(hidden as tf.Tensor2D, w2 as tf.Tensor2D), b2) as tf.Tensor2D;
}

/** Mean softmax cross-entropy of a batch. */
export function mlpLoss(weights: tf.Tensor[], images: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(oneHot, mlpLogits(weights, images)) as tf.Scalar;
}

// A type alias rather than an interface so that tf.tidy accepts it as a return value.
export type Evaluation = {
  /** Mean softmax cross-entropy over the set. */
  loss: number;
  /** Fraction of samples whose largest logit is the right digit. */
  accuracy: number;
};

/** Loss and accuracy over a whole set, in batches of `batchSize` to bound memory. */
export function evaluate(weights: tf.Tensor[], set: MnistSet, batchSize = 1000): Evaluation {
  const order = Array.from({ length: set.count }, (_, i) => i);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const batch = gatherBatch(set, order, start, Math.min(set.count, start + batchSize));
    const [batchLoss, predictions] = tf.tidy(() => {
      const images = tf.tensor2d(batch.images, [batch.count, IMAGE_PIXELS]);
      const oneHot = tf.tensor2d(batch.oneHot, [batch.count, NUM_CLASSES]);
      const logits = mlpLogits(weights, images);
      const loss = tf.losses.softmaxCrossEntropy(oneHot, logits).dataSync()[0];
      return [loss, tf.argMax(logits, 1).dataSync() as Int32Array] as [number, Int32Array];
    });
    lossSum += batchLoss * batch.count;
    for (let i = 0; i < batch.count; i++) if (predictions[i] === batch.labels[i]) correct++;
  }
  return { loss: lossSum / set.count, accuracy: correct / set.count };
}
