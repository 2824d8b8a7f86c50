#!/usr/bin/env node
// `npm install` hook. Where a shipped prebuild (or an earlier build) loads, nothing is compiled,
// so installs with scripts blocked (--ignore-scripts, or npm's install-script approval) work the
// same. Otherwise (no prebuild for this platform, a source checkout, or
// MICROADAM_NATIVE_FORCE_BUILD=1) it builds from the shipped sources:
//   - with cmake (scripts/build-native.js): the CPU engine, plus the CUDA engine when nvcc is
//     found (on PATH or in /usr/local/cuda);
//   - without cmake, with node-gyp (npm bundles it): the CPU engine only.
// The build-time packages (node-addon-api, node-api-headers) are dependencies, so a consumer's
// project has them.
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");
const { buildNative } = require("./build-native");

const root = path.join(__dirname, "..");
const REBUILD = "MICROADAM_NATIVE_FORCE_BUILD=1 npm rebuild microadam-native";

function loadsAlready() {
  if (process.env.MICROADAM_NATIVE_FORCE_BUILD) return false;
  try {
    const file = require("node-gyp-build").resolve(root);
    require(file);
    console.log(`microadam-native: using ${path.relative(root, file)}`);
    return true;
  } catch {
    return false;
  }
}

function hasCmake() {
  return spawnSync("cmake", ["--version"], { stdio: "ignore" }).status === 0;
}

function buildWithNodeGyp() {
  // npm sets npm_config_node_gyp to its bundled node-gyp for install scripts.
  const nodeGyp = process.env.npm_config_node_gyp;
  const [command, args] = nodeGyp ? [process.execPath, [nodeGyp, "rebuild"]] : ["node-gyp", ["rebuild"]];
  console.log(`microadam-native: ${command} ${args.join(" ")} (CPU engine only: the CUDA engine needs cmake)`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  return result.status === 0;
}

function build() {
  // CI sets MICROADAM_REQUIRE_CUDA_BUILD where nvcc exists: then the CUDA sources must compile
  // and a CPU-only fallback would hide a broken kernel.
  const requireCuda = Boolean(process.env.MICROADAM_REQUIRE_CUDA_BUILD);
  if (!hasCmake()) {
    if (requireCuda) throw new Error("MICROADAM_REQUIRE_CUDA_BUILD is set but cmake was not found");
    return buildWithNodeGyp();
  }
  const inCheckout = require("fs").existsSync(path.join(root, "bench"));
  buildNative({
    out: "build",
    cuda: requireCuda ? "on" : "auto",
    cudaArchs: process.env.MICROADAM_CUDA_ARCHITECTURES || null,
    portable: false,
    arch: process.arch,
    jobs: null,
    // A consumer needs only the addon; a checkout also builds the bench probe and the C ABI.
    targets: inCheckout ? [] : ["microadam_native"],
  });
  return true;
}

if (!loadsAlready()) {
  let built = false;
  try {
    built = build();
  } catch (error) {
    console.error(error.message);
  }
  if (!built) {
    console.error(
      "microadam-native: the native addon could not be built (see the output above).\n" +
        "  It needs CMake >= 3.18 and a C++20 compiler (g++ >= 10 or clang >= 12); nvcc adds the CUDA engine.\n" +
        `  Install them, then run in your project: ${REBUILD}`,
    );
    process.exitCode = 1;
  }
}
