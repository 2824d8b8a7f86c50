// Builds and runs test/native/kernel_passes_test.cpp twice: every AVX2 pass, then every AVX-512
// pass of the CPU kernel, against its plain C++ reference, bit for bit, on hostile inputs. The
// program compiles both sides from the headers itself (no CMake target needed). Where the CPU
// lacks a build's instructions the program says "SKIPPED: ..."; the test then warns loudly
// instead of passing in silence.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

function runPasses(build: "avx2" | "avx512"): string {
  const root = path.join(__dirname, "..");
  const exe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kernel-passes-")), `kernel_passes_${build}`);
  const compiler = process.env.CXX || "c++";
  // The flags of the core's build (CMakeLists.txt): float32 results must be bit-exact.
  execFileSync(compiler, ["-O2", "-std=c++20", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno",
    `-DKERNEL_PASSES_AVX512=${build === "avx512" ? 1 : 0}`,
    "-I", path.join(root, "csrc"), path.join(root, "test", "native", "kernel_passes_test.cpp"), "-o", exe], { stdio: "pipe" });
  return execFileSync(exe, [], { encoding: "utf8" }).trim().split("\n").pop() ?? "";
}

test.each(["avx2", "avx512"] as const)("each %s kernel pass gives its reference's bits", (build) => {
  const summary = runPasses(build);
  if (summary.startsWith("SKIPPED")) {
    console.warn(`SKIPPED: the ${build} kernel passes were not checked on this machine (${summary})`);
    return;
  }
  expect(summary).toMatch(/^[1-9]\d* passed, 0 failed$/);
}, 180_000);
