#!/usr/bin/env node
// Builds and runs the core's native self-test (test/native/selftest.cpp) with CMake, without
// Node in the loop: the same binary runs on a GPU machine that has no Node packages.
"use strict";
const { execFileSync } = require("child_process");
const path = require("path");

const root = path.join(__dirname, "..");
const build = path.join(root, "build", "selftest");
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });
run("cmake", ["-S", root, "-B", build, "-DMICROADAM_SELFTEST=ON", "-DMICROADAM_CUDA=OFF", "-DCMAKE_BUILD_TYPE=Release"]);
run("cmake", ["--build", build, "--target", "microadam_selftest", "-j", "2"]);
run(path.join(build, "microadam_selftest"), []);
