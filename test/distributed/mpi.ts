// Test helpers for the multi-process tests: is MPI here, and run a worker under mpirun.
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const root = path.resolve(__dirname, "..", "..");
const addon = path.join(root, "build", "distributed", "microadam_distributed.node");

/** Why the multi-process tests cannot run here, or undefined when they can. */
export function mpiMissing(): string | undefined {
  try {
    execFileSync("mpirun", ["--version"], { stdio: "ignore" });
  } catch {
    return "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev, then npm run build:native)";
  }
  if (!fs.existsSync(addon)) return `the distributed addon is not built (${addon}); install libopenmpi-dev and run npm run build:native`;
  return undefined;
}

export interface MpiRun {
  code: number | string;
  stdout: string;
  stderr: string;
  wallMs: number;
}

/** Runs `node <script> ...args` on `ranks` processes (loopback, oversubscribed: CI has 2 cores). */
export function mpirun(
  ranks: number,
  script: string,
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string>; mpiArgs?: string[] } = {},
): Promise<MpiRun> {
  const mpiArgs = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", ...(options.mpiArgs ?? []), "-np", String(ranks)];
  for (const key of Object.keys(options.env ?? {})) mpiArgs.push("-x", key);
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      "mpirun",
      [...mpiArgs, process.execPath, script, ...args],
      { cwd: root, timeout: options.timeoutMs ?? 90_000, env: { ...process.env, ...options.env }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : ((error as NodeJS.ErrnoException).code ?? (error as { signal?: string }).signal ?? -1);
        resolve({ code: code as number | string, stdout, stderr, wallMs: Date.now() - started });
      },
    );
  });
}

export function expectSuccess(run: MpiRun): void {
  if (run.code !== 0) throw new Error(`mpirun exited with ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
}
