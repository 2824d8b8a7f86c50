// Runs a fuzz target in its own child process (test/fuzz/driver.ts), so that a segfault or an
// abort is a failed test and not a dead runner; for fuzz.test.ts and fuzz-long.test.ts.
import { spawn } from "child_process";
import * as path from "path";
import { DRIVER_ARGS, FUZZ_ENV } from "./env";

const root = path.join(__dirname, "..", "..");

/** The seed: MICROADAM_FUZZ_SEED=<n> picks other inputs. */
export const FUZZ_SEED = Number(process.env.MICROADAM_FUZZ_SEED ?? 20261125);

/** Each target and its run count in CI: `npm test` runs a fifth of each, `npm run test:slow` all. */
export const FUZZ_TARGETS: [string, number][] = [
  ["api", 2500],
  ["native", 1500],
  ["async", 300],
  ["checkpoint", 3000],
];

interface DriverResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runDriver(target: string, runs: number, runSeed: number): Promise<DriverResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...DRIVER_ARGS, target, String(runs), String(runSeed)], {
      cwd: root,
      env: { ...process.env, ...FUZZ_ENV },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs `target` `runs` times and checks it exited cleanly after at least that many calls. */
export async function expectCleanFuzzRun(target: string, runs: number, runSeed: number): Promise<void> {
  const result = await runDriver(target, runs, runSeed);
  const report = `seed ${runSeed}, exit ${result.code}, signal ${result.signal}\n${result.stderr.slice(-4000)}`;
  expect(result.signal === null && result.code === 0 ? "ok" : report).toBe("ok");
  const summary = JSON.parse(result.stdout.trim().split("\n").pop()!);
  expect(summary.calls).toBeGreaterThanOrEqual(runs);
}
