// One rank of the bf16/f16 params test (test/distributed.test.ts): a bf16, an f16 (under
// denseBelow: an AdamW state) and a float32 param, stepped by ShardedMicroAdam; rank 0 holds the
// gradients and the others zeros, with reduce 'sum', so the reduced gradient is rank 0's exactly
// and a single-process MicroAdam on it is the reference. Rank 0 also steps that reference here.
// Prints one JSON line per rank: a digest of its params (and rank 0 of the reference's).
// Usage: mpirun -np N node half-worker.js
"use strict";
const { createHash } = require("node:crypto");
const { MicroAdam } = require("../../dist");
const { ProcessGroup, ShardedMicroAdam } = require("../../dist/distributed");

const SIZES = [3000, 1000, 2500];
const DTYPES = ["bf16", "f16", "f32"];
const OPTIONS = { lr: 0.02, topkBlockSize: 256, quantBlockSize: 64, window: 3, denseBelow: 1200 };

let seed = 5;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
// Half params from float values: bf16 keeps the high 16 bits; f16 values are small integers' bits.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bf16 = (x) => ((f32[0] = x), u32[0] >>> 16);
const f16 = (x) => 0x3c00 + Math.round(x * 512); // 1 + x/2 in f16 (x in [-1, 1]): normal numbers
function initialParams() {
  return SIZES.map((n, t) => {
    if (DTYPES[t] === "f32") return Float32Array.from({ length: n }, random);
    const data = Uint16Array.from({ length: n }, () => (DTYPES[t] === "bf16" ? bf16(random()) : f16(random())));
    return { data, dtype: DTYPES[t] };
  });
}
// A digest of the params' bytes (mpirun interleaves long lines of several ranks).
const bytesOf = (params) =>
  createHash("sha256")
    .update(Buffer.concat(params.map((p) => (p instanceof Float32Array ? Buffer.from(p.buffer) : Buffer.from(p.data.buffer)))))
    .digest("hex");

(async () => {
  const group = ProcessGroup.init({ timeoutSeconds: 60 });
  const params = initialParams();
  const copy = (p) => (p instanceof Float32Array ? p.slice() : { data: p.data.slice(), dtype: p.dtype });
  const reference = group.rank === 0 ? params.map(copy) : undefined;
  const initial = params.map((p) => bytesOf([p]));
  const opt = await ShardedMicroAdam.create(params, { ...OPTIONS, reduce: "sum" }, group);
  const plain = reference && new MicroAdam(reference, OPTIONS);
  const results = [];
  for (let step = 0; step < 5; step++) {
    const grads = SIZES.map((n) => Float32Array.from({ length: n }, random));
    results.push(await opt.step(group.rank === 0 ? grads : grads.map((g) => new Float32Array(g.length))));
    plain?.step(grads);
  }
  console.log(
    JSON.stringify({
      rank: group.rank,
      size: group.size,
      results,
      changed: params.map((p, t) => bytesOf([p]) !== initial[t]),
      params: bytesOf(params),
      reference: reference && bytesOf(reference),
      stateBytes: opt.stateBytes,
      dense: opt.isDenseTensor(1),
    }),
  );
  group.finalize();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
