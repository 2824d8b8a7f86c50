// The long fuzz run behind docs/reliability.md: the targets of test/fuzz/targets.ts, each in
// child processes (a crash is an exit status, counted, not the end of the run), over several
// seeds; then every truncation and every single-bit flip of checkpoints of a few sizes.
//
//   nice -n 15 npx ts-node bench/fuzz.ts [--runs 20000] [--seeds 5] [--jobs 2] [--out bench/results/fuzz.json]
//
// --runs is per target and seed (async gets a tenth: each of its runs is a whole async step).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { createMicroAdamState, MicroAdam, MicroAdamState, microAdamStep } from "../lib";
import { DRIVER_ARGS, FUZZ_ENV } from "../test/fuzz/env";

const root = path.join(__dirname, "..");

interface ChildRun {
  target: string;
  seed: number;
  runs: number;
  ok: boolean;
  signal: string | null;
  exitCode: number | null;
  calls: number;
  rejected: number;
  ms: number;
  failure?: string;
  messages?: [string, number][];
}

function runChild(target: string, runs: number, seed: number): Promise<ChildRun> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...DRIVER_ARGS, target, String(runs), String(seed)],
      { cwd: root, env: { ...process.env, ...FUZZ_ENV } },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (exitCode, signal) => {
      const line = stdout.trim().split("\n").pop();
      const summary = line?.startsWith("{") ? JSON.parse(line) : undefined;
      resolve({
        target,
        seed,
        runs,
        ok: exitCode === 0 && signal === null,
        signal,
        exitCode,
        calls: summary?.calls ?? 0,
        rejected: summary?.rejected ?? 0,
        ms: summary?.ms ?? 0,
        failure: exitCode === 0 && signal === null ? undefined : stderr.slice(-3000),
        messages: summary?.messages,
      });
    });
  });
}

async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]();
      }
    }),
  );
  return results;
}

/** Every truncation and every single-bit flip of one checkpoint: how many tried, how many refused. */
function exhaustiveDamage(name: string, target: MicroAdamState | MicroAdam, good: Buffer) {
  const before = target.toBuffer();
  let tried = 0;
  let refused = 0;
  let changedTarget = 0;
  const attempt = (bytes: Buffer) => {
    tried++;
    try {
      target.loadBuffer(bytes);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "ERR_MICROADAM_CHECKPOINT" || code === "ERR_MICROADAM_CHECKPOINT_MISMATCH") refused++;
    }
    if (!target.toBuffer().equals(before)) changedTarget++;
  };
  for (let length = 0; length < good.length; length++) attempt(good.subarray(0, length));
  for (let bit = 0; bit < good.length * 8; bit++) {
    const damaged = Buffer.from(good);
    damaged[bit >> 3] ^= 1 << (bit & 7);
    attempt(damaged);
  }
  return { name, bytes: good.length, tried, refused, changedTarget };
}

function checkpointDamage() {
  const wave = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
  const results = [];
  for (const [numel, options] of [
    [10, { topkBlockSize: 8, quantBlockSize: 4, window: 2, density: 0.25 }],
    [301, { topkBlockSize: 64, quantBlockSize: 16, window: 3, density: 0.1 }],
    [5000, {}],
  ] as const) {
    const source = createMicroAdamState({ numel, ...options });
    const params = wave(numel, 1);
    for (let t = 1; t <= 3; t++) microAdamStep(source, params, wave(numel, t + 1), { lr: 0.01, alpha: 0.2 });
    const target = createMicroAdamState({ numel, ...options });
    results.push(exhaustiveDamage(`state, numel ${numel}`, target, source.toBuffer()));
  }
  const small = { topkBlockSize: 8, quantBlockSize: 4, window: 2, density: 0.25 };
  const make = () => new MicroAdam([{ params: [wave(10, 1), wave(33, 2)] }, { params: [wave(3, 3)], lr: 0.5 }], { denseBelow: 0, lr: 0.1, ...small });
  const source = make();
  source.step([wave(10, 4), wave(33, 5), wave(3, 6)]);
  results.push(exhaustiveDamage("MicroAdam, 2 groups, 3 tensors", make(), source.toBuffer()));
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "20000" },
      seeds: { type: "string", default: "5" },
      jobs: { type: "string", default: "2" },
      out: { type: "string", default: path.join(__dirname, "results", "fuzz.json") },
    },
  });
  const runs = Number(values.runs);
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => 1000 + i);
  const started = Date.now();
  const jobs = ["api", "native", "async", "checkpoint"].flatMap((target) =>
    seeds.map((seed) => () => {
      const n = target === "async" ? Math.ceil(runs / 10) : runs;
      process.stdout.write(`${target} seed ${seed}: ${n} runs...\n`);
      return runChild(target, n, seed);
    }),
  );
  const children = await pool(jobs, Number(values.jobs));
  const byTarget = ["api", "native", "async", "checkpoint"].map((target) => {
    const mine = children.filter((c) => c.target === target);
    return {
      target,
      processes: mine.length,
      runs: mine.reduce((s, c) => s + c.runs, 0),
      calls: mine.reduce((s, c) => s + c.calls, 0),
      rejected: mine.reduce((s, c) => s + c.rejected, 0),
      crashes: mine.filter((c) => c.signal !== null).length,
      failures: mine.filter((c) => !c.ok).length,
    };
  });
  const damage = checkpointDamage();
  const report = {
    date: new Date().toISOString(),
    command: `nice -n 15 npx ts-node bench/fuzz.ts --runs ${runs} --seeds ${seeds.length} --jobs ${values.jobs}`,
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.arch()}` },
    seconds: (Date.now() - started) / 1000,
    byTarget,
    checkpointDamage: damage,
    failures: children.filter((c) => !c.ok).map(({ messages: _m, ...c }) => c),
    messages: Object.fromEntries(children.filter((c) => c.seed === seeds[0]).map((c) => [c.target, c.messages?.slice(0, 40)])),
  };
  fs.mkdirSync(path.dirname(values.out!), { recursive: true });
  fs.writeFileSync(values.out!, JSON.stringify(report, null, 2) + "\n");

  console.log("\n| target | processes | property runs | calls | rejected | crashes | failures |\n| --- | --- | --- | --- | --- | --- | --- |");
  for (const t of byTarget) console.log(`| ${t.target} | ${t.processes} | ${t.runs} | ${t.calls} | ${t.rejected} | ${t.crashes} | ${t.failures} |`);
  console.log("\n| checkpoint | bytes | damaged copies tried | refused | target changed |\n| --- | --- | --- | --- | --- |");
  for (const d of damage) console.log(`| ${d.name} | ${d.bytes} | ${d.tried} | ${d.refused} | ${d.changedTarget} |`);
  console.log(`\n${report.seconds.toFixed(0)} s; results: ${values.out}`);
  if (report.failures.length) {
    for (const f of report.failures) console.log(`\nFAILED ${f.target} seed ${f.seed} (exit ${f.exitCode}, signal ${f.signal}):\n${f.failure}`);
    process.exitCode = 1;
  }
}

void main();
