// A slow check (`npm run test:slow`, test/slow-tests.js): every fuzz target at its full CI run
// count (test/fuzz.test.ts runs a fifth of each in `npm test`), a line on stderr per target.
import { expectCleanFuzzRun, FUZZ_SEED, FUZZ_TARGETS } from "./fuzz/run";

test.each(FUZZ_TARGETS)("fuzz target %s: %d runs, no crash, every rejected call changed nothing", async (target, runs) => {
  const started = Date.now();
  await expectCleanFuzzRun(target, runs, FUZZ_SEED);
  process.stderr.write(`[fuzz-long] ${target}: ${runs} runs clean in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}, 300_000);
