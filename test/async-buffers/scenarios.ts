// Buffers taken away from an async step while it runs, in a child process run by
// test/async-buffers.test.ts so that a crash is an exit status. Usage: scenarios.ts <name>...
// Prints "ok <name>" for each scenario that held, "FAIL <name>: <why>" otherwise.
//
// Every scenario starts a step, then (before it can settle) detaches, transfers or resizes one of
// its arrays and runs the garbage collector, and checks what docs/reliability.md promises:
//   params taken away: the promise rejects with ERR_MICROADAM_DETACHED naming them; the state and
//     the memory the params had (now elsewhere) are unchanged; the state is free for the next step;
//   grads taken away: the step completes from the values the grads had when it was called,
//     bit-identical to the same step on intact arrays.
// The driver runs this with --expose-gc and glibc's mmap threshold at 64 KB, so freed tensor
// memory is unmapped at once and a write into it is a crash, not silent damage.
import { MessageChannel } from "worker_threads";
import {
  AdamW,
  adamWStep,
  adamWStepAsync,
  createAdamWState,
  createMicroAdamState,
  MicroAdam,
  microAdamStep,
  microAdamStepAsync,
  type AdamWState,
  type MicroAdamState,
} from "../../lib";
import { binding } from "../../lib/binding";

const n = 1 << 20;
const gc = (globalThis as { gc?: () => void }).gc!;
const options = { lr: 0.01, weightDecay: 0.1 };

type Kind = "microadam" | "adamw";
type State = MicroAdamState | AdamWState;

const waves = new Map<string, Float32Array>();

/** A fresh array of deterministic values (computed once per length and seed). */
function wave(length: number, seed: number): Float32Array {
  const key = `${length}/${seed}`;
  let values = waves.get(key);
  if (values === undefined) {
    values = new Float32Array(length);
    for (let i = 0; i < length; i++) values[i] = Math.sin(i * 0.37 + seed);
    waves.set(key, values);
  }
  return values.slice();
}

function createState(kind: Kind): State {
  return kind === "microadam" ? createMicroAdamState({ numel: n }) : createAdamWState({ numel: n });
}

/** The state's bytes, to compare before and after. */
function stateBytes(state: State): Buffer {
  const s = state.snapshot() as unknown as Record<string, unknown>;
  const parts = Object.keys(s)
    .sort()
    .map((k) => (ArrayBuffer.isView(s[k]) ? Buffer.from((s[k] as Uint8Array).buffer) : Buffer.from(String(s[k]))));
  return Buffer.concat(parts);
}

function syncStep(kind: Kind, state: State, params: Float32Array, grads: Float32Array): void {
  if (kind === "microadam") microAdamStep(state as MicroAdamState, params, grads, options);
  else adamWStep(state as AdamWState, params, grads, options);
}

function asyncStep(kind: Kind, state: State, params: Float32Array, grads: Float32Array): Promise<unknown> {
  return kind === "microadam"
    ? microAdamStepAsync(state as MicroAdamState, params, grads, options)
    : adamWStepAsync(state as AdamWState, params, grads, options);
}

/** A state and params after one warm-up step, with a twin stepped the same way for reference. */
function setup(kind: Kind) {
  const state = createState(kind);
  const params = wave(n, 1);
  syncStep(kind, state, params, wave(n, 2));
  const twin = createState(kind);
  const twinParams = wave(n, 1);
  syncStep(kind, twin, twinParams, wave(n, 2));
  return { state, params, twin, twinParams };
}

function check(condition: boolean, why: string): void {
  if (!condition) throw new Error(why);
}

function detachedMessage(name: string): string {
  return `Expected ${name} to keep its buffer until its async step settled but the buffer was detached; the step was undone: params and state are unchanged`;
}

/** The promise rejects with a TypeError with exactly `message` and code ERR_MICROADAM_DETACHED. */
async function expectDetached(pending: Promise<unknown>, message: string): Promise<void> {
  const outcome = await pending.then(
    () => "resolved",
    (e: Error & { code?: string }) => `${e.constructor.name} ${e.code}: ${e.message}`,
  );
  check(outcome === `TypeError ERR_MICROADAM_DETACHED: ${message}`, `expected the rejection "${message}", got ${outcome}`);
}

function transfer(buffer: ArrayBufferLike): ArrayBuffer {
  return structuredClone(buffer as ArrayBuffer, { transfer: [buffer as ArrayBuffer] });
}

/**
 * Occupies libuv's threads (the driver sets UV_THREADPOOL_SIZE=2) with two long steps, so that a
 * step started next waits in the queue: whatever is done to its arrays meanwhile happens before
 * the engine could have read them.
 */
