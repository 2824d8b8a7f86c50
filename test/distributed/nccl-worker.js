// ShardedMicroAdam on device 'cuda' (NCCL) in one process (test/nccl.test.ts): its argument
// checks everywhere, and where a CUDA device and NCCL are usable the world-size-1 path end to end,
// bit for bit against MicroAdam on CUDA and against the CPU's ShardedMicroAdam. The group is
// ProcessGroup.single() (no MPI: the GPU machines have none). Prints one JSON line.
// Usage: node nccl-worker.js
"use strict";
const { DeviceArray, MicroAdam, backends } = require("../../dist");
const { ProcessGroup, ShardedMicroAdam, ncclInfo } = require("../../dist/distributed");

const refusal = async (fn) => {
  try {
    await fn();
    return "not refused";
  } catch (error) {
    return `${error.name} ${error.code} ${error.message}`;
  }
};

(async () => {
  const group = ProcessGroup.single();
  const cudaUsable = backends().cuda.usable;
  const nccl = ncclInfo();
  const out = { size: group.size, cudaUsable, ncclAvailable: nccl.available };
  out.hostParams = await refusal(() => ShardedMicroAdam.create([new Float32Array(8192)], { lr: 1e-3, device: "cuda" }, group));
  out.denseBelow = await refusal(() =>
    ShardedMicroAdam.create([{ ptr: 1n << 40n, numel: 8192, dtype: "f32", device: "cuda" }], { lr: 1e-3, device: "cuda", denseBelow: 4096 }, group),
  );
  out.bf16 = await refusal(() => ShardedMicroAdam.create([{ ptr: 1n << 40n, numel: 8192, dtype: "bf16", device: "cuda" }], { lr: 1e-3, device: "cuda" }, group));
  out.badDevice = await refusal(() => ShardedMicroAdam.create([new Float32Array(8192)], { lr: 1e-3, device: "gpu" }, group));
  if (!cudaUsable || !nccl.available) {
    // Where there is no GPU, the first thing a CUDA optimizer needs (its reduced buffer) says so.
    out.noDevice = await refusal(() => ShardedMicroAdam.create([{ ptr: 1n << 40n, numel: 8192, dtype: "f32", device: "cuda" }], { lr: 1e-3, device: "cuda" }, group));
    console.log(JSON.stringify(out));
    group.finalize();
    return;
  }

  // World size 1 on the GPU: two tensors (one cut inside a tensor is not possible at one rank, but
  // every NCCL call runs), six steps of seeded gradients, one of them with a NaN (skipped).
  const sizes = [3 * 4096 + 100, 2 * 4096];
  const options = { lr: 1e-3, topkBlockSize: 4096, window: 4 };
  let seed = 1;
  const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const hostParams = sizes.map((n) => Float32Array.from({ length: n }, random));
  const deviceParams = hostParams.map((p) => DeviceArray.from(p));
  const referenceParams = hostParams.map((p) => DeviceArray.from(p));
  const cpuParams = hostParams.map((p) => p.slice());
  const sharded = await ShardedMicroAdam.create(deviceParams, { ...options, device: "cuda" }, group);
  const reference = new MicroAdam(referenceParams, { ...options, device: "cuda", denseBelow: 0 });
  const cpu = await ShardedMicroAdam.create(cpuParams, { ...options, denseBelow: 0 }, group);
  const results = [];
  let reducedEqual = true;
  for (let step = 0; step < 6; step++) {
    const grads = sizes.map((n) => Float32Array.from({ length: n }, random));
    if (step === 3) grads[1][17] = NaN;
    const deviceGrads = grads.map((g) => DeviceArray.from(g));
    results.push(await sharded.step(deviceGrads));
    reference.step(deviceGrads);
    await cpu.step(grads);
    if (step !== 3) reducedEqual &&= Buffer.compare(Buffer.from(sharded.lastReducedGradient.buffer), Buffer.from(new Float32Array(grads.flatMap((g) => Array.from(g))).buffer)) === 0;
    deviceGrads.forEach((g) => g.free());
  }
  const bytes = (arrays) => Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  const gpu = bytes(deviceParams.map((p) => p.download()));
  out.gpu = {
    results,
    equalToMicroAdam: Buffer.compare(gpu, bytes(referenceParams.map((p) => p.download()))) === 0,
    equalToCpuSharded: Buffer.compare(gpu, bytes(cpuParams)) === 0,
    reducedEqual,
    changed: Buffer.compare(gpu, bytes(hostParams)) !== 0,
    stateBytes: sharded.stateBytes,
    nccl,
  };
  console.log(JSON.stringify(out));
  group.finalize();
})().catch((error) => {
  console.log(JSON.stringify({ crashed: `${error.code} ${error.stack}` }));
  process.exitCode = 1;
});
