#!/usr/bin/env ts-node
// The step benchmark. `npm run bench` runs everything and writes bench/results/step.json,
// docs/benchmarks.md's tables and docs/benchmarks-step.svg; `npm run bench:step -- --numel 16M
// --dtype bf16` runs one size and prints its table. Not a test: nothing here asserts a time.
import { SingleBar, Presets } from "cli-progress";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import { getNumThreads, setNumThreads } from "../../lib";
import { binding } from "../../lib/binding";
import { DEFAULT_LAYOUT, scalingCases, stepCases, type Case } from "./cases";
import { bandwidthProbe, type BenchDtype } from "./contenders";
import { parseCount, repetitionsFor, time } from "./measure";
import { measureMemory, type MemoryResult } from "./memory";
import {
  machine,
  memoryTable,
  ratioTable,
  resultsSection,
  rowOf,
  scalingTable,
  stepChart,
  stepTable,
  withResultsSection,
  type Row,
  type RunResult,
} from "./report";

const root = path.join(__dirname, "..", "..");
const M = 1024 * 1024;

function runCases(cases: Case[], probeGBps: number | null): Row[] {
  const bar = new SingleBar({ format: "{bar} {value}/{total} {case}", hideCursor: true }, Presets.shades_classic);
  bar.start(cases.length, 0, { case: "" });
  const allThreads = getNumThreads();
  const rows: Row[] = [];
  try {
    for (const c of cases) {
      bar.update({ case: `${c.contender.name} ${c.numel / M}M ${c.dtype}` });
      const threads = c.threads === 0 ? allThreads : c.threads;
      setNumThreads(threads);
      const prepared = c.contender.prepare(c.numel, c.dtype, c.layout);
      const slow = c.contender.name.startsWith("TensorFlow") || (c.contender.name.startsWith("plain") && c.numel > 32 * M);
      rows.push(rowOf(c, time(() => prepared.run(), repetitionsFor(c.numel, slow)), threads, probeGBps));
      prepared.dispose();
      bar.increment();
    }
  } finally {
    setNumThreads(allThreads);
    bar.stop();
  }
  return rows;
}

function probe(numel: number): number {
  const c: Case = { group: "step", contender: bandwidthProbe, numel, dtype: "f32", layout: DEFAULT_LAYOUT, threads: 0 };
  const prepared = bandwidthProbe.prepare(numel, "f32", DEFAULT_LAYOUT);
  const t = time(() => prepared.run(), repetitionsFor(numel, false));
  return rowOf(c, t, getNumThreads(), null).effectiveGBps;
}

/** The tables of a run, as printed and as written to the .md file and the docs. */
function tablesOf(result: RunResult, full: boolean): string {
  return [
    `Bandwidth probe (64M floats copied): ${result.probeGBps.toFixed(1)} GB/s`,
    stepTable(result.rows),
    ratioTable(result.rows),
    ...(full ? [scalingTable(result.rows), memoryTable(result.memory)] : []),
  ].join("\n\n");
}

/** Writes a full run's chart and its section of docs/benchmarks.md. */
async function writeDocs(result: RunResult, tables: string) {
  fs.writeFileSync(path.join(root, "docs", "benchmarks-step.svg"), await stepChart(result.rows));
  const doc = path.join(root, "docs", "benchmarks.md");
  fs.writeFileSync(doc, withResultsSection(fs.readFileSync(doc, "utf8"), resultsSection(result, tables)));
}

async function main() {
  const { values } = parseArgs({
    options: {
      numel: { type: "string", multiple: true },
      dtype: { type: "string", multiple: true },
      full: { type: "boolean", default: false },
      out: { type: "string" },
      // Re-render the tables, chart and docs section of the last full run (bench/results/step.json)
      // without measuring anything.
      "report-only": { type: "boolean", default: false },
    },
  });
  if (values["report-only"]) {
    const saved = path.join(root, "bench", "results", "step.json");
    const result = JSON.parse(fs.readFileSync(saved, "utf8")) as RunResult;
    const tables = tablesOf(result, true);
    fs.writeFileSync(saved.replace(/\.json$/, ".md"), tables + "\n");
    await writeDocs(result, tables);
    console.log(`re-rendered ${path.relative(root, saved)} into docs/benchmarks.md`);
    return;
  }
  const started = Date.now();
  const loadAtStart = os.loadavg();
  const sizes = (values.numel ?? (values.full ? ["1M", "16M", "128M"] : ["16M"])).map(parseCount);
  const dtypes = (values.dtype ?? ["f32", "bf16"]) as BenchDtype[];
  for (const d of dtypes) if (d !== "f32" && d !== "bf16") throw new RangeError(`Expected f32 or bf16 for --dtype but received "${d}"`);
  const probeGBps = probe(64 * M);
  const rows = runCases([...stepCases(sizes, dtypes), ...(values.full ? scalingCases() : [])], probeGBps);
  const memory: MemoryResult[] = values.full ? [measureMemory(128 * M)] : [];
  const result: RunResult = {
    date: new Date(started).toISOString(),
    command: values.full ? "npm run bench" : `npm run bench:step -- ${process.argv.slice(2).join(" ")}`.trim(),
    machine: machine(binding.buildInfo().cpuKernel),
    loadAverage: { start: loadAtStart, end: os.loadavg() },
    minutes: (Date.now() - started) / 60000,
    probeGBps,
    rows,
    memory,
  };
  const tables = tablesOf(result, values.full);
  console.log(tables);
  const out = values.out ?? path.join(root, "bench", "results", values.full ? "step.json" : "step-single.json");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  fs.writeFileSync(out.replace(/\.json$/, ".md"), tables + "\n");
  if (values.full) await writeDocs(result, tables);
  console.log(`wrote ${path.relative(root, out)}`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
