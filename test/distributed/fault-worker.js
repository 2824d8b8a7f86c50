// One rank of the fault tests (test/distributed.test.ts). Each rank prints one line,
// "rank <r>: <outcome>", so the test sees what every rank did.
// Usage: mpirun -np N node fault-worker.js <case> [dir]
//   mismatch   rank 1 has one tensor more: every rank must refuse to create the optimizer
//   die        rank 1 is killed (SIGKILL) before its second step: the others must fail, not hang
//   wrong-load a checkpoint of other tensors: every rank must refuse it, changing nothing
//   bad-input  wrong gradients (count, length, type) on every rank: each refused, naming the
//              argument, before any collective and with nothing changed; then a NaN with
//              nonFinite 'error' on one rank: every rank throws, nothing changed; then a good step
//   die-in-save  loads <dir>, takes step 3 of the 'sum' scenario, and rank 1 is killed before the
//              save: the others must fail, and <dir> must still hold the previous checkpoint
//   dense-mismatch  saves to <dir> with the scenario's denseBelow, then loads it into an optimizer
//              with denseBelow 0: every rank must refuse it, naming the first tensor whose kind differs
//   fail-save  loads <dir>, takes step 3 of the 'sum' scenario, and rank 1's save fails (a folder
//              stands where its shard file goes): every rank must fail, and the others' new shard
//              files must be gone again
"use strict";
const { ProcessGroup, ShardedMicroAdam } = require("../../dist/distributed");
const scenario = require("./scenario");

const [which, dir] = process.argv.slice(2);
/** Every piece's state (MicroAdam's or, under denseBelow, AdamW's) as one string. */
const stateKey = (opt) =>
  JSON.stringify(opt.shardSnapshots().map((s) => Object.entries(s).map(([k, v]) => [k, typeof v === "number" ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")])));
// The collective timeout once every rank is running in step (FAULT_TIMEOUT); until then a generous
// one, so that ranks that start slowly on a loaded machine are not taken for dead.
const faultTimeout = Number(process.env.FAULT_TIMEOUT ?? 60);
const shortenTimeout = () => ProcessGroup.init({ timeoutSeconds: faultTimeout });

(async () => {
  const group = ProcessGroup.init({ timeoutSeconds: 60 });
  const say = (text) => console.log(`rank ${group.rank}: ${text}`);
  const params = scenario.initialParams();
  const order = scenario.GROUPS.flatMap((g) => g.tensors);
  try {
    if (which === "mismatch") {
      const groups = scenario.paramGroups(params);
      if (group.rank === 1) groups[1].params.push(new Float32Array(10));
      await ShardedMicroAdam.create(groups, scenario.OPTIONS, group);
      say("created (wrong)");
    } else if (which === "die") {
      const opt = await ShardedMicroAdam.create(scenario.paramGroups(params), scenario.OPTIONS, group);
      for (let step = 0; step < 3; step++) {
        if (step === 1) shortenTimeout();
        if (step === 1 && group.rank === 1) process.kill(process.pid, "SIGKILL");
        await opt.step(order.map((t) => scenario.meanGrad(group.size, group.rank, step, t)));
      }
      say("finished (wrong)");
    } else if (which === "wrong-load") {
      const groups = scenario.paramGroups(params);
      groups[0].params.pop(); // other tensors than the saved ones
      const opt = await ShardedMicroAdam.create(groups, scenario.OPTIONS, group);
      await opt.load(dir);
      say("loaded (wrong)");
    } else if (which === "bad-input") {
      const opt = await ShardedMicroAdam.create(scenario.paramGroups(params), { ...scenario.OPTIONS, nonFinite: "error" }, group);
      const before = Buffer.concat(params.map((p) => Buffer.from(p.buffer)));
      const stateBefore = stateKey(opt);
      const good = order.map((t) => scenario.meanGrad(group.size, group.rank, 0, t));
      const refusals = [];
      for (const [what, grads] of [
        ["count", good.slice(1)],
        ["length", good.map((g, i) => (i === 2 ? g.subarray(1) : g))],
        ["type", good.map((g, i) => (i === 1 ? Array.from(g) : g))],
      ]) {
        try {
          await opt.step(grads);
          refusals.push(`${what}: accepted (wrong)`);
        } catch (error) {
          refusals.push(`${what}: ${error.name} ${error.code} ${error.message}`);
        }
      }
      const bad = good.map((g) => g.slice());
      if (group.rank === group.size - 1) bad[3][5] = Infinity;
      try {
        await opt.step(bad);
        refusals.push("nonfinite: accepted (wrong)");
      } catch (error) {
        refusals.push(`nonfinite: ${error.code}`);
      }
      const unchanged = Buffer.concat(params.map((p) => Buffer.from(p.buffer))).equals(before) &&
        stateKey(opt) === stateBefore;
      const result = await opt.step(good);
      say(`${refusals.join(" | ")} | unchanged ${unchanged} | then step ${result.step} skipped ${result.skipped}`);
    } else if (which === "dense-mismatch") {
      const opt = await ShardedMicroAdam.create(scenario.paramGroups(params), scenario.OPTIONS, group);
      await opt.step(order.map((t) => scenario.meanGrad(group.size, group.rank, 0, t)));
      await opt.save(dir);
      const other = await ShardedMicroAdam.create(scenario.paramGroups(scenario.initialParams()), { ...scenario.OPTIONS, denseBelow: 0 }, group);
      try {
        await other.load(dir);
        say("loaded (wrong)");
      } catch (error) {
        say(`${error.code} ${error.message} | step ${other.stepCount}`);
      }
    } else if (which === "fail-save") {
      const opt = await ShardedMicroAdam.create(scenario.paramGroups(params), { ...scenario.OPTIONS, reduce: "sum" }, group);
      await opt.load(dir);
      await opt.step(order.map((t) => scenario.sumGrad(group.size, group.rank, opt.stepCount, t)));
      if (group.rank === 1) require("fs").mkdirSync(require("path").join(dir, `shard-1-of-${group.size}.step-${opt.stepCount}.ckpt`));
      await group.barrier();
      try {
        await opt.save(dir);
        say("saved (wrong)");
      } catch (error) {
        say(`${error.code} ${error.message}`);
      }
    } else if (which === "die-in-save") {
      const opt = await ShardedMicroAdam.create(scenario.paramGroups(params), { ...scenario.OPTIONS, reduce: "sum" }, group);
      await opt.load(dir);
      await opt.step(order.map((t) => scenario.sumGrad(group.size, group.rank, opt.stepCount, t)));
      shortenTimeout();
      if (group.rank === 1) process.kill(process.pid, "SIGKILL");
      await opt.save(dir);
      say("saved (wrong)");
    }
  } catch (error) {
    say(`${error.code} ${error.message.split("\n")[0]}`);
  }
  if (!which.startsWith("die")) group.finalize();
})();
