// Runs one variant of the SIMT harness (scripts/simt-test.js: plain, tsan or asan) with its
// output passed on to stderr as it comes, and reads its summary line ("N passed, M failed").
import * as path from "path";
import { runWithProgress } from "./run-with-progress";

const root = path.join(__dirname, "..", "..");
const script = path.join(root, "scripts", "simt-test.js");

export async function runSimtVariant(variant: "plain" | "tsan" | "asan"): Promise<[number, number]> {
  const run = await runWithProgress(process.execPath, [script, variant], `simt ${variant}`, { cwd: root });
  const report = `simt-test.js ${variant}: exit ${run.code}, signal ${run.signal}\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`;
  if (run.code !== 0 || run.signal !== null) throw new Error(report);
  const lines = run.stdout.trim().split("\n");
  const m = /^(\d+) passed, (\d+) failed$/.exec(lines[lines.length - 1] ?? "");
  if (!m) throw new Error(`no summary line in:\n${report}`);
  return [Number(m[1]), Number(m[2])];
}
