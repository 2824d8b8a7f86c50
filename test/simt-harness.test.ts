// The CUDA kernels' own source, run as host C++ in the SIMT harness (cuda/simt_host.h), equals
// the CPU engine bit for bit; under ThreadSanitizer a missing __syncthreads is a data race, and
// under AddressSanitizer an access past shared or global memory is an error. No GPU needed.
import { execFileSync } from "child_process";
import * as path from "path";

const script = path.join(__dirname, "..", "scripts", "simt-test.js");

function runVariant(variant: string): string {
  return execFileSync(process.execPath, [script, variant], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function summary(out: string): [number, number] {
  const line = out.trim().split("\n").pop() ?? "";
  const m = /^(\d+) passed, (\d+) failed$/.exec(line);
  if (!m) throw new Error(`no summary line in:\n${out.slice(-2000)}`);
  return [Number(m[1]), Number(m[2])];
}

test("kernels in the SIMT harness equal the CPU engine (all cases, 32/64/256 threads)", () => {
  const [passed, failed] = summary(runVariant("plain"));
  expect(failed).toBe(0);
  expect(passed).toBeGreaterThanOrEqual(38);
}, 600_000);

test("kernels under ThreadSanitizer: no data race", () => {
  const [passed, failed] = summary(runVariant("tsan"));
  expect(failed).toBe(0);
  expect(passed).toBeGreaterThanOrEqual(21);
}, 600_000);

test("kernels under AddressSanitizer and UBSan: no invalid access", () => {
  const [passed, failed] = summary(runVariant("asan"));
  expect(failed).toBe(0);
  expect(passed).toBeGreaterThanOrEqual(21);
}, 600_000);
