#!/usr/bin/env node
// `npm install` hook. In an installed package the prebuild for this platform loads and nothing
// is compiled (so installs with --ignore-scripts work the same). In a source checkout, or where
// no prebuild fits, it builds: cmake-js first (adds the CUDA backend when nvcc is found), then
// node-gyp (CPU only) if cmake-js is not installed.
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");

const root = path.join(__dirname, "..");

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

function run(command, args) {
  console.log(`microadam-native: ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  return result.status === 0;
}

function build() {
  let cmakeJs = null;
  try {
    cmakeJs = require.resolve("cmake-js/bin/cmake-js", { paths: [root] });
  } catch {
    /* not a source checkout: fall through to node-gyp */
  }
  // CI sets MICROADAM_REQUIRE_CUDA_BUILD where nvcc exists: then the CUDA sources must compile
  // and a CPU-only fallback would hide a broken kernel.
  const requireCuda = Boolean(process.env.MICROADAM_REQUIRE_CUDA_BUILD);
  const cudaFlag = requireCuda ? ["--CDMICROADAM_CUDA=ON"] : [];
  if (cmakeJs && run(process.execPath, [cmakeJs, "compile", "--out", "build", ...cudaFlag])) return true;
  if (requireCuda) return false;
  const nodeGyp = process.env.npm_config_node_gyp;
  return nodeGyp ? run(process.execPath, [nodeGyp, "rebuild"]) : run("node-gyp", ["rebuild"]);
}

if (!loadsAlready() && !build()) {
  console.error("microadam-native: the native addon could not be built; see the output above.");
  process.exitCode = 1;
}
