// Ends of life with steps in flight, run in a child process by test/workers.test.ts so that a
// crash is seen as an exit status:
//   terminate  workers terminated while their async steps run
//   gc         states, params and grads dropped and collected while their async steps run
//   exit       process.exit() while async steps run
// Prints "survived <scenario>" when it gets to the end.
import { Worker } from "worker_threads";
import * as fs from "fs";
import * as path from "path";
import { createMicroAdamState, MicroAdam, microAdamStepAsync } from "../../lib";

const scenario = process.argv[2];
const n = 1 << 20;
const gc = (globalThis as { gc?: () => void }).gc!;

function startSteps(count: number): Promise<unknown>[] {
  return Array.from({ length: count }, (_, i) => {
    const state = createMicroAdamState({ numel: n });
    const params = new Float32Array(n).fill(1);
    const grads = Float32Array.from({ length: n }, (_, j) => Math.sin(j + i));
    return microAdamStepAsync(state, params, grads, { lr: 0.01 });
  });
}

// Workers load the compiled package (dist/) when it is there: starting many workers that each
// compile lib/ with ts-node would take most of the test's time. Either way they load the addon.
const dist = path.join(__dirname, "../../dist/index.js");
const load = fs.existsSync(dist)
  ? `require(${JSON.stringify(dist)})`
  : `(require("ts-node").register({ transpileOnly: true, project: ${JSON.stringify(path.join(__dirname, "../../tsconfig.json"))} }), require(${JSON.stringify(path.join(__dirname, "../../lib"))}))`;
const WORKER = `
  const { parentPort } = require("worker_threads");
  const { createMicroAdamState, microAdamStepAsync } = ${load};
  const n = ${n};
  (async () => {
    const state = createMicroAdamState({ numel: n });
    const params = new Float32Array(n).fill(1);
    const grads = Float32Array.from({ length: n }, Math.sin);
    parentPort.postMessage("ready");
    for (;;) await Promise.all([microAdamStepAsync(state, params, grads, { lr: 0.01 }), microAdamStepAsync(createMicroAdamState({ numel: 1000 }), new Float32Array(1000), grads.subarray(0, 1000), { lr: 0.1 })]);
  })();
`;

async function main(): Promise<void> {
  if (scenario === "terminate") {
    for (let round = 0; round < 5; round++) {
      const workers = Array.from({ length: 3 }, () => new Worker(WORKER, { eval: true }));
      await Promise.all(workers.map((w) => new Promise((ready) => w.once("message", ready))));
      // Let steps get going, then pull the rug at a different moment each round.
      await new Promise((r) => setTimeout(r, 3 * round));
      await Promise.all(workers.map((w) => w.terminate()));
    }
  } else if (scenario === "gc") {
    for (let round = 0; round < 5; round++) {
      const pending = startSteps(4); // nothing else refers to the states or the arrays
      const opt = new MicroAdam([new Float32Array(n)], { denseBelow: 0, lr: 0.1 });
      pending.push(opt.stepAsync([new Float32Array(n).fill(0.5)]));
      gc();
      gc();
      await Promise.all(pending);
    }
  } else if (scenario === "exit") {
    startSteps(4);
    setTimeout(() => {
      process.stdout.write("survived exit\n");
      process.exit(0);
    }, 2);
    return;
  } else throw new Error(`unknown scenario ${scenario}`);
  process.stdout.write(`survived ${scenario}\n`);
}

void main();
