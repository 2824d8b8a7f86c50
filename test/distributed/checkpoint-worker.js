// One rank of the resharding test (test/distributed.test.ts): loads the sharded checkpoint in
// <dir> if there is one, takes steps [from, to) of the 'sum' scenario (whose reduced gradient is
// the same at every world size), saves again, and rank 0 saves the params beside it (the model's
// own checkpoint, which the optimizer's does not hold). At the end it writes this rank's result.
// Usage: mpirun -np N node checkpoint-worker.js <dir> <from> <to> <out.json>
"use strict";
const fs = require("fs");
const path = require("path");
const { ProcessGroup, ShardedMicroAdam } = require("../../dist/distributed");
const scenario = require("./scenario");

const b64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");

(async () => {
  const [dir, fromText, toText, out] = process.argv.slice(2);
  const [from, to] = [Number(fromText), Number(toText)];
  const group = ProcessGroup.init({ timeoutSeconds: 60 });
  const params = scenario.initialParams();
  const paramsFile = path.join(dir, "params.bin");
  if (fs.existsSync(paramsFile)) {
    const bytes = fs.readFileSync(paramsFile);
    let at = 0;
    for (const p of params) {
      new Uint8Array(p.buffer).set(bytes.subarray(at, at + p.byteLength));
      at += p.byteLength;
    }
  }
  const opt = await ShardedMicroAdam.create(scenario.paramGroups(params), { ...scenario.OPTIONS, reduce: "sum" }, group);
  if (fs.existsSync(path.join(dir, "manifest.json"))) await opt.load(dir);
  if (opt.stepCount !== from) throw new Error(`rank ${group.rank}: loaded step ${opt.stepCount}, expected ${from}`);
  const order = scenario.GROUPS.flatMap((g) => g.tensors);
  for (let step = from; step < to; step++) await opt.step(order.map((t) => scenario.sumGrad(group.size, group.rank, step, t)));
  await opt.save(dir);
  if (group.rank === 0) fs.writeFileSync(paramsFile, Buffer.concat(params.map((p) => Buffer.from(p.buffer))));
  const result = {
    rank: group.rank,
    size: group.size,
    stepCount: opt.stepCount,
    params: order.map((t) => b64(params[t])),
    pieces: opt.pieces,
    states: opt.shardSnapshots().map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === "number" ? v : b64(v)]))),
  };
  fs.writeFileSync(`${out}.rank-${group.rank}`, JSON.stringify(result));
  opt.dispose();
  group.finalize();
})().catch((error) => {
  console.error(`rank error: ${error.code ?? ""} ${error.message}`);
  process.exitCode = 1;
});
