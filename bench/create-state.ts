// How long creating a state takes, and what it makes resident. A new state is all zeros; memory
// the OS hands out fresh is zero already, so creation should cost about nothing until a step
// touches the pages (docs/benchmarks.md, "Creating a state").
//
//   npx ts-node bench/create-state.ts [--numel 1e8,1e9] [--out bench/results/create-state.json]
//
// Each (kind, numel) runs in a child process of its own, so that one case's memory is gone
// before the next and the resident set it reports is its own.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";

interface Row {
  kind: "MicroAdam" | "AdamW";
  numel: number;
  stateBytes: number;
  createMs: number;
  /** Resident set growth across the creation. */
  rssGrowthMB: number;
}

function measureOne(kind: Row["kind"], numel: number): Row {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = require("../lib") as typeof import("../lib");
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  const state = kind === "MicroAdam" ? lib.createMicroAdamState({ numel }) : lib.createAdamWState({ numel });
  const createMs = performance.now() - start;
  const rssGrowthMB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  const row = { kind, numel, stateBytes: state.stateBytes, createMs, rssGrowthMB };
  state.dispose();
  return row;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      numel: { type: "string", default: "1e8,1e9" },
      out: { type: "string", default: path.join(__dirname, "results", "create-state.json") },
      one: { type: "string" },
    },
  });
  if (values.one !== undefined) {
    const [kind, numel] = values.one.split(":");
    process.stdout.write(JSON.stringify(measureOne(kind as Row["kind"], Number(numel))));
    return;
  }
  const sizes = values.numel.split(",").map(Number);
  const rows: Row[] = [];
  for (const numel of sizes)
    for (const kind of ["MicroAdam", "AdamW"] as const) {
      const out = execFileSync(process.execPath, [...process.execArgv, __filename, "--one", `${kind}:${numel}`], {
        encoding: "utf8",
        maxBuffer: 1 << 20,
      });
      const row = JSON.parse(out) as Row;
      rows.push(row);
      console.log(
        `${kind.padEnd(9)} numel ${numel.toExponential(1).padStart(7)}  state ${(row.stateBytes / 2 ** 30).toFixed(2).padStart(6)} GiB` +
          `  created in ${row.createMs.toFixed(1).padStart(8)} ms  resident +${row.rssGrowthMB.toFixed(0)} MB`,
      );
    }
  const record = { date: new Date().toISOString(), cpu: os.cpus()[0]?.model, memoryGiB: os.totalmem() / 2 ** 30, rows };
  fs.mkdirSync(path.dirname(values.out), { recursive: true });
  fs.writeFileSync(values.out, JSON.stringify(record, null, 2) + "\n");
}

main();
