// native: the raw binding (require('lib/binding').binding), bypassing every TypeScript check:
// the constructor, step and stepAsync with one fault in an otherwise valid call (arrays whose
// element getters detach or shrink a buffer of the same call included), every method and
// accessor with hostile receivers, forged snapshots, thread counts, and the AdamW functions.
import fc from "fast-check";
import { binding } from "../../lib/binding";
import { attempt, attemptAsync, Fixture, HYPER, NATIVE_LAYOUT, tempDir } from "./fixture";
import { build, hostile, mostly, sabotageArray, typedRecipe, type BuildContext, type Recipe } from "./hostile";

/** One of the step's three arrays: valid, or hostile as a whole, in an element, or in how it is read. */
const stepArray = fc.record({
  shape: fc.constantFrom("plain", "plain", "sabotage-detach", "sabotage-shrink", "extra", "empty", "hostile"),
  element: fc.oneof(
    { weight: 3, arbitrary: fc.constant<{ valid: true } | { hostile: Recipe }>({ valid: true }) },
    { weight: 2, arbitrary: typedRecipe(["Float32Array", "Uint16Array"]).map((h) => ({ hostile: h })) },
    { weight: 1, arbitrary: hostile.map((h) => ({ hostile: h })) },
  ),
  whole: hostile,
});
type StepArray = typeof stepArray extends fc.Arbitrary<infer T> ? T : never;

function buildStepArray(a: StepArray, valid: () => unknown, ctx: BuildContext, victim: number): unknown {
  const element = () => ("valid" in a.element ? valid() : build(a.element.hostile, ctx));
  switch (a.shape) {
    case "plain": return [element()];
    case "extra": return [element(), element()];
    case "empty": return [];
    case "hostile": return build(a.whole, ctx);
    default: {
      // The element is read through a getter that first detaches or shrinks a buffer of this call.
      return sabotageArray([element()], victim, a.shape === "sabotage-shrink" ? "shrink" : "detach", ctx);
    }
  }
}

const NATIVE_METHODS = ["numel", "step", "stateBytes", "busy", "device", "layout", "snapshot", "restore", "dispose"] as const;
const ADAMW_METHODS = ["numel", "step", "stateBytes", "busy", "snapshot", "restore", "dispose"] as const;

function callMember(proto: object, name: string, receiver: unknown, args: unknown[]): unknown {
  const d = Object.getOwnPropertyDescriptor(proto, name);
  if (!d) throw new Error(`no member ${name}`);
  return d.get ? d.get.call(receiver) : (d.value as (...a: unknown[]) => unknown).apply(receiver, args);
}

export async function nativeTarget(runs: number, seed: number): Promise<void> {
  const fix = new Fixture(tempDir(), 40_000);
  const run = async (what: string, fn: () => unknown, isAsync = false) => {
    fix.heal();
    const before = fix.record();
    const threw = isAsync ? await attemptAsync(what, fn) : attempt(what, fn);
    if (threw) fix.checkUnchanged(before, what);
    fix.cleanup();
  };
  const validArg = fc.constant(true);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("construct", "step", "step", "step", "stepAsync", "stepAsync", "members", "restore", "threads", "adamw"),
      fc.tuple(mostly(validArg), mostly(validArg), mostly(validArg), mostly(validArg), mostly(validArg), mostly(validArg)),
      fc.constantFrom(...NATIVE_METHODS), hostile, hostile, fc.nat(1000), fc.tuple(stepArray, stepArray, stepArray),
      async (which, args, member, h1, h2, n, arrays) => {
        fix.heal();
        const ctx = fix.context(false);
        // Valid arguments of one step on the fixture; each may be swapped for a hostile one.
        const stepArgs = () => {
          ctx.buffers.push(fix.params.buffer as ArrayBuffer, fix.grads.buffer as ArrayBuffer);
          const elements = [() => fix.state.native, () => fix.params, () => fix.grads];
          const valid = [() => new Uint8Array(2), () => HYPER.slice(), () => n % 3];
          // Mostly one fault in an otherwise valid call (so the checks after the first are reached too).
          const fault = n % 4 === 0 ? -1 : n % 6;
          const plain: StepArray = { ...arrays[0], shape: "plain", element: { valid: true } };
          const lists = arrays.map((a, i) => buildStepArray(fault === -1 || fault === i ? a : plain, elements[i], ctx, n));
          return [...lists, ...args.slice(3).map((choice, i) => (fault !== -1 && fault !== i + 3) || "valid" in choice ? valid[i]() : build(choice.hostile, ctx))];
        };
        switch (which) {
          case "construct":
            await run("new NativeState", () => {
              const o = n % 2 ? build(h1, ctx) : { ...NATIVE_LAYOUT, numel: 100, [["numel", "window", "density", "topkBlockSize", "quantBlockSize"][n % 5]]: build(h1, ctx) };
              new binding.NativeState(o as never).dispose();
            });
            break;
          case "step":
            await run("binding.step", () => (binding.step as (...a: unknown[]) => unknown)(...stepArgs()));
            break;
          case "stepAsync":
            await run("binding.stepAsync", () => (binding.stepAsync as (...a: unknown[]) => unknown)(...stepArgs()), true);
            break;
          case "members": {
            const receiver = n % 2 ? fix.state.native : build(h1, ctx);
            await run(`NativeState.prototype.${member}`, () => callMember(binding.NativeState.prototype, member, receiver, [build(h2, ctx)]));
            break;
          }
          case "restore": {
            const snapshot = fix.state.native.snapshot() as unknown as Record<string, unknown>;
            const keys = Object.keys(snapshot);
            const forged = n % 2 ? build(h1, ctx) : { ...snapshot, [keys[n % keys.length]]: build(h1, ctx) };
            await run("NativeState.restore", () => fix.state.native.restore(forged as never));
            break;
          }
          case "threads":
            await run("binding.setNumThreads", () => binding.setNumThreads(build(h1, ctx) as never));
            await run("binding.getNumThreads", () => (binding.getNumThreads as (...a: unknown[]) => unknown)(build(h1, ctx)));
            await run("binding.buildInfo", () => (binding.buildInfo as (...a: unknown[]) => unknown)(build(h1, ctx)));
            binding.setNumThreads(2);
            break;
          case "adamw": {
            const adamw = fix.context(false).states.adamw() as object;
            await run("new NativeAdamWState", () => new binding.NativeAdamWState(build(h1, ctx) as never).dispose());
            await run("binding.adamWStep", () => (binding.adamWStep as (...a: unknown[]) => unknown)(...stepArgs()));
            await run("binding.adamWStepAsync", () => (binding.adamWStepAsync as (...a: unknown[]) => unknown)([adamw], [build(h1, ctx)], [build(h2, ctx)], new Uint8Array(2), HYPER.slice(0, 6), 0), true);
            const name = ADAMW_METHODS[n % ADAMW_METHODS.length];
            await run(`NativeAdamWState.prototype.${name}`, () => callMember(binding.NativeAdamWState.prototype, name, n % 2 ? fix.state.native : build(h1, ctx), [build(h2, ctx)]));
            break;
          }
        }
      },
    ),
    { numRuns: runs, seed },
  );
}
