#!/usr/bin/env node
// The one list of native sources, read by both builds: CMakeLists.txt (cmake-js, primary) and
// binding.gyp (node-gyp fallback, used by prebuildify).
// Usage: list-sources.js cpu|cuda|no-cuda [separator]
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const groups = {
  // The core (no Node) and the N-API layer.
  cpu: [
    ["csrc/core", /\.cpp$/],
    ["csrc/napi", /\.cc$/],
  ],
  // CUDA sources, compiled only when a CUDA compiler is found.
  // (cuda/*.cpp is plain C++ host code: the kernels' launch plan and the backend seam; cuda/*.cuh
  // are the kernel sources, included by cuda/*.cu and by the SIMT harness test.)
  cuda: [["cuda", /\.(cu|cpp)$/]],
  // The CUDA entry of the backend registry in a build without the CUDA sources (binding.gyp,
  // CMake without nvcc): exactly one of `cuda` and `no-cuda` is linked.
  "no-cuda": [["csrc/no_cuda", /\.cpp$/]],
};

const which = process.argv[2] || "cpu";
const separator = process.argv[3] === "semicolon" ? ";" : " ";
if (!groups[which]) {
  console.error(`list-sources: unknown group '${which}', expected one of ${Object.keys(groups).join(", ")}`);
  process.exitCode = 2;
} else {
  const files = [];
  for (const [dir, pattern] of groups[which]) {
    const full = path.join(root, dir);
    if (!fs.existsSync(full)) continue;
    for (const name of fs.readdirSync(full).sort()) if (pattern.test(name)) files.push(`${dir}/${name}`);
  }
  process.stdout.write(files.join(separator));
}
