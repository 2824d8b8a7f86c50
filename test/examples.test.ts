// Smoke test of the examples: each one runs as a user would run it (ts-node, child process) in
// its --quick form, exits 0 and prints the lines a reader looks for.

import { execFile } from "node:child_process";
import * as path from "node:path";

const root = path.resolve(__dirname, "..");
const tsNode = path.join(root, "node_modules", ".bin", "ts-node");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runExample(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(tsNode, [path.join("examples", file), ...args], { cwd: root, timeout: 90_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Fails with the example's output, so a broken example says why. */
function expectExitCode(run: Run, code: number): void {
  if (run.code !== code) {
    throw new Error(`expected exit code ${code}, got ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  }
}

/** The two numbers of a "... fell from A to B ..." line. */
function lossesOf(stdout: string, what: string): [number, number] {
  const match = new RegExp(`${what} fell from (\\S+) to (\\S+) in`).exec(stdout);
  expect(match).not.toBeNull();
  return [Number(match![1]), Number(match![2])];
}

describe("examples", () => {
  test("mnist-mlp --quick trains with both optimizers and prints their accuracies", async () => {
    const run = await runExample("mnist-mlp.ts", ["--quick"]);
    expectExitCode(run, 0);
    expect(run.stdout).toMatch(/500 train \/ 200 test digits/);
    expect(run.stdout).toMatch(/learning rate: microadam [\d.]+, adam [\d.]+/);
    expect(run.stdout).toMatch(/optimizer state: microadam [\d,]+ bytes \(1\.0\d+ B\/weight\); adam 814,160 bytes \(8 B\/weight/);
    for (const name of ["microadam", "adam"]) {
      expect(run.stdout).toMatch(new RegExp(`^\\s+1\\s+${name}\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+%\\s+[\\d.]+$`, "m"));
    }
    expect(run.stdout).toMatch(/final test accuracy: microadam [\d.]+%, adam [\d.]+%/);
    expect(run.stdout).toMatch(/wall time [\d.]+ s/);
  });

  test("mnist-mlp rejects a bad flag with a usage message and exit code 2", async () => {
    const run = await runExample("mnist-mlp.ts", ["--epochs", "0"]);
    expectExitCode(run, 2);
    expect(run.stderr).toContain("Expected positive integer for --epochs but received '0'");
    expect(run.stderr).toContain("Usage: ts-node examples/mnist-mlp.ts");
  });

  test("typed-arrays --quick lowers the loss of a quadratic", async () => {
    const run = await runExample("typed-arrays.ts", ["--quick"]);
    expectExitCode(run, 0);
    expect(run.stdout).toMatch(/4096 float32 params; optimizer state \d+ bytes/);
    const [initial, final] = lossesOf(run.stdout, "loss");
    expect(final).toBeLessThan(initial);
  });

  test("bf16-params --quick lowers the error of bf16 weights", async () => {
    const run = await runExample("bf16-params.ts", ["--quick"]);
    expectExitCode(run, 0);
    expect(run.stdout).toMatch(/2048 bf16 params \(4096 bytes\); MicroAdam state \d+ bytes/);
    const [initial, final] = lossesOf(run.stdout, "mse");
    expect(final).toBeLessThan(initial);
  });

  test("tfjs-model-fit --quick trains with model.fit, saves with the optimizer and resumes identically", async () => {
    const run = await runExample("tfjs-model-fit.ts", ["--quick"]);
    expectExitCode(run, 0);
    expect(run.stdout).toMatch(/^epoch 1: loss [\d.]+, train accuracy [\d.]+%$/m);
    expect(run.stdout).toMatch(/test accuracy [\d.]+%/);
    // MicroAdam's 0.96 B/weight on the hidden layer, AdamW's 8 on the 1,418 weights under denseBelow (4096).
    expect(run.stdout).toMatch(/optimizer state [\d,]+ bytes for 101,770 weights \(1\.0\d+ B\/weight; Adam keeps 8\)/);
    expect(run.stdout).toContain("restored a MicroAdamOptimizer at iteration 8");
    expect(run.stdout).toContain("weights identical to the original's: true");
  });

  test("param-groups-schedule --quick follows the schedule in both groups and lowers the loss", async () => {
    const run = await runExample("param-groups-schedule.ts", ["--quick"]);
    expectExitCode(run, 0);
    expect(run.stdout).toMatch(/in 2 param groups; MicroAdam state \d+ bytes \(AdamW would keep 32896\)/);
    expect(run.stdout).toContain("step 8: lr 2.00e-2 (weights), 5.00e-2 (biases)"); // the end of the warmup
    const [initial, final] = lossesOf(run.stdout, "loss");
    expect(final).toBeLessThan(initial / 4);
  });

  test("save-resume --quick resumes bit-identically from a checkpoint file and from a state dict", async () => {
    const run = await runExample("save-resume.ts", ["--quick"]);
    expectExitCode(run, 0);
    expect(run.stdout).toMatch(/saved at step 20: checkpoint \d+ bytes/);
    expect(run.stdout).toContain("resumed from the checkpoint file at step 20: bit-identical to the uninterrupted run: true");
    expect(run.stdout).toContain("resumed from the state dict at step 20: bit-identical to the uninterrupted run: true");
  });
});
