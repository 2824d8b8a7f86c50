#!/usr/bin/env node
// Runs one addon binary through a fixed set of MicroAdam and AdamW steps and prints a SHA-256 of
// every case's params and state bytes. The definition has no FMA and nothing platform-dependent,
// so every correct build, on any CPU path, thread count or architecture, prints the same digests:
// test/fixtures/prebuild-digests.json holds them (written from the x86-64 engine, which
// test/bitexact.test.ts holds to the reference model), and scripts/prebuild.js ships the arm64
// build only if it prints them under qemu.
//
//   node scripts/check-prebuild.js [--addon FILE] [--expect JSON] [--write JSON]
//
// Needs the built TypeScript (dist/). Without --addon it checks the addon the package loads.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");

const root = path.join(__dirname, "..");

function parseArgs(argv) {
  const options = { addon: null, expect: null, write: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const key = { "--addon": "addon", "--expect": "expect", "--write": "write" }[flag];
    if (!key || i + 1 >= argv.length) throw new Error(`check-prebuild: bad argument '${flag}' (usage: [--addon FILE] [--expect JSON] [--write JSON])`);
    options[key] = path.resolve(argv[++i]);
  }
  return options;
}

// node-gyp-build looks in $MICROADAM_NATIVE_PREBUILD/prebuilds/<platform>-<arch>/ when that
// variable is set: a folder holding only this file makes the package load exactly it.
function useAddon(file) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-check-"));
  const target = path.join(dir, "prebuilds", `${process.platform}-${process.arch}`);
  fs.mkdirSync(target, { recursive: true });
  fs.copyFileSync(file, path.join(target, "microadam-native.napi.glibc.node"));
  process.env.MICROADAM_NATIVE_PREBUILD = dir;
  return dir;
}

/** mulberry32: a small deterministic generator, the same on every platform. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function digest(parts) {
  const hash = crypto.createHash("sha256");
  for (const part of parts) hash.update(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
  return hash.digest("hex");
}

// Gradients with rows of different scales and a few exact ties and zeros: the Top-K, the
// quantization buckets and the window all see hostile values.
function gradient(next, numel, step) {
  const g = new Float32Array(numel);
  for (let i = 0; i < numel; i++) {
    const scale = Math.pow(10, ((i >> 9) % 7) - 4);
    const u = next();
    g[i] = u < 0.02 ? 0 : u < 0.04 ? 0.5 * scale : (u - 0.5) * scale * (1 + (step % 3));
  }
  return g;
}

function runCases(m) {
  const results = {};
  const configs = [
    { name: "f32-small", numel: 1000, dtype: "f32", options: {} },
    { name: "f32-blocks", numel: 70000, dtype: "f32", options: { topkBlockSize: 2048, quantBlockSize: 64, window: 4 } },
    { name: "bf16-params", numel: 9000, dtype: "bf16", options: { density: 0.05 } },
    { name: "f16-params", numel: 4097, dtype: "f16", options: { quantBlockSize: 32 } },
  ];
  for (const threads of [1, 2]) {
    m.setNumThreads(threads);
    for (const c of configs) {
      const next = random(c.numel * 31 + threads);
      const start = Float32Array.from({ length: c.numel }, () => next() - 0.5);
      const params = c.dtype === "f32" ? start : c.dtype === "bf16" ? m.toBf16(start) : m.toF16(start);
      const state = m.createMicroAdamState({ numel: c.numel, ...c.options });
      const skipped = [];
      for (let step = 0; step < 12; step++) {
        const g = gradient(next, c.numel, step);
        if (step === 5) g[c.numel >> 1] = NaN; // the 'skip' policy: a step with no effect
        const grads = step % 2 === 0 ? g : m.toBf16(g);
        const r = m.microAdamStep(state, params, grads, { lr: 1e-3, weightDecay: step % 4 === 0 ? 0 : 0.01, nonFinite: "skip" });
        skipped.push(r.skipped);
      }
      const s = state.snapshot();
      const p = c.dtype === "f32" ? params : params.data;
      results[`microadam/${c.name}/threads-${threads}`] = digest([
        p, s.errorCodes, s.errorMin, s.errorMax, s.windowIndices, s.windowValues, Uint8Array.from(skipped, Number), Float64Array.of(s.step),
      ]);
    }
    const next = random(77 + threads);
    const params = Float32Array.from({ length: 5000 }, () => next() - 0.5);
    const adamw = m.createAdamWState({ numel: 5000 });
    for (let step = 0; step < 6; step++) m.adamWStep(adamw, params, gradient(next, 5000, step), { lr: 1e-3, weightDecay: 0.01 });
    const a = adamw.snapshot();
    results[`adamw/f32/threads-${threads}`] = digest([params, a.expAvg, a.expAvgSq]);
  }
  return results;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const tempDir = options.addon ? useAddon(options.addon) : null;
  try {
    const m = require(path.join(root, "dist"));
    const info = m.backends();
    const results = runCases(m);
    console.log(JSON.stringify({ arch: process.arch, cpuKernel: info.cpu.kernel, cudaCompiled: info.cuda.compiled, results }, null, 2));
    if (options.write) fs.writeFileSync(options.write, JSON.stringify(results, null, 2) + "\n");
    if (options.expect) {
      const expected = JSON.parse(fs.readFileSync(options.expect, "utf8"));
      const names = new Set([...Object.keys(expected), ...Object.keys(results)]);
      const differ = [...names].filter((name) => expected[name] !== results[name]);
      if (differ.length) throw new Error(`check-prebuild: ${differ.length} case(s) differ from ${options.expect}: ${differ.join(", ")}`);
      console.error(`check-prebuild: all ${names.size} cases match ${path.relative(process.cwd(), options.expect)}`);
    }
  } finally {
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
  }
}

try {
  main();
} catch (error) {
  console.error(error.message);
  process.exitCode = 1;
}
