// Data-parallel training of a tfjs model on real MNIST digits over MPI: every rank trains the same
// model on its own slice of every batch (trainOnBatch), and DataParallelMicroAdamOptimizer steps
// a ShardedMicroAdam on the mean of all ranks' gradients, so the model stays identical on every
// rank while each rank's CPU computes only its share of the forward and backward passes
// (tfjs's pure-JS backend uses one core per process). The test set is split the same way: each
// rank evaluates its share and the ranks add up their losses and correct counts. At the end rank 0
// prints, per process, where the training time went (the optimizer step, which holds the waits
// for the other ranks, and evaluation) and the CPU seconds of its threads: docs/distributed.md,
// "TensorFlow.js" and "Measured".
//
//   mpirun -np 2 npx ts-node examples/mnist-data-parallel.ts [--epochs 6] [--train 8000] [--test 2000]
//       [--batch 64] [--hidden 128] [--lr 0.003] [--seed 1] [--quick]
//   (as root add --allow-run-as-root; with more ranks than cores add --oversubscribe)
//   npx ts-node examples/mnist-data-parallel.ts ...   one process (a group of one)

import * as fs from "node:fs";
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
  if (test < group.size) throw new RangeError(`Expected --test (${test}) at least the number of processes (${group.size})`);
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
  const optimizer = new TimedOptimizer(group, { learningRate: lr });
  model.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
  log(
    `MNIST ${IMAGE_PIXELS}-${hidden}-${NUM_CLASSES} MLP, ${train} train / ${test} test digits, global batch ${batch} ` +
      `(${batch / group.size} per process), ${epochs} epoch${epochs === 1 ? "" : "s"}, ${group.size} process${group.size === 1 ? "" : "es"} (${group.library})`,
  );

  const random = seededRandom(seed);
  const local = batch / group.size;
  const batches = Math.floor(train / batch); // every rank takes the same number of steps
  // This rank's share of the test set, as tensors once.
  const testFrom = Math.floor((test * group.rank) / group.size);
  const testSet = gatherBatch(data.test, Uint32Array.from({ length: test }, (_, i) => i), testFrom, Math.floor((test * (group.rank + 1)) / group.size));
  const testX = tf.tensor2d(testSet.images, [testSet.count, IMAGE_PIXELS]);
  const testY = tf.tensor2d(testSet.oneHot, [testSet.count, NUM_CLASSES]);
  const trainStarted = performance.now();
  const cpuStarted = cpuSeconds();
  let evaluationMs = 0;
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
    const evaluationStarted = performance.now();
    const sums = tf.tidy(() => {
      const predicted = model.predict(testX) as tf.Tensor2D;
      // The compiled loss and metric, summed over this rank's share.
      return [tf.metrics.categoricalCrossentropy(testY, predicted), tf.metrics.categoricalAccuracy(testY, predicted)].map((s) => s.sum().dataSync()[0]);
    });
    const [lossTotal, correct, evaluated] = await group.allReduce(Float64Array.of(...sums, testSet.count), "sum");
    if (evaluated !== test) throw new Error(`the ranks' shares of the test set add up to ${evaluated} digits, not ${test}`);
    const [testLoss, testAccuracy] = [lossTotal / test, Math.round(correct) / test];
    evaluationMs += performance.now() - evaluationStarted;
    accuracy = testAccuracy;
    log(`epoch ${epoch}: train loss (rank 0's slices) ${(lossSum / batches).toFixed(4)}, test loss ${testLoss.toFixed(4)}, test accuracy ${(100 * testAccuracy).toFixed(2)}%`);
  }
  const trainSeconds = (performance.now() - trainStarted) / 1000;
  const cpu = cpuSeconds();
  tf.dispose([testX, testY]);
  // Where each process's training time went: wall seconds, then CPU seconds (NaN where /proc is missing).
  const mine = Float64Array.of(
    trainSeconds,
    optimizer.stepMs / 1000,
    evaluationMs / 1000,
    cpu.total - cpuStarted.total,
    cpu.main - cpuStarted.main,
    cpu.communication - cpuStarted.communication,
    cpu.mainWaiting - cpuStarted.mainWaiting,
  );
  const all = await group.allGather(mine);
  const column = (i: number, digits = 1) => all.map((r) => r[i].toFixed(digits)).join(", ");
  log(
    `per process (rank 0${group.size > 1 ? ` … ${group.size - 1}` : ""}): training ${column(0)} s, of which the optimizer step ` +
      `(collectives and waiting for the other ranks) ${column(1)} s and evaluation ${column(2)} s; ` +
      `CPU in training ${column(3)} s (main thread ${column(4)} s, communication thread ${column(5, 2)} s); ` +
      `main thread ready to run but without a core ${column(6)} s`,
  );
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

/** The optimizer, timing its steps (tfjs calls applyGradients synchronously inside trainOnBatch). */
class TimedOptimizer extends DataParallelMicroAdamOptimizer {
  stepMs = 0;

  override applyGradients(variableGradients: Parameters<DataParallelMicroAdamOptimizer["applyGradients"]>[0]): void {
    const started = performance.now();
    super.applyGradients(variableGradients);
    this.stepMs += performance.now() - started;
  }
}

/**
 * This process's CPU seconds (user + system) in total; and on Linux, from
 * /proc/self/task/<tid>/schedstat (nanoseconds), the main (JS) thread's seconds on a CPU and
 * seconds ready to run but waiting for one (the run queue: what other work on the machine took),
 * and the distributed addon's communication thread's (named microadam-mpi) seconds on a CPU.
 * NaN where /proc is missing.
 */
function cpuSeconds(): { total: number; main: number; mainWaiting: number; communication: number } {
  const usage = process.cpuUsage();
  const result = { total: (usage.user + usage.system) / 1e6, main: NaN, mainWaiting: NaN, communication: NaN };
  let tasks: string[];
  try {
    tasks = fs.readdirSync("/proc/self/task");
  } catch {
    return result;
  }
  result.communication = 0;
  for (const tid of tasks) {
    try {
      const [onCpu, waiting] = fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ").map(Number);
      if (Number(tid) === process.pid) [result.main, result.mainWaiting] = [onCpu / 1e9, waiting / 1e9];
      else if (fs.readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === "microadam-mpi") result.communication += onCpu / 1e9;
    } catch {
      // the thread ended
    }
  }
  return result;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
