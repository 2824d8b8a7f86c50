// Runs a child process for a long test and passes its output on to stderr line by line, prefixed
// with a label, while it runs: a suite of several minutes shows where it is instead of printing
// nothing until it ends. Resolves with the whole output for the test's assertions.
import { spawn } from "child_process";

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runWithProgress(
  command: string,
  args: string[],
  label: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const out = { stdout: "", stderr: "" };
    const started = Date.now();
    for (const stream of ["stdout", "stderr"] as const) {
      let partial = "";
      child[stream].setEncoding("utf8");
      child[stream].on("data", (chunk: string) => {
        out[stream] += chunk;
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) if (line.trim() !== "") process.stderr.write(`[${label} ${((Date.now() - started) / 1000).toFixed(0)} s] ${line}\n`);
      });
    }
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, ...out }));
  });
}
