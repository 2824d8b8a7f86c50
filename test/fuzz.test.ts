// Thousands of hostile calls at every entry point, each target in its own child process
// (test/fuzz/driver.ts), so that a segfault or an abort is a failed test and not a dead runner.
// The targets also check that a rejected call leaves state and params unchanged.
// `npm test` runs a fifth of each target's CI run count; the full counts are a slow check
// (test/fuzz-long.test.ts, `npm run test:slow`). MICROADAM_FUZZ_SEED=<n> picks other inputs;
// bench/fuzz.ts runs the same targets much longer.
import { expectCleanFuzzRun, FUZZ_SEED, FUZZ_TARGETS } from "./fuzz/run";

test.each(FUZZ_TARGETS.map(([target, runs]) => [target, Math.ceil(runs / 5)] as const))(
  "fuzz target %s: %d runs, no crash, every rejected call changed nothing",
  (target, runs) => expectCleanFuzzRun(target, runs, FUZZ_SEED),
  120_000,
);
