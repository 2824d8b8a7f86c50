// api: every entry point of the TypeScript facade, with one argument or field made hostile in an
// otherwise valid call, or hostile values throughout.
import fc from "fast-check";
import * as fs from "fs";
import * as path from "path";
import { createMicroAdamState, loadState, MicroAdam, MicroAdamState, microAdamStep, microAdamStepAsync, saveState, setNumThreads, stateToBuffer } from "../../lib";
import { attempt, attemptAsync, Fixture, tempDir } from "./fixture";
import { build, hostile, mostly, type BuildContext, type Recipe } from "./hostile";

const validOptions = fc.record(
  {
    numel: fc.integer({ min: 1, max: 3000 }),
    window: fc.integer({ min: 1, max: 12 }),
    density: fc.double({ min: 1e-6, max: 1, noNaN: true }).filter((d) => d > 0),
    topkBlockSize: fc.constantFrom(16, 64, 128, 4096),
    quantBlockSize: fc.constantFrom(2, 16),
  },
  { requiredKeys: ["numel"] },
);

type Choice<T> = { valid: T } | { hostile: Recipe };
const arg = <T>(choice: Choice<T>, ctx: BuildContext, valid: (v: T) => unknown) =>
  "valid" in choice ? valid(choice.valid) : build(choice.hostile, ctx);

/** Hostile option objects: a valid object with one field replaced, or anything at all. */
function optionsWith(keys: readonly string[]) {
  return fc.oneof(
    fc.record({ key: fc.constantFrom(...keys, "typo"), value: hostile }).map((r) => ({ field: r })),
    hostile.map((h) => ({ whole: h })),
  );
}
function buildOptions(o: { field: { key: string; value: Recipe } } | { whole: Recipe }, base: Record<string, unknown>, ctx: BuildContext) {
  return "whole" in o ? build(o.whole, ctx) : { ...base, [o.field.key]: build(o.field.value, ctx) };
}

export async function apiTarget(runs: number, seed: number): Promise<void> {
  const dir = tempDir();
  const fix = new Fixture(dir);
  const base = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, alpha: 0.1, nonFinite: "skip" };
  const stepOptions = optionsWith(Object.keys(base));
  const run = async (what: string, fn: () => unknown, isAsync = false) => {
    fix.heal();
    const before = fix.record();
    const threw = isAsync ? await attemptAsync(what, fn) : attempt(what, fn);
    if (threw) fix.checkUnchanged(before, what);
    fix.cleanup();
  };
  const tensorArg = mostly(fc.constantFrom("params", "grads", "bf16", "f16"));
  const tensorOf = (fixture: Fixture, which: string) =>
    which === "params" ? fixture.params : which === "grads" ? fixture.grads :
    { data: Uint16Array.from(fixture.grads, (g) => Math.round(Math.abs(g) * 1000)), dtype: which };
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("create", "step", "stepAsync", "restore", "optimizer", "threads", "checkpoint"),
      mostly(fc.constant("fixture")), tensorArg, tensorArg, stepOptions,
      mostly(validOptions), hostile, hostile, fc.nat(1000),
      async (which, stateChoice, paramsChoice, gradsChoice, options, createOptions, h1, h2, n) => {
        fix.heal();
        const ctx = fix.context(true);
        const stateArg = () => arg(stateChoice, ctx, () => fix.state);
        // Grads built as a valid Float32Array stand in for params too (the params must be the fixture's to be checked).
        const paramsArg = () => arg(paramsChoice, ctx, (w) => (w === "grads" ? fix.params : tensorOf(fix, w)));
        const gradsArg = () => arg(gradsChoice, ctx, (w) => tensorOf(fix, w === "params" ? "grads" : w));
        switch (which) {
          case "create":
            await run("createMicroAdamState", () => {
              const o = "valid" in createOptions ? { ...createOptions.valid, device: "cpu" } : build(createOptions.hostile, ctx);
              createMicroAdamState(o as never).dispose();
            });
            break;
          case "step":
            await run("microAdamStep", () => microAdamStep(stateArg() as never, paramsArg() as never, gradsArg() as never, buildOptions(options, base, ctx) as never));
            break;
          case "stepAsync":
            await run("microAdamStepAsync", () => microAdamStepAsync(stateArg() as never, paramsArg() as never, gradsArg() as never, buildOptions(options, base, ctx) as never), true);
            break;
          case "restore": {
            const snapshot = fix.state.snapshot() as unknown as Record<string, unknown>;
            const keys = Object.keys(snapshot);
            // A real snapshot with one field hostile, or with one window index pushed out of range.
            const forged = n % 3 === 0 ? build(h1, ctx) : { ...snapshot, [keys[n % keys.length]]: build(h1, ctx) };
            if (n % 3 === 1) (snapshot.windowIndices as Uint16Array)[n % (snapshot.windowIndices as Uint16Array).length] = 1000 + n;
            await run("MicroAdamState.restore", () => fix.state.restore((n % 3 === 1 ? snapshot : forged) as never));
            break;
          }
          case "optimizer": {
            const opt = fix.optimizer;
            const sd = opt.stateDict() as unknown as Record<string, unknown>;
            const keys = Object.keys(sd);
            await run("new MicroAdam", () => new MicroAdam(build(h1, ctx) as never, { denseBelow: 0, lr: 0.1 }).dispose());
            await run("new MicroAdam(options)", () => new MicroAdam([new Float32Array(5)], buildOptions(options, base, ctx) as never).dispose());
            await run("new MicroAdam({ denseBelow })", () => new MicroAdam([new Float32Array(5), new Float32Array(300)], { lr: 0.1, denseBelow: build(h2, ctx) } as never).dispose());
            await run("MicroAdam.step", () => opt.step([gradsArg(), build(h2, ctx)] as never));
            await run("MicroAdam.stepAsync", () => opt.stepAsync(build(h2, ctx) as never), true);
            await run("MicroAdam.loadStateDict", () => opt.loadStateDict((n % 2 ? { ...sd, [keys[n % keys.length]]: build(h1, ctx) } : build(h1, ctx)) as never));
            break;
          }
          case "threads":
            await run("setNumThreads", () => setNumThreads(build(h1, ctx) as never));
            setNumThreads(2);
            break;
          case "checkpoint": {
            const file = path.join(dir, `f${n % 5}`);
            const target = n % 2 ? fix.optimizer : fix.state;
            const hostileTarget = () => (n % 3 === 0 ? build(h2, ctx) : target);
            await run("saveState", () => saveState(hostileTarget() as never, (n % 4 === 0 ? file : build(h1, ctx)) as never));
            await run("stateToBuffer", () => stateToBuffer(hostileTarget() as never));
            await run("loadState", () => loadState(hostileTarget() as never, (n % 4 === 0 ? file : build(h1, ctx)) as never));
            await run("MicroAdamState.loadBuffer", () => fix.state.loadBuffer(build(h1, ctx) as never));
            await run("MicroAdamState.fromBuffer", () => MicroAdamState.fromBuffer(fix.state.toBuffer(), build(h2, ctx) as never).dispose());
            await run("MicroAdamState.fromFile", () => MicroAdamState.fromFile(build(h1, ctx) as never).dispose());
            await run("MicroAdam.loadBuffer", () => fix.optimizer.loadBuffer(build(h1, ctx) as never));
            break;
          }
        }
      },
    ),
    { numRuns: runs, seed },
  );
  fs.rmSync(dir, { recursive: true, force: true });
}
