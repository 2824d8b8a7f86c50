// The benchmark's results on disk: one JSON file per model (every run, keyed so a rerun skips
// what is done) and one for the overhead measurements.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ModelName } from "./models";
import type { OverheadResult } from "./overhead";
import type { VariantName } from "./optimizers";
import type { RunResult } from "./train";

export type Phase = "sweep" | "final" | "ablation";

export interface StoredRun extends RunResult {
  phase: Phase;
  /** When the run finished (ISO 8601). */
  finishedAt: string;
}

export interface ModelResults {
  format: "microadam-native/convergence-results";
  version: 1;
  model: ModelName;
  runs: StoredRun[];
}

export interface OverheadResults {
  format: "microadam-native/tfjs-overhead";
  version: 1;
  machine: MachineInfo;
  cases: OverheadResult[];
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? "unknown", cores: cpus.length, node: process.version, platform: `${process.platform}-${process.arch}` };
}

/** Writes JSON atomically (a .tmp file renamed), so an interrupted run never leaves half a file. */
export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 1) + "\n");
  fs.renameSync(tmp, file);
}

export function modelResultsFile(dir: string, model: ModelName): string {
  return path.join(dir, `convergence-${model}.json`);
}

export function overheadFile(dir: string): string {
  return path.join(dir, "tfjs-overhead.json");
}

export function readModelResults(dir: string, model: ModelName): ModelResults {
  const file = modelResultsFile(dir, model);
  if (!fs.existsSync(file)) return { format: "microadam-native/convergence-results", version: 1, model, runs: [] };
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as ModelResults;
  if (parsed.format !== "microadam-native/convergence-results" || parsed.version !== 1)
    throw new Error(`${file} is not a convergence results file of version 1`);
  return parsed;
}

export function readOverhead(dir: string): OverheadResults | null {
  const file = overheadFile(dir);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as OverheadResults) : null;
}

/** What identifies a run: a rerun with the same key is skipped. */
export interface RunKey {
  phase: Phase;
  optimizer: VariantName;
  lr: number;
  seed: number;
  epochs: number;
  batch: number;
  warmupFraction: number;
  trainSamples: number;
  evalSamples: number;
}
