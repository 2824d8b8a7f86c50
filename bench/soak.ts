// Soak: many steps on one big state, sync and async mixed, with a checkpoint saved, loaded back
// and re-created from its file every so often. Resident memory must stay flat and no handle may
// be left behind; the figures go to docs/reliability.md.
//
//   nice -n 15 npx ts-node bench/soak.ts [--steps 20000] [--numel 1000000] [--checkpoint-every 500]
//                                        [--out bench/results/soak.json]
//
// test/soak.test.ts runs runSoak() small.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { createMicroAdamState, MicroAdamState, microAdamStep, microAdamStepAsync } from "../lib";

export interface SoakOptions {
  steps: number;
  numel: number;
  checkpointEvery: number;
  /** Memory is sampled this often (steps). */
  sampleEvery: number;
  /** Steps before the baseline sample: allocator pools and JIT settle first. */
  warmupSteps: number;
  onProgress?: (sample: SoakSample) => void;
}

export interface SoakSample {
  step: number;
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  activeResources: number;
  msPerStep: number;
}

export interface SoakResult {
  options: Omit<SoakOptions, "onProgress">;
  syncSteps: number;
  asyncSteps: number;
  checkpointsSaved: number;
  checkpointsLoaded: number;
  statesRecreated: number;
  /** RSS at the end of warmup, at the end, and the smallest and largest seen after warmup. */
  rssBaselineBytes: number;
  rssFinalBytes: number;
  rssMinBytes: number;
  rssMaxBytes: number;
  rssGrowthBytes: number;
  /** Least-squares slope of RSS over the samples after warmup. */
  rssSlopeBytesPerStep: number;
  /** Active handles and requests (process.getActiveResourcesInfo) before the run and after it. */
  resourcesBefore: string[];
  resourcesAfter: string[];
  seconds: number;
  samples: SoakSample[];
  /** The params and the state's checkpoint at the end, to compare with a run without checkpoints. */
  finalParams: Float32Array;
  finalState: Buffer;
}

/** The gradients the soak cycles through (grads[t % count] at step t), from a fixed LCG. */
export function soakGradients(numel: number, count = 8): Float32Array[] {
  return Array.from({ length: count }, (_, k) => {
    let x = (k + 1) * 2654435761;
    return Float32Array.from({ length: numel }, () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return (x / 4294967296 - 0.5) * 0.1;
    });
  });
}

