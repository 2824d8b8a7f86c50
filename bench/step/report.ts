// Results of a step-benchmark run: rows, the Markdown tables and the chart.
import * as fs from "fs";
import * as os from "os";
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "../common/svg";
import type { Case } from "./cases";
import { formatCount, type Timing } from "./measure";
import type { MemoryResult } from "./memory";

export interface Row {
  group: Case["group"];
  contender: string;
  numel: number;
  dtype: string;
  window: number;
  density: number;
  threads: number;
  medianMs: number;
  minMs: number;
  repetitions: number;
  paramsPerSecond: number;
  bytesPerParam: number;
  effectiveGBps: number;
  fractionOfProbe: number | null;
}

export interface RunResult {
  date: string;
  command: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; cpuKernel: string };
  /** os.loadavg() (1, 5, 15 minutes) when the run started and when it ended: the machine may be shared. */
  loadAverage: { start: number[]; end: number[] };
  /** Wall-clock minutes the run took. */
  minutes: number;
  probeGBps: number;
  rows: Row[];
  memory: MemoryResult[];
}

export function rowOf(c: Case, t: Timing, threads: number, probeGBps: number | null): Row {
  const bytesPerParam = c.contender.bytesPerParam(c.dtype);
  const effectiveGBps = (bytesPerParam * c.numel) / (t.medianMs * 1e6);
  return {
    group: c.group,
    contender: c.contender.name,
    numel: c.numel,
    dtype: c.dtype,
    window: c.layout.window,
    density: c.layout.density,
    threads,
    medianMs: t.medianMs,
    minMs: t.minMs,
    repetitions: t.repetitions,
    paramsPerSecond: c.numel / (t.medianMs / 1e3),
    bytesPerParam,
    effectiveGBps,
    fractionOfProbe: probeGBps ? effectiveGBps / probeGBps : null,
  };
}

/** The CPU's model name: /proc/cpuinfo's (os.cpus() may shorten it), else os.cpus()'s. */
function cpuModel(): string {
  try {
    const line = fs.readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"));
    if (line) return line.split(":")[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? "unknown";
}

export function machine(cpuKernel: string): RunResult["machine"] {
  return {
    cpu: cpuModel(),
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    cpuKernel,
  };
}

const fmt = (x: number, digits = 2) => (x >= 100 ? x.toFixed(0) : x.toFixed(digits));

export function stepTable(rows: Row[]): string {
  const lines = [
    "| params | dtype | method | ms/step (median) | params/s | bytes/param | GB/s | of probe |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows.filter((x) => x.group === "step"))
    lines.push(
      `| ${formatCount(r.numel)} | ${r.dtype} | ${r.contender} | ${fmt(r.medianMs)} | ${(r.paramsPerSecond / 1e6).toFixed(0)}M | ${fmt(r.bytesPerParam, 1)} | ${fmt(r.effectiveGBps, 1)} | ${r.fractionOfProbe === null ? "" : `${(100 * r.fractionOfProbe).toFixed(0)}%`} |`,
    );
  return lines.join("\n");
}

/** MicroAdam / AdamW and MicroAdam / JS Adam / tfjs time ratios per size and dtype. */
export function ratioTable(rows: Row[]): string {
  const step = rows.filter((r) => r.group === "step");
  const find = (numel: number, dtype: string, prefix: string) =>
    step.find((r) => r.numel === numel && r.dtype === dtype && r.contender.startsWith(prefix));
  const lines = ["| params | dtype | MicroAdam ÷ native AdamW | MicroAdam ÷ JS Adam | tfjs Adam ÷ MicroAdam |", "| --- | --- | ---: | ---: | ---: |"];
  const keys = [...new Set(step.map((r) => `${r.numel}|${r.dtype}`))];
  for (const key of keys) {
    const [n, dtype] = key.split("|");
    const numel = Number(n);
    const micro = find(numel, dtype, "microadam-native MicroAdam");
    if (!micro) continue;
    const adamw = find(numel, dtype, "microadam-native AdamW");
    const js = find(numel, dtype, "plain JavaScript");
    const tfjs = find(numel, dtype, "TensorFlow.js");
    const ratio = (a?: Row, b?: Row) => (a && b ? (a.medianMs / b.medianMs).toFixed(2) + "×" : "not run");
    lines.push(`| ${formatCount(numel)} | ${dtype} | ${ratio(micro, adamw)} | ${ratio(micro, js)} | ${ratio(tfjs, micro)} |`);
  }
  return lines.join("\n");
}

export function scalingTable(rows: Row[]): string {
  const lines = ["| sweep | params | window m | density | threads | ms/step (median) |", "| --- | --- | ---: | ---: | ---: | ---: |"];
  for (const r of rows.filter((x) => x.group !== "step"))
    lines.push(
      `| ${r.group.replace("scaling-", "")}${r.group === "scaling-threads" ? ` (${r.contender.split(" ")[1]})` : ""} | ${formatCount(r.numel)} | ${r.window} | ${r.density} | ${r.threads} | ${fmt(r.medianMs)} |`,
    );
  return lines.join("\n");
}

export function memoryTable(memory: MemoryResult[]): string {
  const mib = (b: number) => (b / 1024 ** 2).toFixed(1);
  const lines = [
    "| params | MicroAdam state bytes/param | Adam state bytes/param | state MiB | RSS before step MiB | peak RSS MiB | new peak set by the steps MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const m of memory)
    lines.push(
      `| ${formatCount(m.numel)} | ${m.stateBytesPerParam.toFixed(4)} | 8 | ${mib(m.stateBytes)} | ${mib(m.rssBeforeStepBytes)} | ${mib(m.peakRssDuringStepsBytes)} | ${mib(m.stepGrowthBytes)} |`,
    );
  return lines.join("\n");
}

/** ms/step of every contender against size, log-log, one panel per dtype. */
export async function stepChart(rows: Row[]): Promise<string> {
  const values = rows
    .filter((r) => r.group === "step")
    .map((r) => ({ method: r.contender, params: r.numel / 1024 ** 2, ms: r.medianMs, dtype: r.dtype }));
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: "Optimizer step time (median, all threads)", anchor: "start" },
    config: { font: "sans-serif", legend: { orient: "bottom", columns: 1 } },
    data: { values },
    facet: { column: { field: "dtype", type: "nominal", title: null } },
    spec: {
      width: 320,
      height: 260,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "params", type: "quantitative", title: "parameters (millions)", scale: { type: "log" } },
        y: { field: "ms", type: "quantitative", title: "ms per step", scale: { type: "log" } },
        color: { field: "method", type: "nominal", title: null },
      },
    },
  };
  return renderSvg(spec);
}

