#!/usr/bin/env node
// Builds the addon with CMake: the one build driver for a developer's checkout
// (`npm run build:native`), a consumer's source build (scripts/install.js) and the prebuilds
// (scripts/prebuild.js). It needs cmake and a C++20 compiler, plus nvcc for the CUDA backend;
// Node-API's headers come from the node-addon-api and node-api-headers dependencies, so nothing
// is downloaded.
//
//   node scripts/build-native.js [--out DIR] [--cuda auto|on|off] [--cuda-archs LIST]
//                                [--portable] [--arch x64|arm64] [--jobs N] [--target NAME]...
//
// The addon lands in DIR/Release/microadam_native.node (DIR defaults to build/, where
// node-gyp-build looks first). --portable links for the glibc 2.28 floor of the prebuilds;
// --arch arm64 cross-compiles with Debian's aarch64-linux-gnu toolchain.
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");

const USAGE =
  "usage: build-native.js [--out DIR] [--cuda auto|on|off] [--cuda-archs LIST] [--portable] [--arch x64|arm64] [--jobs N] [--target NAME]";

/** Parses argv into options; throws an Error naming the argument on bad input. */
function parseArgs(argv) {
  const options = { out: "build", cuda: "auto", cudaArchs: null, portable: false, arch: process.arch, jobs: null, targets: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`build-native: ${flag} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (flag === "--out") options.out = value();
    else if (flag === "--cuda") options.cuda = value();
    else if (flag === "--cuda-archs") options.cudaArchs = value();
    else if (flag === "--portable") options.portable = true;
    else if (flag === "--arch") options.arch = value();
    else if (flag === "--jobs") options.jobs = value();
    else if (flag === "--target") options.targets.push(value());
    else throw new Error(`build-native: unknown argument '${flag}'\n${USAGE}`);
  }
  if (!["auto", "on", "off"].includes(options.cuda)) throw new Error(`build-native: --cuda must be auto, on or off, got '${options.cuda}'`);
  if (!["x64", "arm64"].includes(options.arch)) throw new Error(`build-native: --arch must be x64 or arm64, got '${options.arch}'`);
  if (options.jobs !== null && !/^[1-9]\d*$/.test(options.jobs)) throw new Error(`build-native: --jobs must be a positive integer, got '${options.jobs}'`);
  return options;
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    const file = path.join(dir, name);
    if (dir && fs.existsSync(file)) return file;
  }
  return null;
}

function run(command, args, cwd) {
  console.log(`microadam-native: ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd, stdio: "inherit" });
  if (result.error) throw new Error(`build-native: could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`build-native: ${command} exited with ${result.status}`);
}

/** Configures and builds; returns the path of the built addon. */
function buildNative(options) {
  if (!findOnPath("cmake")) {
    throw new Error("build-native: cmake was not found on PATH (install CMake >= 3.18, e.g. 'apt-get install cmake')");
  }
  const out = path.resolve(root, options.out);
  const cross = options.arch !== process.arch;
  const configure = [
    "-S", root, "-B", out,
    "-DCMAKE_BUILD_TYPE=Release",
    `-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=${path.join(out, "Release")}`,
    `-DMICROADAM_CUDA=${cross ? "OFF" : options.cuda.toUpperCase()}`,
    `-DMICROADAM_PORTABLE=${options.portable ? "ON" : "OFF"}`,
    // A portable build is a prebuild: it never carries the optional MPI addon (docs/distributed.md).
    ...(options.portable ? ["-DMICROADAM_DISTRIBUTED=OFF"] : []),
    `-DNODE_EXECUTABLE=${process.execPath}`,
  ];
  if (options.cudaArchs) configure.push(`-DCMAKE_CUDA_ARCHITECTURES=${options.cudaArchs}`);
  if (cross) {
    if (options.arch !== "arm64" || process.arch !== "x64") throw new Error(`build-native: cross builds go from x64 to arm64 only, not ${process.arch} to ${options.arch}`);
    configure.push(`-DCMAKE_TOOLCHAIN_FILE=${path.join(root, "cmake", "aarch64-linux-gnu.cmake")}`);
  }
  if (findOnPath("ninja") && !fs.existsSync(path.join(out, "Makefile"))) configure.push("-G", "Ninja");
  run("cmake", configure, root);
  const build = ["--build", out, "--config", "Release"];
  for (const target of options.targets) build.push("--target", target); // none: every target
  build.push("--parallel", options.jobs || String(Math.max(1, require("os").availableParallelism())));
  run("cmake", build, root);
  return path.join(out, "Release", "microadam_native.node");
}

module.exports = { buildNative, parseArgs };

if (require.main === module) {
  try {
    const file = buildNative(parseArgs(process.argv.slice(2)));
    console.log(`microadam-native: built ${path.relative(process.cwd(), file)}`);
  } catch (error) {
    console.error(error.message);
    process.exitCode = 1;
  }
}
