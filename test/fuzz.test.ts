// Thousands of hostile calls at every entry point, each target in its own child process
// (test/fuzz/driver.ts), so that a segfault or an abort is a failed test and not a dead runner.
// The targets also check that a rejected call leaves state and params unchanged.
// MICROADAM_FUZZ_SEED=<n> picks other inputs; bench/fuzz.ts runs the same targets much longer.
import { spawn } from "child_process";
import * as path from "path";
import { DRIVER_ARGS, FUZZ_ENV } from "./fuzz/env";

const root = path.join(__dirname, "..");
const seed = Number(process.env.MICROADAM_FUZZ_SEED ?? 20261125);

interface DriverResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runDriver(target: string, runs: number, runSeed: number): Promise<DriverResult> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...DRIVER_ARGS, target, String(runs), String(runSeed)],
      { cwd: root, env: { ...process.env, ...FUZZ_ENV } },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const targets: [string, number][] = [
  ["api", 2500],
  ["native", 1500],
  ["async", 300],
  ["checkpoint", 3000],
];

test.each(targets)("fuzz target %s: %d runs, no crash, every rejected call changed nothing", async (target, runs) => {
  const result = await runDriver(target, runs, seed);
  const report = `seed ${seed}, exit ${result.code}, signal ${result.signal}\n${result.stderr.slice(-4000)}`;
  expect(result.signal === null && result.code === 0 ? "ok" : report).toBe("ok");
  const summary = JSON.parse(result.stdout.trim().split("\n").pop()!);
  expect(summary.calls).toBeGreaterThanOrEqual(runs);
}, 120_000);
