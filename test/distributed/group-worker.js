// One rank of the ProcessGroup and tfjs model.fit tests (test/distributed.test.ts): the group's
// public collectives, then model.fit with DataParallelMicroAdamOptimizer on this rank's share of
// a fixed data set. Prints one JSON line per rank.
// Usage: mpirun -np N node group-worker.js
"use strict";
const tf = require("@tensorflow/tfjs");
const { ProcessGroup } = require("../../dist/distributed");
const { broadcastModel, DataParallelMicroAdamOptimizer } = require("../../dist/distributed/tfjs");

(async () => {
  const group = ProcessGroup.init({ timeoutSeconds: 60 });
  const { rank, size } = group;
  // threadsPerRank 'auto': the machine's hardware threads shared among the ranks on it.
  const { getNumThreads, backends } = require("../../dist");
  const threads = { localSize: group.localSize, engine: getNumThreads(), hardware: backends().cpu.hardwareThreads };
  // Lengths differ by rank: rank r sends r + 1 values r·10, r·10 + 1, ...
  const gathered = (await group.allGather(Float64Array.from({ length: rank + 1 }, (_, i) => rank * 10 + i))).map((a) => Array.from(a));
  const summed = Array.from(await group.allReduce(Int32Array.of(rank, 1), "sum"));
  const broadcast = Array.from(await group.broadcast(Uint8Array.of(rank, rank), size - 1));
  await group.barrier();
  let refused = "";
  try {
    await group.broadcast(Uint8Array.of(1), size);
  } catch (error) {
    refused = `${error.code} ${error.message}`;
  }

  tf.enableProdMode();
  await tf.setBackend("cpu");
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [8], units: 16, activation: "relu" }), tf.layers.dense({ units: 3, activation: "softmax" })] });
  broadcastModel(model, group);
  const optimizer = new DataParallelMicroAdamOptimizer(group, { learningRate: 0.01, topkBlockSize: 64, quantBlockSize: 32 });
  model.compile({ optimizer, loss: "categoricalCrossentropy" });
  // 48 samples, this rank's contiguous share; batches of 12 / size so every rank makes 4 steps per epoch.
  const per = 48 / size;
  const xs = tf.tensor2d(Float32Array.from({ length: per * 8 }, (_, i) => Math.sin(rank * per * 8 + i)), [per, 8]);
  const ys = tf.oneHot(tf.tensor1d(Int32Array.from({ length: per }, (_, i) => (rank * per + i) % 3), "int32"), 3).toFloat();
  await model.fit(xs, ys, { epochs: 3, batchSize: 12 / size, shuffle: false, verbose: 0 });
  const bits = model.getWeights().map((w) => Buffer.from(new Float32Array(w.dataSync()).buffer).toString("base64"));
  console.log(JSON.stringify({ rank, size, threads, gathered, summed, broadcast, refused, steps: optimizer.shardedOptimizer.stepCount, weights: bits }));
  optimizer.dispose();
  group.finalize();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
