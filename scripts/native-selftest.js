#!/usr/bin/env node
// Builds and runs a native self-test with CMake, without Node in the loop: the same binaries run
// on a GPU machine that has no Node packages.
//   node scripts/native-selftest.js          the core (test/native/selftest.cpp)
//   node scripts/native-selftest.js cuda     the CUDA engine against the CPU engine
//                                            (test/native/cuda_selftest.cpp; needs nvcc; prints
//                                            a SKIPPED line where no device is usable)
"use strict";
const { execFileSync } = require("child_process");
const path = require("path");

const root = path.join(__dirname, "..");
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });
const which = process.argv[2] || "core";

if (which === "core") {
  const build = path.join(root, "build", "selftest");
  run("cmake", ["-S", root, "-B", build, "-DMICROADAM_SELFTEST=ON", "-DMICROADAM_CUDA=OFF", "-DCMAKE_BUILD_TYPE=Release"]);
  run("cmake", ["--build", build, "--target", "microadam_selftest", "-j", "2"]);
  run(path.join(build, "microadam_selftest"), []);
} else if (which === "cuda") {
  // One architecture is enough here: the GPU's own where nvidia-smi answers, else sm_80 (the
  // binary then only compiles and reports that no device is usable).
  let arch = "80";
  try {
    const cap = execFileSync("nvidia-smi", ["--query-gpu=compute_cap", "--format=csv,noheader"], { encoding: "utf8" });
    if (/^\d+\.\d+/.test(cap.trim())) arch = cap.trim().split("\n")[0].replace(".", "");
  } catch {
    // no driver: keep sm_80
  }
  const build = path.join(root, "build", "cuda-selftest");
  run("cmake", ["-S", root, "-B", build, "-DMICROADAM_SELFTEST=ON", "-DMICROADAM_CUDA=ON", "-DCMAKE_BUILD_TYPE=Release",
    `-DCMAKE_CUDA_ARCHITECTURES=${arch}`]);
  run("cmake", ["--build", build, "--target", "microadam_cuda_selftest", "-j", "2"]);
  run(path.join(build, "microadam_cuda_selftest"), []);
} else {
  console.error(`native-selftest: unknown self-test '${which}', expected core or cuda`);
  process.exitCode = 2;
}
