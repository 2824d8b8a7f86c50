// A small smoke run of the step benchmark (bench/step/run.ts): every contender runs at a tiny
// size and the JSON and Markdown come out. No time is asserted: benchmarks are not tests.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { resultsSection, withResultsSection, type RunResult } from "../bench/step/report";

test("bench/step/run.ts runs every contender at 64K and writes its JSON and table", () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bench-step-")), "step.json");
  execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join("bench", "step", "run.ts"), "--numel", "64K", "--dtype", "f32", "--out", out], {
    cwd: path.join(__dirname, ".."),
    stdio: "pipe",
  });
  const result = JSON.parse(fs.readFileSync(out, "utf8")) as RunResult;
  const contenders = result.rows.map((r) => r.contender);
  for (const prefix of ["microadam-native MicroAdam", "microadam-native AdamW", "plain JavaScript", "TensorFlow.js", "memory-bandwidth probe"])
    expect(contenders.some((c) => c.startsWith(prefix))).toBe(true);
  for (const row of result.rows) expect(row.medianMs).toBeGreaterThan(0);
  expect(result.loadAverage.start).toHaveLength(3);
  expect(fs.readFileSync(out.replace(/\.json$/, ".md"), "utf8")).toContain("| MicroAdam ÷ native AdamW |");
}, 180_000);

test("a full run's results section replaces the previous one in docs/benchmarks.md", () => {
  const result = {
    date: "2025-01-02T03:04:05.000Z",
    command: "npm run bench",
    machine: { cpu: "Some CPU", cores: 2, memoryGiB: 24, node: "v20", cpuKernel: "avx2" },
    loadAverage: { start: [0.5, 0.4, 0.3], end: [1.5, 1, 0.5] },
    minutes: 12,
    probeGBps: 30,
    rows: [],
    memory: [],
  } satisfies RunResult;
  const once = withResultsSection("# Benchmarks\n\ntext\n", resultsSection(result, "| table 1 |"));
  const twice = withResultsSection(once, resultsSection(result, "| table 2 |"));
  expect(once).toContain("| table 1 |");
  expect(twice).not.toContain("| table 1 |");
  expect(twice).toContain("| table 2 |");
  expect(twice.startsWith("# Benchmarks\n\ntext\n")).toBe(true);
  expect(twice).toContain("Load average (1, 5, 15 min) at the start: 0.50, 0.40, 0.30");
});