const RESULTS_START = "<!-- bench:step results: written by `npm run bench` (bench/step/run.ts) -->";
const RESULTS_END = "<!-- bench:step results end -->";

/** The Markdown section of docs/benchmarks.md that a full run writes: where, when, how loaded, the tables. */
export function resultsSection(r: RunResult, tables: string): string {
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(", ");
  return [
    RESULTS_START,
    "",
    `Run on ${r.date.slice(0, 10)} (${r.date}), ${r.minutes.toFixed(0)} minutes, with \`${r.command}\`.`,
    "",
    `- Machine: ${r.machine.cpu}, ${r.machine.cores} cores as the OS sees them, ${r.machine.memoryGiB} GiB; Node ${r.machine.node}; kernel build \`${r.machine.cpuKernel}\`.`,
    `- Memory bandwidth probe (64M floats copied on all engine threads): ${r.probeGBps.toFixed(1)} GB/s.`,
    `- Load average (1, 5, 15 min) at the start: ${load(r.loadAverage.start)}; at the end: ${load(r.loadAverage.end)}. The machine is shared with other work. The run itself keeps all ${r.machine.cores} engine threads busy (a 1-minute load of about ${r.machine.cores}); a load well above that means other processes took CPU time and memory bandwidth during the run.`,
    "",
    "![Optimizer step time](benchmarks-step.svg)",
    "",
    tables,
    "",
    RESULTS_END,
  ].join("\n");
}

/** Replaces the results section of the Markdown `doc` (or appends it). */
export function withResultsSection(doc: string, section: string): string {
  const start = doc.indexOf(RESULTS_START);
  const end = doc.indexOf(RESULTS_END);
  if (start >= 0 && end > start) return doc.slice(0, start) + section + doc.slice(end + RESULTS_END.length);
  return doc.trimEnd() + "\n\n" + section + "\n";
}