function occupyThreads(): Promise<unknown> {
  const big = 1 << 22;
  return Promise.all(
    [1, 2].map((seed) => microAdamStepAsync(createMicroAdamState({ numel: big }), wave(big, seed), wave(big, seed + 1), options)),
  );
}

function collect(): void {
  for (let i = 0; i < 3; i++) {
    gc();
    new ArrayBuffer(n * 4); // reuse what was freed, if anything still pointed there
  }
}

/** Params detached (kept elsewhere, or dropped and collected) while a function-form step runs. */
async function paramsDetached(kind: Kind, keep: boolean, when: "queued" | "running"): Promise<void> {
  const { state, params, twin, twinParams } = setup(kind);
  const before = stateBytes(state);
  const original = Buffer.from(params.buffer.slice(0));
  const busy = when === "queued" ? occupyThreads() : null;
  const pending = asyncStep(kind, state, params, wave(n, 3));
  // Running: the worker is stepping while this thread spins; without a turn of the event loop
  // the step cannot settle first.
  if (when === "running") for (const end = Date.now() + 3; Date.now() < end; );
  let moved: ArrayBuffer | null = transfer(params.buffer);
  if (!keep) moved = null;
  collect();
  await expectDetached(pending, detachedMessage("params"));
  await busy;
  check(stateBytes(state).equals(before), "the state changed");
  if (moved) check(Buffer.from(moved).equals(original), "the params' memory was written after it was detached");
  // The state is free and exactly as it was: its next step equals the twin's.
  const fresh = Float32Array.from(twinParams);
  await asyncStep(kind, state, fresh, wave(n, 4));
  await asyncStep(kind, twin, twinParams, wave(n, 4));
  check(Buffer.from(fresh.buffer).equals(Buffer.from(twinParams.buffer)), "the next step's params differ from the twin's");
  check(stateBytes(state).equals(stateBytes(twin)), "the next step's state differs from the twin's");
}

/**
 * Grads detached while the step waits to run, then overwritten where they went or collected: it
 * completes from the values they had when it was called.
 */
async function gradsDetached(kind: Kind, then: "overwritten" | "collected"): Promise<void> {
  const { state, params, twin, twinParams } = setup(kind);
  let grads: Float32Array | null = wave(n, 3);
  const busy = occupyThreads();
  const pending = asyncStep(kind, state, params, grads);
  const moved = transfer(grads.buffer);
  if (then === "overwritten") new Float32Array(moved).fill(123);
  grads = null;
  collect();
  await Promise.all([pending, busy]);
  syncStep(kind, twin, twinParams, wave(n, 3));
  check(Buffer.from(params.buffer).equals(Buffer.from(twinParams.buffer)), "params differ from the same step on intact grads");
  check(stateBytes(state).equals(stateBytes(twin)), "the state differs from the same step on intact grads");
}

/** The class form: the second tensor's params go to another thread's port; nothing is written. */
async function optimizerParamsDetached(kind: Kind): Promise<void> {
  const make = (params: Float32Array[]) =>
    kind === "microadam" ? new MicroAdam(params, { ...options, denseBelow: 0 }) : new AdamW(params, options);
  const params = [wave(n, 1), wave(n, 2)];
  const opt = make(params);
  await opt.stepAsync([wave(n, 3), wave(n, 4)]);
  const before = opt.states.map(stateBytes);
  const firstBefore = Buffer.from(params[0].buffer.slice(0));
  const secondBefore = Buffer.from(params[1].buffer.slice(0));
  const busy = occupyThreads();
  const pending = opt.stepAsync([wave(n, 5), wave(n, 6)]);
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<ArrayBuffer>((resolve) => port2.once("message", resolve));
  port1.postMessage(params[1].buffer, [params[1].buffer as ArrayBuffer]);
  collect();
  await expectDetached(pending, detachedMessage("params[0].params[1]"));
  await busy;
  const moved = await received;
  port1.close();
  check(opt.states.every((s, i) => stateBytes(s).equals(before[i])), "a state changed");
  check(Buffer.from(params[0].buffer).equals(firstBefore), "the first tensor's params were written");
  check(Buffer.from(moved).equals(secondBefore), "the detached params' memory was written");
  check(opt.stepCount === 1, `stepCount is ${opt.stepCount}, expected 1`);
  // The optimizer steps on with a replacement tensor.
  opt.paramGroups[0].params[1] = Float32Array.from(new Float32Array(moved));
  await opt.stepAsync([wave(n, 5), wave(n, 6)]);
  check(opt.stepCount === 2, `stepCount is ${opt.stepCount} after the next step, expected 2`);
}

