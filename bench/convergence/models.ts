// The two benchmark models as pure functions of their weight tensors, so tfjs's Adam and the
// native optimizers train the same code from the same initial weights.
//   mlp: 784 → 128 (ReLU) → 10, the model of examples/mnist-mlp.ts (101,770 weights).
//   cnn: 5×5 conv, 16 channels, stride 2 (28→12) → ReLU → 3×3 conv, 32 channels, stride 2
//        (12→5) → ReLU → dense 800 → 10 (13,066 weights). Strided convolutions instead of
//        pooling: max-pool's backward pass is slow on the pure-JS backend.

import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, NUM_CLASSES } from "../../examples/mnist/data";
import { initialWeights, mlpLogits, weightShapes } from "../../examples/mnist/mlp";
import type { Random } from "../../examples/mnist/random";
import { conv2dValid, convOutputSize } from "./conv2d";

export type ModelName = "mlp" | "cnn";
export const MODEL_NAMES: readonly ModelName[] = ["mlp", "cnn"];

export interface Model {
  name: ModelName;
  description: string;
  /** Weight names, in the order of every list of weights here. */
  weightNames: string[];
  shapes: number[][];
  init(random: Random): Float32Array[];
  /** Logits [batch, 10] from images [batch, 784]. */
  logits(weights: tf.Tensor[], images: tf.Tensor2D): tf.Tensor2D;
}

const HIDDEN = 128;

const mlp: Model = {
  name: "mlp",
  description: `MLP 784-${HIDDEN}-10, ReLU`,
  weightNames: ["w1", "b1", "w2", "b2"],
  shapes: weightShapes(HIDDEN),
  init: (random) => initialWeights(HIDDEN, random),
  logits: mlpLogits,
};

const C1 = 16;
const C2 = 32;
const K1 = 5;
const K2 = 3;
const S1 = convOutputSize(28, K1, 2); // 12
const S2 = convOutputSize(S1, K2, 2); // 5
const FLAT = S2 * S2 * C2; // 800

function uniform(random: Random, count: number, limit: number): Float32Array {
  return Float32Array.from({ length: count }, () => (2 * random() - 1) * limit);
}

const cnn: Model = {
  name: "cnn",
  description: `CNN conv${K1}x${K1}/2(${C1})-conv${K2}x${K2}/2(${C2})-dense${FLAT}-10, ReLU`,
  weightNames: ["conv1", "bias1", "conv2", "bias2", "dense", "bias3"],
  shapes: [[K1 * K1, C1], [C1], [K2 * K2 * C1, C2], [C2], [FLAT, NUM_CLASSES], [NUM_CLASSES]],
  // He-uniform for the ReLU layers, Glorot-uniform for the output, zero biases (Keras's choices).
  init: (random) => [
    uniform(random, K1 * K1 * C1, Math.sqrt(6 / (K1 * K1))),
    new Float32Array(C1),
    uniform(random, K2 * K2 * C1 * C2, Math.sqrt(6 / (K2 * K2 * C1))),
    new Float32Array(C2),
    uniform(random, FLAT * NUM_CLASSES, Math.sqrt(6 / (FLAT + NUM_CLASSES))),
    new Float32Array(NUM_CLASSES),
  ],
  logits: (weights, images) => {
    const [conv1, bias1, conv2, bias2, dense, bias3] = weights;
    const batch = images.shape[0];
    const x = tf.reshape(images, [batch, 28, 28, 1]) as tf.Tensor4D;
    const h1 = tf.relu(tf.add(conv2dValid(x, conv1 as tf.Tensor2D, K1, 2), bias1)) as tf.Tensor4D;
    const h2 = tf.relu(tf.add(conv2dValid(h1, conv2 as tf.Tensor2D, K2, 2), bias2));
    return tf.add(tf.matMul(tf.reshape(h2, [batch, FLAT]) as tf.Tensor2D, dense as tf.Tensor2D), bias3) as tf.Tensor2D;
  },
};

export const MODELS: Readonly<Record<ModelName, Model>> = { mlp, cnn };

export function countWeights(model: Model): number {
  return model.shapes.reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

export { IMAGE_PIXELS };
