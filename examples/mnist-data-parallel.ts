// Data-parallel training of a tfjs model on real MNIST digits over MPI: every rank trains the same
// model on its own slice of every batch (trainOnBatch), and DataParallelMicroAdamOptimizer steps
// a ShardedMicroAdam on the mean of all ranks' gradients, so the model stays identical on every
// rank while each rank's CPU computes only its share of the forward and backward passes
// (tfjs's pure-JS backend uses one core per process). docs/distributed.md, "TensorFlow.js".
//
//   mpirun -np 2 npx ts-node examples/mnist-data-parallel.ts [--epochs 6] [--train 8000] [--test 2000]
//       [--batch 64] [--hidden 128] [--lr 0.003] [--seed 1] [--quick]
//   (as root add --allow-run-as-root; with more ranks than cores add --oversubscribe)
//   npx ts-node examples/mnist-data-parallel.ts ...   one process (a group of one)

import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { ProcessGroup } from "../lib/distributed";
import { broadcastModel, DataParallelMicroAdamOptimizer } from "../lib/distributed/tfjs";
import { IMAGE_PIXELS, NUM_CLASSES, epochOrder, gatherBatch, loadMnistSplit } from "./mnist/data";
import { seededRandom } from "./mnist/random";

const DEFAULTS = { epochs: 6, train: 8000, test: 2000, batch: 64, hidden: 128, lr: 0.003, seed: 1 };
const QUICK = { epochs: 1, train: 512, test: 200 };

function option(values: Record<string, string | boolean | undefined>, name: keyof typeof DEFAULTS, quick: boolean): number {
  const text = values[name];
  const fallback = quick && name in QUICK ? QUICK[name as keyof typeof QUICK] : DEFAULTS[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`Expected positive number for --${name} but received '${String(text)}'`);
  return value;
}

async function main(): Promise<void> {
  const started = performance.now();
  const text = { type: "string" } as const;
  const { values } = parseArgs({
    strict: true,
    options: { epochs: text, train: text, test: text, batch: text, hidden: text, lr: text, seed: text, quick: { type: "boolean", default: false } },
  });
  const quick = values.quick === true;
  const [epochs, train, test, batch, hidden, lr, seed] = (["epochs", "train", "test", "batch", "hidden", "lr", "seed"] as const).map((k) =>
    option(values as Record<string, string | boolean | undefined>, k, quick),
  );
  const group = ProcessGroup.init();
  if (batch % group.size !== 0) throw new RangeError(`Expected --batch (${batch}) divisible by the number of processes (${group.size})`);
  const log = (text: string) => group.rank === 0 && console.log(text);

  tf.enableProdMode();
  await tf.setBackend("cpu");
  const data = loadMnistSplit({ train, test, seed });
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [IMAGE_PIXELS], units: hidden, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ units: NUM_CLASSES, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
  broadcastModel(model, group); // every rank starts from rank 0's weights
  const optimizer = new DataParallelMicroAdamOptimizer(group, { learningRate: lr });
  model.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
  log(
    `MNIST ${IMAGE_PIXELS}-${hidden}-${NUM_CLASSES} MLP, ${train} train / ${test} test digits, global batch ${batch} ` +
      `(${batch / group.size} per process), ${epochs} epoch${epochs === 1 ? "" : "s"}, ${group.size} process${group.size === 1 ? "" : "es"} (${group.library})`,
  );

  const random = seededRandom(seed);
  const local = batch / group.size;
  const batches = Math.floor(train / batch); // every rank takes the same number of steps
  const trainStarted = performance.now();
  let accuracy = NaN;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = epochOrder(data.train, random); // the same order on every rank (same seed)
    let lossSum = 0;
    for (let b = 0; b < batches; b++) {
      // This rank's slice of global batch b.
      const start = b * batch + group.rank * local;
      const slice = gatherBatch(data.train, order, start, start + local);
      const x = tf.tensor2d(slice.images, [local, IMAGE_PIXELS]);
      const y = tf.tensor2d(slice.oneHot, [local, NUM_CLASSES]);
      const [loss] = (await model.trainOnBatch(x, y)) as number[];
      lossSum += loss;
      tf.dispose([x, y]);
    }
    const testSet = gatherBatch(data.test, Uint32Array.from({ length: test }, (_, i) => i), 0, test);
    const [testLoss, testAccuracy] = tf.tidy(() => {
      const result = model.evaluate(tf.tensor2d(testSet.images, [test, IMAGE_PIXELS]), tf.tensor2d(testSet.oneHot, [test, NUM_CLASSES])) as tf.Scalar[];
      return result.map((s) => s.dataSync()[0]);
    });
    accuracy = testAccuracy;
    log(`epoch ${epoch}: train loss (rank 0's slices) ${(lossSum / batches).toFixed(4)}, test loss ${testLoss.toFixed(4)}, test accuracy ${(100 * testAccuracy).toFixed(2)}%`);
  }
  const trainSeconds = (performance.now() - trainStarted) / 1000;
  // Every rank must hold the same weights: compare a checksum of their bits.
  const bits = model.getWeights().map((w) => new Uint32Array((w.dataSync() as Float32Array).slice().buffer));
  let checksum = 0;
  for (const b of bits) for (let i = 0; i < b.length; i++) checksum = (Math.imul(checksum, 31) + b[i]) | 0;
  const [low, high] = [await group.allReduce(Int32Array.of(checksum), "min"), await group.allReduce(Int32Array.of(checksum), "max")];
  const sharded = optimizer.shardedOptimizer!;
  log(`state bytes per process: [${sharded.stateBytesByRank.join(", ")}] of ${sharded.totalStateBytes} in one process`);
  log(`weights identical on every process: ${low[0] === high[0] ? "yes" : "NO"}`);
  log(`final test accuracy ${(100 * accuracy).toFixed(2)}%`);
  log(`training wall time ${trainSeconds.toFixed(1)} s (${group.size} process${group.size === 1 ? "" : "es"}); total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  optimizer.dispose();
  group.finalize();
  if (low[0] !== high[0]) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
