#!/usr/bin/env node
// Builds the optional distributed addon (microadam-native/distributed, docs/distributed.md) from
// the shipped sources, for an installed package: `npx microadam-native-build-distributed` in the
// project that depends on microadam-native. The prebuilds never carry it (they must load without
// libmpi), and the install script builds only the main addon.
//
// It needs cmake, a C++20 compiler and an MPI library with its headers (Debian/Ubuntu:
// `apt-get install libopenmpi-dev openmpi-bin`). It configures a build folder of its own
// (build-distributed/, with the CUDA engine off: this addon has no CUDA code), builds only the
// `microadam_distributed` target, and places it where lib/distributed/binding.ts looks:
// build/distributed/microadam_distributed.node. node-gyp-build does not look in build/distributed,
// so the main addon still comes from the prebuild (or build/Release).
"use strict";
const fs = require("fs");
const path = require("path");
const { buildNative } = require("./build-native");

const root = path.join(__dirname, "..");
const ADDON = "microadam_distributed.node";

function main() {
  const out = path.join(root, "build-distributed");
  try {
    buildNative({ out, cuda: "off", cudaArchs: null, portable: false, arch: process.arch, jobs: null, targets: ["microadam_distributed"] });
  } catch (error) {
    // Configured, but without the target: csrc/distributed/CMakeLists.txt found no MPI.
    const buildFiles = ["build.ninja", "Makefile"].map((f) => path.join(out, f)).filter((f) => fs.existsSync(f));
    const noMpi = buildFiles.length > 0 && !buildFiles.some((f) => fs.readFileSync(f, "utf8").includes("microadam_distributed"));
    throw new Error(
      noMpi
        ? "microadam-native: CMake found no MPI library, so there is no distributed addon to build. " +
            "Install one with its headers (Debian/Ubuntu: apt-get install libopenmpi-dev openmpi-bin) and run this again."
        : `${error.message}\nmicroadam-native: the distributed addon could not be built (see the output above).`,
    );
  }
  const built = path.join(out, "distributed", ADDON);
  if (!fs.existsSync(built)) throw new Error(`microadam-native: the build finished but ${built} is missing`);
  const target = path.join(root, "build", "distributed", ADDON);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // Copied beside, then renamed: a process loading the old file never sees half of the new one.
  const partial = `${target}.${process.pid}.tmp`;
  fs.copyFileSync(built, partial);
  fs.renameSync(partial, target);
  console.log(`microadam-native: built ${target}\n  Launch the ranks with: mpirun -np <N> node your-script.js`);
}

try {
  main();
} catch (error) {
  console.error(error.message);
  process.exitCode = 1;
}
