// The CUDA kernels' own source, run as host C++ in the SIMT harness (cuda/simt_host.h), equals
// the CPU engine bit for bit: every case at 32, 64 and 256 threads per block. No GPU needed. A
// slow check (`npm run test:slow`, test/slow-tests.js), as is the same harness under
// ThreadSanitizer and AddressSanitizer (test/simt-sanitizers.test.ts). Progress (build steps, a
// line per case) goes to stderr while it runs.
import { runSimtVariant } from "./support/simt";

test("kernels in the SIMT harness equal the CPU engine (all cases, 32/64/256 threads)", async () => {
  const [passed, failed] = await runSimtVariant("plain");
  expect(failed).toBe(0);
  expect(passed).toBeGreaterThanOrEqual(38);
}, 600_000);
