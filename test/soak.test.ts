// A small soak (bench/soak.ts runs the long one): sync and async steps with checkpoints saved,
// loaded and re-created from file along the way. Memory stays flat, no handle is left behind,
// and the run ends bit-identical to the same steps taken without any checkpointing.
import { createMicroAdamState, microAdamStep } from "../lib";
import { runSoak, soakGradients } from "../bench/soak";

test("5,000 steps on 100k parameters: flat memory, no leaked handles", async () => {
  const steps = 5000;
  const numel = 100_000;
  const result = await runSoak({ steps, numel, checkpointEvery: 250, sampleEvery: 100, warmupSteps: 1000 });
  expect(result.syncSteps + result.asyncSteps).toBe(steps);
  expect(result.checkpointsSaved).toBe(20);
  expect(result.statesRecreated).toBe(10);
  // Jest's own timers and requests come and go; what the soak left open would be extra at the end.
  const count = (list: string[]) => list.reduce((m, r) => m.set(r, (m.get(r) ?? 0) + 1), new Map<string, number>());
  const before = count(result.resourcesBefore);
  const extra = [...count(result.resourcesAfter)].filter(([kind, n]) => kind !== "Timeout" && n > (before.get(kind) ?? 0));
  expect(extra).toEqual([]);
  // The state is 100 KB; a leak of even 1 KB per step would add 4 MB here.
  expect(result.rssGrowthBytes).toBeLessThan(8 * 2 ** 20);
  expect(result.rssSlopeBytesPerStep).toBeLessThan(1024);
}, 120_000);

test("checkpointing along the way changes no bits", async () => {
  // runSoak's inputs, replayed without saves, loads or re-created states.
  const steps = 600;
  const numel = 30_000;
  const soaked = await runSoak({ steps, numel, checkpointEvery: 50, sampleEvery: 600, warmupSteps: 0 });
  expect(soaked.statesRecreated).toBe(6);
  const state = createMicroAdamState({ numel });
  const params = new Float32Array(numel).fill(0.25);
  const grads = soakGradients(numel);
  for (let t = 1; t <= steps; t++) microAdamStep(state, params, grads[t % 8], { lr: 1e-3, weightDecay: 0.01, alpha: t % 7 === 0 ? 0.1 : 0 });
  expect(Buffer.from(soaked.finalParams.buffer).equals(Buffer.from(params.buffer))).toBe(true);
  expect(soaked.finalState.equals(state.toBuffer())).toBe(true);
});
