// A worker_threads worker that loads its own instance of the addon (it is context-aware) and
// steps its own states, sync and async mixed, then posts the resulting bytes back.
// Also runnable on the main thread (computeRun) to give the expected bytes.
import { parentPort, workerData } from "worker_threads";
import { createMicroAdamState, microAdamStep, microAdamStepAsync, MicroAdam, setNumThreads } from "../../lib";

export interface RunSpec {
  seed: number;
  numel: number;
  steps: number;
  /** Change the process-wide thread count mid-run (the pool is shared by every worker). */
  threads?: number[];
}

function wave(n: number, seed: number): Float32Array {
  let x = (seed * 2654435761) >>> 0;
  return Float32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296 - 0.5;
  });
}

export async function computeRun(spec: RunSpec): Promise<{ params: Uint8Array; state: Uint8Array; optimizer: Uint8Array }> {
  const layout = { topkBlockSize: 512, quantBlockSize: 32, window: 5, density: 0.02 };
  const state = createMicroAdamState({ numel: spec.numel, ...layout });
  const params = wave(spec.numel, spec.seed);
  const optParams = [wave(1000, spec.seed + 1), wave(77, spec.seed + 2)];
  const opt = new MicroAdam(optParams, { denseBelow: 0, lr: 0.01, ...layout });
  for (let t = 1; t <= spec.steps; t++) {
    const grads = wave(spec.numel, spec.seed * 1000 + t);
    if (spec.threads) setNumThreads(spec.threads[t % spec.threads.length]);
    if (t % 2) microAdamStep(state, params, grads, { lr: 0.001, weightDecay: 0.01 });
    else await microAdamStepAsync(state, params, grads, { lr: 0.001, weightDecay: 0.01 });
    await opt.stepAsync([grads.subarray(0, 1000), grads.subarray(1000, 1077)]);
  }
  const result = { params: new Uint8Array(params.buffer), state: state.toBuffer(), optimizer: opt.toBuffer() };
  state.dispose();
  opt.dispose();
  return result;
}

if (parentPort && workerData) {
  const port = parentPort;
  computeRun(workerData as RunSpec).then(
    (result) => port.postMessage(result),
    (error) => port.postMessage({ error: String(error?.stack ?? error) }),
  );
}
