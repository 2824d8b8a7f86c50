#!/usr/bin/env node
// Fails when a Linux binary needs a newer glibc than the prebuilds' floor, or any libstdc++
// symbol version: official Node 20 Linux binaries run on glibc >= 2.28 (RHEL 8, Ubuntu 20.04,
// Debian 11), whose libstdc++ is older than the one we build with, so a prebuild links libstdc++
// statically (CMake option MICROADAM_PORTABLE).
//
//   node scripts/check-glibc-floor.js FILE... [--floor 2.28]
//
// Reads the binary's version needs with readelf, which reads any ELF machine (x86-64, aarch64).
"use strict";
const { execFileSync } = require("child_process");

const FLOOR = "2.28";
// libgcc_s stays a shared library; GCC 8 (RHEL 8's) provides versions up to GCC_7.0.0.
const GCC_FLOOR = "7.0.0";

function compareVersions(a, b) {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** The symbol versions a binary needs, from `readelf -V` output: ["GLIBC_2.2.5", "GCC_3.0", ...]. */
function neededVersions(readelfOutput) {
  const needs = readelfOutput.split("Version needs section")[1] || "";
  return [...new Set([...needs.matchAll(/Name: (\S+)/g)].map((m) => m[1]))];
}

/** The needs that break the floor, each with the reason. */
function floorViolations(versions, floor = FLOOR) {
  const problems = [];
  for (const version of versions) {
    const glibc = /^GLIBC_(\d+(?:\.\d+)*)$/.exec(version);
    const gcc = /^GCC_(\d+(?:\.\d+)*)$/.exec(version);
    if (glibc && compareVersions(glibc[1], floor) > 0) problems.push(`${version} is newer than the glibc floor ${floor}`);
    else if (gcc && compareVersions(gcc[1], GCC_FLOOR) > 0) problems.push(`${version} is newer than libgcc_s of GCC 8 (GCC_${GCC_FLOOR})`);
    else if (/^(GLIBCXX|CXXABI)_/.test(version)) problems.push(`${version}: libstdc++ must be linked statically`);
  }
  return problems;
}

function checkFile(file, floor) {
  const output = execFileSync("readelf", ["-V", "-W", file], { encoding: "utf8" });
  const versions = neededVersions(output);
  if (!versions.some((v) => v.startsWith("GLIBC_"))) throw new Error(`check-glibc-floor: ${file} needs no GLIBC version at all: is it a glibc binary?`);
  return { versions, problems: floorViolations(versions, floor) };
}

module.exports = { neededVersions, floorViolations, checkFile, FLOOR };

if (require.main === module) {
  const args = process.argv.slice(2);
  let floor = FLOOR;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--floor" && i + 1 < args.length) floor = args[++i];
    else files.push(args[i]);
  }
  if (files.length === 0) {
    console.error("usage: check-glibc-floor.js FILE... [--floor 2.28]");
    process.exitCode = 2;
  }
  for (const file of files) {
    try {
      const { versions, problems } = checkFile(file, floor);
      const newestGlibc = versions.filter((v) => v.startsWith("GLIBC_")).map((v) => v.slice(6)).sort(compareVersions).pop();
      if (problems.length) {
        console.error(`check-glibc-floor: ${file}:\n  ${problems.join("\n  ")}`);
        process.exitCode = 1;
      } else {
        console.log(`check-glibc-floor: ${file}: newest glibc needed ${newestGlibc} (floor ${floor}), no libstdc++ versions`);
      }
    } catch (error) {
      console.error(error.message);
      process.exitCode = 1;
    }
  }
}
