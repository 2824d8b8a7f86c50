// A slow check (`npm run test:slow`, test/slow-tests.js): the SIMT harness of
// test/simt-harness.test.ts built with ThreadSanitizer (a missing __syncthreads is a data race)
// and with AddressSanitizer + UBSan (an access past shared or global memory is an error), on its
// quick case list. Each build compiles the core again with the sanitizer; progress (build steps,
// a line per case) goes to stderr while it runs.
import { runSimtVariant } from "./support/simt";

// The ThreadSanitizer run took about 12 minutes on 2 busy cores (2026-12-05): generous limits.

test("kernels under ThreadSanitizer: no data race", async () => {
  const [passed, failed] = await runSimtVariant("tsan");
  expect(failed).toBe(0);
  expect(passed).toBeGreaterThanOrEqual(21);
}, 1_800_000);

test("kernels under AddressSanitizer and UBSan: no invalid access", async () => {
  const [passed, failed] = await runSimtVariant("asan");
  expect(failed).toBe(0);
  expect(passed).toBeGreaterThanOrEqual(21);
}, 1_800_000);
