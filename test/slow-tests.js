// The slow checks: test files that `npm test` (jest.config.js) leaves out and
// `npm run test:slow` (jest.slow.config.js) runs. CI (.ci/run) runs both, so nothing is dropped.
// Seconds: one serial run of every file on the project's 2-core machine on 2026-12-05, under a
// load average of 10 to 70 from other builds (the same files took about a third of that on a
// quiet machine).
module.exports.SLOW_TESTS = [
  "simt-harness.test.ts", // 210 s: builds the SIMT harness, every kernel case at 32/64/256 threads
  "simt-sanitizers.test.ts", // 735 s: the harness under ThreadSanitizer and AddressSanitizer (two more builds of the core)
  "consumer.test.ts", // about 12 min: npm pack (the CUDA and arm64 prebuilds), installs into empty projects, a source build
  "kernel-paths.test.ts", // 149 s: the CPU kernel's fast paths against the JS reference model, many steps at real block sizes
  "native-cuda-selftest.test.ts", // 97 s: an nvcc build of the CUDA self-test (runs where a GPU is usable)
  "native-selftest.test.ts", // 75 s: a CMake build of the core's self-test, without Node
  "convergence-bench.test.ts", // 49 s: bench/convergence.ts --quick, every phase
  "distributed.test.ts", // 46 s idle, about 190 s under load: mpirun jobs of 1 to 4 ranks (bit identity, resharding, faults, tfjs)
  "distributed-hosts.test.ts", // 27 to 55 s (load 3 to 22): mpirun jobs of 2 to 4 ranks on two host names kept on this machine (a local remote-shell agent)
  "fuzz-long.test.ts", // every fuzz target at its full run count (fuzz.test.ts runs a fifth in npm test)
];

// A name that matches no file (after a rename) would quietly move that file back into npm test:
// refuse to start instead.
const fs = require("fs");
const path = require("path");
for (const file of module.exports.SLOW_TESTS)
  if (!fs.existsSync(path.join(__dirname, file))) throw new Error(`test/slow-tests.js lists ${file}, which is not in test/`);
