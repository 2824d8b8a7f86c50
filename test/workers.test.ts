// The addon is context-aware: several worker_threads load it at once, each stepping its own
// states (sync, async, a MicroAdam), with the same bits as the main thread. Ending a worker or
// the process with steps in flight, or collecting everything a step uses, does not crash.
import { spawnSync } from "child_process";
import * as path from "path";
import { Worker } from "worker_threads";
import { computeRun, type RunSpec } from "./workers/stepper";

const root = path.join(__dirname, "..");
const project = path.join(root, "tsconfig.json");

function inWorker(spec: RunSpec): Promise<{ params: Uint8Array; state: Uint8Array; optimizer: Uint8Array }> {
  const bootstrap = `
    require("ts-node").register({ transpileOnly: true, project: ${JSON.stringify(project)} });
    require(${JSON.stringify(path.join(__dirname, "workers/stepper.ts"))});
  `;
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrap, { eval: true, workerData: spec });
    worker.once("message", (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    worker.once("error", reject);
    worker.once("exit", (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
}

test("four workers step their own states at once, bit-identical to the main thread", async () => {
  const specs: RunSpec[] = [
    { seed: 1, numel: 200_000, steps: 8 },
    { seed: 2, numel: 50_001, steps: 12 },
    { seed: 3, numel: 300_000, steps: 6, threads: [1, 3, 2] }, // resizes the shared pool mid-run
    { seed: 4, numel: 4097, steps: 20 },
  ];
  const fromWorkers = await Promise.all(specs.map(inWorker));
  for (const [i, spec] of specs.entries()) {
    const expected = await computeRun(spec);
    expect(Buffer.from(fromWorkers[i].params).equals(Buffer.from(expected.params))).toBe(true);
    expect(Buffer.from(fromWorkers[i].state).equals(Buffer.from(expected.state))).toBe(true);
    expect(Buffer.from(fromWorkers[i].optimizer).equals(Buffer.from(expected.optimizer))).toBe(true);
  }
}, 60_000);

test.each(["terminate", "gc", "exit"])("steps in flight survive: %s", (scenario) => {
  const child = spawnSync(
    process.execPath,
    ["--expose-gc", "-r", "ts-node/register/transpile-only", path.join(__dirname, "workers/lifecycle.ts"), scenario],
    { cwd: root, env: { ...process.env, TS_NODE_PROJECT: project }, encoding: "utf8", timeout: 60_000 },
  );
  expect({ status: child.status, signal: child.signal, stderr: child.stderr.slice(-2000) }).toEqual({ status: 0, signal: null, stderr: "" });
  expect(child.stdout).toContain(`survived ${scenario}`);
}, 60_000);
