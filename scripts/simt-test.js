#!/usr/bin/env node
// Builds and runs the SIMT harness test (test/native/simt_kernel_test.cpp): the CUDA kernel
// sources run as host C++ and must equal the CPU engine bit for bit. Variants: plain (all
// cases), tsan and asan (ThreadSanitizer / AddressSanitizer + UBSan, quick cases).
//   node scripts/simt-test.js [plain|tsan|asan ...]     (default: all three)
"use strict";
const { execFileSync } = require("child_process");
const path = require("path");

const root = path.join(__dirname, "..");
const build = path.join(root, "build", "simt");
const variants = process.argv.slice(2).length ? process.argv.slice(2) : ["plain", "tsan", "asan"];
const targets = { plain: "microadam_simt_test", tsan: "microadam_simt_test_tsan", asan: "microadam_simt_test_asan" };
for (const v of variants)
  if (!targets[v]) {
    console.error(`simt-test: unknown variant '${v}', expected plain, tsan or asan`);
    process.exit(2);
  }
const run = (cmd, args, env) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
// The harness needs no CUDA compiler: MICROADAM_CUDA=OFF keeps nvcc out of this build.
run("cmake", ["-S", root, "-B", build, "-DMICROADAM_SELFTEST=ON", "-DMICROADAM_CUDA=OFF", "-DCMAKE_BUILD_TYPE=Release"]);
run("cmake", ["--build", build, "-j", "2", "--target", ...variants.map((v) => targets[v])]);
for (const v of variants) {
  console.log(`== ${targets[v]}`);
  // halt_on_error: a sanitizer report fails the run instead of scrolling by.
  run(path.join(build, targets[v]), v === "plain" ? [] : ["--quick"], {
    TSAN_OPTIONS: "halt_on_error=1 second_deadlock_stack=1",
    ASAN_OPTIONS: "halt_on_error=1 detect_leaks=1",
    UBSAN_OPTIONS: "halt_on_error=1 print_stacktrace=1",
  });
}
