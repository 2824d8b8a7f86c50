// Builds and runs test/native/kernel_passes_test.cpp: every AVX2 pass of the CPU kernel against
// its plain C++ reference, bit for bit, on hostile inputs. The program compiles both sides from
// the headers itself (no CMake target needed); it reports 0 checks where the CPU or compiler has
// no AVX2 build.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

test("each AVX2 kernel pass gives its reference's bits", () => {
  const root = path.join(__dirname, "..");
  const exe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kernel-passes-")), "kernel_passes_test");
  const compiler = process.env.CXX || "c++";
  // The flags of the core's build (CMakeLists.txt): float32 results must be bit-exact.
  execFileSync(compiler, ["-O2", "-std=c++20", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno",
    "-I", path.join(root, "csrc"), path.join(root, "test", "native", "kernel_passes_test.cpp"), "-o", exe], { stdio: "pipe" });
  const out = execFileSync(exe, [], { encoding: "utf8" });
  const summary = out.trim().split("\n").pop() ?? "";
  expect(summary).toMatch(/ 0 failed$/);
}, 180_000);