/** Params in a WebAssembly memory that grows (which detaches its old buffer) during the step. */
async function wasmMemoryGrows(kind: Kind): Promise<void> {
  // (WebAssembly is not in the ES2022 typings.)
  const { WebAssembly: wasm } = globalThis as unknown as {
    WebAssembly: { Memory: new (o: { initial: number; maximum: number }) => { buffer: ArrayBuffer; grow(pages: number): void } };
  };
  const memory = new wasm.Memory({ initial: (n * 4) / 65536, maximum: (n * 8) / 65536 });
  const params = new Float32Array(memory.buffer, 0, n);
  params.set(wave(n, 1));
  const state = createState(kind);
  const before = stateBytes(state);
  const busy = occupyThreads();
  const pending = asyncStep(kind, state, params, wave(n, 3));
  memory.grow(1);
  collect();
  await expectDetached(pending, detachedMessage("params"));
  await busy;
  check(stateBytes(state).equals(before), "the state changed");
  check(Buffer.from(memory.buffer, 0, n * 4).equals(Buffer.from(wave(n, 1).buffer)), "the memory was written");
}

type Resizable = ArrayBuffer & { resize(bytes: number): void };
function resizable(values: Float32Array): Float32Array {
  const buffer = new (ArrayBuffer as unknown as new (bytes: number, o: { maxByteLength: number }) => Resizable)(values.byteLength, {
    maxByteLength: values.byteLength,
  });
  const array = new Float32Array(buffer); // tracks the buffer's length
  array.set(values);
  return array;
}

/**
 * The raw binding (the facade refuses resizable buffers): params or grads shrunk while the step
 * runs, or shrunk and grown back to their length.
 */
async function nativeResized(kind: Kind, which: "params" | "grads", growBack: boolean): Promise<void> {
  const { state, params: start, twin, twinParams } = setup(kind);
  const params = which === "params" ? resizable(start) : start;
  const grads = which === "grads" ? resizable(wave(n, 3)) : wave(n, 3);
  const before = stateBytes(state);
  const step = kind === "microadam" ? binding.stepAsync : binding.adamWStepAsync;
  const hyper = new Float64Array([options.lr, 0.9, 0.999, 1e-8, options.weightDecay, 0]);
  const busy = occupyThreads();
  const pending = step([state.native], [params], [grads], new Uint8Array(2), hyper, 0);
  const buffer = (which === "params" ? params : grads).buffer as Resizable;
  buffer.resize(4 * 1000);
  collect();
  if (growBack) buffer.resize(4 * n);
  if (which === "params" && !growBack) {
    await expectDetached(
      pending,
      `Expected params[0] to keep its ${n} elements until its async step settled but it has 1000 (its buffer was resized); the step was undone: params and state are unchanged`,
    );
    check(stateBytes(state).equals(before), "the state changed");
    check(Buffer.from(params.buffer).equals(Buffer.from(start.buffer, 0, 4000)), "the remaining params were written");
    await busy;
    return;
  }
  await Promise.all([pending, busy]);
  syncStep(kind, twin, twinParams, wave(n, 3));
  check(Buffer.from(params.buffer).equals(Buffer.from(twinParams.buffer)), "params differ from the same step on intact arrays");
  check(stateBytes(state).equals(stateBytes(twin)), "the state differs from the same step on intact arrays");
}

export const SCENARIOS: Record<string, () => Promise<void>> = {};
for (const kind of ["microadam", "adamw"] as const) {
  SCENARIOS[`${kind} params transferred and kept`] = () => paramsDetached(kind, true, "queued");
  SCENARIOS[`${kind} params transferred and collected`] = () => paramsDetached(kind, false, "queued");
  SCENARIOS[`${kind} params transferred mid-step and collected`] = () => paramsDetached(kind, false, "running");
  SCENARIOS[`${kind} grads transferred and overwritten`] = () => gradsDetached(kind, "overwritten");
  SCENARIOS[`${kind} grads transferred and collected`] = () => gradsDetached(kind, "collected");
  SCENARIOS[`${kind} optimizer params posted to a port`] = () => optimizerParamsDetached(kind);
  SCENARIOS[`${kind} params in a growing WebAssembly memory`] = () => wasmMemoryGrows(kind);
  SCENARIOS[`${kind} native: params shrunk`] = () => nativeResized(kind, "params", false);
  SCENARIOS[`${kind} native: params shrunk and grown back`] = () => nativeResized(kind, "params", true);
  SCENARIOS[`${kind} native: grads shrunk`] = () => nativeResized(kind, "grads", false);
}

async function main(names: string[]): Promise<void> {
  for (const name of names) {
    try {
      await SCENARIOS[name]();
      process.stdout.write(`ok ${name}\n`);
    } catch (error) {
      process.stdout.write(`FAIL ${name}: ${(error as Error).message}\n`);
    }
  }
}

if (require.main === module) void main(process.argv.slice(2));