function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { steps, numel, checkpointEvery, sampleEvery, warmupSteps } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-soak-"));
  const file = path.join(dir, "soak.madam");
  const resourcesBefore = process.getActiveResourcesInfo();
  const grads = soakGradients(numel);
  const params = new Float32Array(numel).fill(0.25);
  let state = createMicroAdamState({ numel });
  const counts = { syncSteps: 0, asyncSteps: 0, checkpointsSaved: 0, checkpointsLoaded: 0, statesRecreated: 0 };
  const samples: SoakSample[] = [];
  const started = Date.now();
  let lastSampleTime = started;

  for (let t = 1; t <= steps; t++) {
    const g = grads[t % grads.length];
    const hyper = { lr: 1e-3, weightDecay: 0.01, alpha: t % 7 === 0 ? 0.1 : 0 };
    if (t % 3 === 0) {
      await microAdamStepAsync(state, params, g, hyper);
      counts.asyncSteps++;
    } else {
      microAdamStep(state, params, g, hyper);
      counts.syncSteps++;
    }
    if (t % checkpointEvery === 0) {
      state.save(file);
      counts.checkpointsSaved++;
      state.load(file); // the same content: a no-op that reads, checks and restores everything
      counts.checkpointsLoaded++;
      if ((t / checkpointEvery) % 2 === 0) {
        // Every other time, carry on with a new state made from the file: allocation and free.
        const next = MicroAdamState.fromFile(file);
        if (!next.toBuffer().equals(state.toBuffer())) throw new Error(`step ${t}: the re-created state differs`);
        state.dispose();
        state = next;
        counts.statesRecreated++;
      }
      if (state.step !== t) throw new Error(`step ${t}: the state counts ${state.step} steps`);
    }
    if (t % sampleEvery === 0) {
      const m = process.memoryUsage();
      const now = Date.now();
      const sample: SoakSample = {
        step: t,
        rssBytes: m.rss,
        heapUsedBytes: m.heapUsed,
        externalBytes: m.external,
        arrayBuffersBytes: m.arrayBuffers,
        activeResources: process.getActiveResourcesInfo().length,
        msPerStep: (now - lastSampleTime) / sampleEvery,
      };
      lastSampleTime = now;
      samples.push(sample);
      options.onProgress?.(sample);
    }
  }
  const finalState = state.toBuffer();
  state.dispose();
  fs.rmSync(dir, { recursive: true, force: true });

  const settled = samples.filter((s) => s.step >= warmupSteps);
  const baseline = settled[0] ?? samples[0];
  const final = samples[samples.length - 1];
  return {
    options: { steps, numel, checkpointEvery, sampleEvery, warmupSteps },
    ...counts,
    rssBaselineBytes: baseline.rssBytes,
    rssFinalBytes: final.rssBytes,
    rssMinBytes: Math.min(...settled.map((s) => s.rssBytes)),
    rssMaxBytes: Math.max(...settled.map((s) => s.rssBytes)),
    rssGrowthBytes: final.rssBytes - baseline.rssBytes,
    rssSlopeBytesPerStep: slope(settled.map((s) => [s.step, s.rssBytes])),
    resourcesBefore,
    resourcesAfter: process.getActiveResourcesInfo(),
    seconds: (Date.now() - started) / 1000,
    samples,
    finalParams: params,
    finalState,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: "string", default: "20000" },
      numel: { type: "string", default: "1000000" },
      "checkpoint-every": { type: "string", default: "500" },
      out: { type: "string", default: path.join(__dirname, "results", "soak.json") },
    },
  });
  const steps = Number(values.steps);
  const numel = Number(values.numel);
  const MB = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(`soak: ${steps} steps on ${numel} parameters, checkpoint every ${values["checkpoint-every"]} steps`);
  const result = await runSoak({
    steps,
    numel,
    checkpointEvery: Number(values["checkpoint-every"]),
    sampleEvery: 100,
    // The first steps grow V8's heap and the allocator's pools (re-created states, checkpoint
    // buffers) until garbage collection settles; growth is measured after that.
    warmupSteps: Math.floor(steps / 5),
    onProgress: (s) => {
      if (s.step % 1000 === 0)
        console.log(`step ${s.step}: rss ${MB(s.rssBytes)} MB, heap ${MB(s.heapUsedBytes)} MB, array buffers ${MB(s.arrayBuffersBytes)} MB, ${s.activeResources} active resources, ${s.msPerStep.toFixed(2)} ms/step`);
    },
  });
  const { samples, finalParams: _params, finalState: _state, ...summary } = result;
  const report = {
    ...summary,
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.arch()}` },
    date: new Date().toISOString(),
    samples,
  };
  fs.mkdirSync(path.dirname(values.out!), { recursive: true });
  fs.writeFileSync(values.out!, JSON.stringify(report, null, 2) + "\n");
  console.log(
    `done in ${result.seconds.toFixed(0)} s: ${result.syncSteps} sync + ${result.asyncSteps} async steps, ` +
      `${result.checkpointsSaved} saves, ${result.checkpointsLoaded} loads, ${result.statesRecreated} states re-created; ` +
      `rss after warmup (step ${result.options.warmupSteps}) ${MB(result.rssBaselineBytes)} -> ${MB(result.rssFinalBytes)} MB at the end ` +
      `(growth ${MB(result.rssGrowthBytes)} MB, range ${MB(result.rssMinBytes)}-${MB(result.rssMaxBytes)} MB, ` +
      `slope ${result.rssSlopeBytesPerStep.toFixed(1)} B/step); active resources before [${result.resourcesBefore}] after [${result.resourcesAfter}]`,
  );
  console.log(`results: ${values.out}`);
}

if (require.main === module) void main();
