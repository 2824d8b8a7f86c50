// Memory of a large MicroAdam step, measured in a fresh child process so that nothing else
// the benchmark allocated is counted: resident memory before and the peak during the step.
import { execFileSync } from "child_process";
import * as path from "path";

export interface MemoryResult {
  numel: number;
  stateBytes: number;
  stateBytesPerParam: number;
  rssBeforeStepBytes: number;
  peakRssDuringStepsBytes: number;
  /** How far the steps raised the peak above max(RSS before, earlier peak): the step's own
   * allocations (per-thread block scratch) or any hidden copy; 0 when no new peak was set. */
  stepGrowthBytes: number;
}

const PROBE = `
const m = require(process.argv[1]);
const n = Number(process.argv[2]);
const params = new Float32Array(n), grads = new Float32Array(n);
for (let i = 0; i < n; i++) { params[i] = Math.sin(i); grads[i] = Math.cos(i * 0.37); }
const state = m.createMicroAdamState({ numel: n });
if (global.gc) global.gc();
const before = process.memoryUsage().rss;
const peakBefore = process.resourceUsage().maxRSS * 1024;
for (let t = 0; t < 3; t++) m.microAdamStep(state, params, grads, { lr: 1e-3 });
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ stateBytes: state.stateBytes, before, peakBefore, peak }));
`;

export function measureMemory(numel: number): MemoryResult {
  const lib = path.join(__dirname, "..", "..", "lib");
  const out = execFileSync(process.execPath, ["--expose-gc", "-r", "ts-node/register/transpile-only", "-e", PROBE, lib, String(numel)], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  const r = JSON.parse(out.trim().split("\n").pop()!);
  return {
    numel,
    stateBytes: r.stateBytes,
    stateBytesPerParam: r.stateBytes / numel,
    rssBeforeStepBytes: r.before,
    peakRssDuringStepsBytes: r.peak,
    stepGrowthBytes: Math.max(0, r.peak - Math.max(r.before, r.peakBefore)),
  };
}
