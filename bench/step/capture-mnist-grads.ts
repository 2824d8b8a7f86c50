// Captures the gradients of a real training run for the step benchmark's "mnist" stream
// (bench/step/kernel-driver.cpp --grads mnist): the MLP of examples/mnist (784-256-10, 203,530
// parameters) trained with tf.train.adam on 2,048 real digits, batch 64; the flat gradient of
// every weight (w1, b1, w2, b2 in order) at steps 41-48 is written, after a header of two
// uint32 (steps, parameters), as float32 to the file named by --out (default
// build/mnist-mlp-grads.f32). Deterministic for the seed. The driver tiles it to its size.
//
//   npx ts-node bench/step/capture-mnist-grads.ts [--out build/mnist-mlp-grads.f32]
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import * as tf from "@tensorflow/tfjs";
import { gatherBatch, loadMnistSplit, epochOrder } from "../../examples/mnist/data";
import { countWeights, initialWeights, mlpLoss, weightShapes } from "../../examples/mnist/mlp";
import { seededRandom } from "../../examples/mnist/random";

const { values } = parseArgs({ options: { out: { type: "string", default: path.join("build", "mnist-mlp-grads.f32") } } });
const out = values.out as string;
const HIDDEN = 256, BATCH = 64, FIRST = 41, STEPS = 8;
const random = seededRandom(20261205);
const { train } = loadMnistSplit({ train: 2048, test: 1, seed: 7 });
const shapes = weightShapes(HIDDEN);
const weights = initialWeights(HIDDEN, random).map((w, i) => tf.variable(tf.tensor(w, shapes[i], "float32")));
const optimizer = tf.train.adam(1e-3);
const params = countWeights(HIDDEN);
const captured = new Float32Array(STEPS * params);
let order = epochOrder(train, random);
let cursor = 0;
for (let step = 1; step < FIRST + STEPS; step++) {
  if (cursor + BATCH > train.count) {
    order = epochOrder(train, random);
    cursor = 0;
  }
  const batch = gatherBatch(train, order, cursor, cursor + BATCH);
  cursor += BATCH;
  tf.tidy(() => {
    const images = tf.tensor2d(batch.images, [batch.count, 784]);
    const oneHot = tf.tensor2d(batch.oneHot, [batch.count, 10]);
    const { grads } = tf.variableGrads(() => mlpLoss(weights, images, oneHot), weights);
    const list = weights.map((w) => grads[w.name]);
    if (step >= FIRST) {
      let offset = (step - FIRST) * params;
      for (const g of list) {
        const data = g.dataSync() as Float32Array;
        captured.set(data, offset);
        offset += data.length;
      }
    }
    optimizer.applyGradients(grads as tf.NamedTensorMap as unknown as Parameters<typeof optimizer.applyGradients>[0]);
  });
}
fs.mkdirSync(path.dirname(out), { recursive: true });
const header = new Uint32Array([STEPS, params]);
fs.writeFileSync(out, Buffer.concat([Buffer.from(header.buffer), Buffer.from(captured.buffer)]));
console.log(`${out}: ${STEPS} steps x ${params} parameters of the tfjs MNIST MLP (steps ${FIRST}-${FIRST + STEPS - 1})`);
