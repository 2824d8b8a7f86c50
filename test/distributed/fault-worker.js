// One rank of the fault tests (test/distributed.test.ts). Each rank prints one line,
// "rank <r>: <outcome>", so the test sees what every rank did.
// Usage: mpirun -np N node fault-worker.js <case> [dir]
//   mismatch   rank 1 has one tensor more: every rank must refuse to create the optimizer
//   die        rank 1 is killed (SIGKILL) before its second step: the others must fail, not hang
//   wrong-load a checkpoint of other tensors: every rank must refuse it, changing nothing
//   die-in-save  loads <dir>, takes step 3 of the 'sum' scenario, and rank 1 is killed before the
//              save: the others must fail, and <dir> must still hold the previous checkpoint
"use strict";
const { ProcessGroup, ShardedMicroAdam } = require("../../dist/distributed");
const scenario = require("./scenario");

const [which, dir] = process.argv.slice(2);
const timeoutSeconds = Number(process.env.FAULT_TIMEOUT ?? 60);

(async () => {
  const group = ProcessGroup.init({ timeoutSeconds });
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
    } else if (which === "die-in-save") {
      const opt = await ShardedMicroAdam.create(scenario.paramGroups(params), { ...scenario.OPTIONS, reduce: "sum" }, group);
      await opt.load(dir);
      await opt.step(order.map((t) => scenario.sumGrad(group.size, group.rank, opt.stepCount, t)));
      if (group.rank === 1) process.kill(process.pid, "SIGKILL");
      await opt.save(dir);
      say("saved (wrong)");
    }
  } catch (error) {
    say(`${error.code} ${error.message.split("\n")[0]}`);
  }
  if (!which.startsWith("die")) group.finalize();
})();
