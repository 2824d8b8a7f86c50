// Captures the gradients of a real training run for the step benchmark's "mnist" stream
// (bench/step/kernel-driver.cpp --grads mnist): the MLP of examples/mnist (784-256-10, 203,530
// parameters), or with --model cnn the CNN of the convergence study (bench/convergence/models.ts,
// 13,066 parameters), trained with tf.train.adam on 2,048 real digits, batch 64; the flat
// gradient of every weight (in the model's order) at steps 41-48 is written, after a header of
// two uint32 (steps, parameters), as float32 to the file named by --out (default
// build/mnist-mlp-grads.f32, or build/mnist-cnn-grads.f32). Deterministic for the seed. The
// driver tiles it to its size (`--grads mnist --mnist FILE`).
//
//   npx ts-node bench/step/capture-mnist-grads.ts [--model mlp|cnn] [--out FILE]
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import * as tf from "@tensorflow/tfjs";
import { gatherBatch, loadMnistSplit, epochOrder } from "../../examples/mnist/data";
import { countWeights, initialWeights, mlpLoss, weightShapes } from "../../examples/mnist/mlp";
import { seededRandom } from "../../examples/mnist/random";
import { countWeights as countModelWeights, MODELS } from "../convergence/models";

const { values } = parseArgs({ options: { model: { type: "string", default: "mlp" }, out: { type: "string" } } });
if (values.model !== "mlp" && values.model !== "cnn") throw new Error(`--model must be mlp or cnn, not '${values.model}'`);
const model = values.model;
const out = values.out ?? path.join("build", `mnist-${model}-grads.f32`);
const HIDDEN = 256, BATCH = 64, FIRST = 41, STEPS = 8;
const random = seededRandom(20261205);
const { train } = loadMnistSplit({ train: 2048, test: 1, seed: 7 });
// The MLP as it was captured first (examples/mnist, hidden 256); the CNN of the convergence study.
const shapes = model === "mlp" ? weightShapes(HIDDEN) : MODELS.cnn.shapes;
const initial = model === "mlp" ? initialWeights(HIDDEN, random) : MODELS.cnn.init(random);
const weights = initial.map((w, i) => tf.variable(tf.tensor(w, shapes[i], "float32")));
const loss = (images: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar =>
  model === "mlp" ? mlpLoss(weights, images, oneHot) : tf.losses.softmaxCrossEntropy(oneHot, MODELS.cnn.logits(weights, images)) as tf.Scalar;
const optimizer = tf.train.adam(1e-3);
const params = model === "mlp" ? countWeights(HIDDEN) : countModelWeights(MODELS.cnn);
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
    const { grads } = tf.variableGrads(() => loss(images, oneHot), weights);
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
console.log(`${out}: ${STEPS} steps x ${params} parameters of the tfjs MNIST ${model.toUpperCase()} (steps ${FIRST}-${FIRST + STEPS - 1})`);
