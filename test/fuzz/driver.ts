// Child-process entry of the fuzz targets (targets.ts), so that a crash (a signal, an abort)
// ends this process and not the test runner: the parent sees the exit status.
//   node --expose-gc -r ts-node/register/transpile-only test/fuzz/driver.ts <target> <runs> <seed>
// Runs in a fresh temporary directory (checkpoint paths the fuzzer makes up are relative) and
// prints one JSON line: { target, runs, seed, calls, rejected, ms, messages }.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stats, TARGETS } from "./targets";

async function main(): Promise<void> {
  const [target, runsText, seedText] = process.argv.slice(2);
  const fuzz = TARGETS[target];
  if (!fuzz) throw new Error(`unknown target '${target}': expected one of ${Object.keys(TARGETS).join(", ")}`);
  const runs = Number(runsText ?? 100);
  const seed = Number(seedText ?? Date.now() % 2 ** 31);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `microadam-fuzz-${target}-`));
  process.chdir(work);
  const started = Date.now();
  try {
    await fuzz(runs, seed);
  } finally {
    process.chdir(os.tmpdir());
    fs.rmSync(work, { recursive: true, force: true });
  }
  const messages = [...stats.messages].sort((a, b) => b[1] - a[1]);
  process.stdout.write(
    JSON.stringify({ target, runs, seed, calls: stats.calls, rejected: stats.rejected, ms: Date.now() - started, messages }) + "\n",
  );
}

main().catch((error) => {
  // fast-check reports the failing property's own error as the cause.
  for (let e: unknown = error; e !== undefined; e = (e as { cause?: unknown }).cause)
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
