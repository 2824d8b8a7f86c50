// What every fuzz target shares: the fixture (a stepped state, its params, a MicroAdam) whose
// state must not change when a call is refused, and the counting of calls and errors.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createAdamWState, createMicroAdamState, MicroAdam, MicroAdamState, microAdamStep, type MicroAdamSnapshot } from "../../lib";
import { binding } from "../../lib/binding";
import { isDetached, type BuildContext, type StateKind } from "./hostile";

export const LAYOUT = { topkBlockSize: 64, quantBlockSize: 16, window: 3, density: 0.1 } as const;
export const NATIVE_LAYOUT = { ...LAYOUT };
export const HYPER = new Float64Array([0.01, 0.9, 0.999, 1e-8, 0.01, 0.1]);
const gc = (globalThis as { gc?: () => void }).gc;

/** Counts of what a run did, for the report. */
export interface FuzzStats {
  calls: number;
  rejected: number;
  /** Error messages with numbers blanked, and how often each was seen. */
  messages: Map<string, number>;
}

export const stats: FuzzStats = { calls: 0, rejected: 0, messages: new Map() };

export function noteError(e: unknown, what: string): void {
  if (!(e instanceof Error) || typeof e.message !== "string" || e.message.length === 0)
    throw new Error(`${what} threw something that is not an Error: ${String(e)}`);
  stats.rejected++;
  const shape = `${e.constructor.name}: ${e.message.replace(/\d+(\.\d+)?(e[-+]?\d+)?/g, "#").slice(0, 160)}`;
  stats.messages.set(shape, (stats.messages.get(shape) ?? 0) + 1);
}

/** Runs `fn`; true if it threw (and what it threw was an Error). */
export function attempt(what: string, fn: () => unknown): boolean {
  stats.calls++;
  try {
    fn();
    return false;
  } catch (e) {
    noteError(e, what);
    return true;
  }
}

export async function attemptAsync(what: string, fn: () => unknown): Promise<boolean> {
  stats.calls++;
  try {
    await fn();
    return false;
  } catch (e) {
    noteError(e, what);
    return true;
  }
}

export function sameSnapshot(a: MicroAdamSnapshot, b: MicroAdamSnapshot): boolean {
  return (
    a.step === b.step &&
    (["errorCodes", "errorMin", "errorMax", "windowIndices", "windowValues"] as const).every((k) =>
      Buffer.from(a[k].buffer, a[k].byteOffset, a[k].byteLength).equals(Buffer.from(b[k].buffer, b[k].byteOffset, b[k].byteLength)),
    )
  );
}

function signal(x: number, seed: number): number {
  return Math.sin(x * 12.9898 + seed * 78.233) * 0.5;
}

/** A small state with a few steps behind it, its params and grads, and a temp directory. */
export class Fixture {
  state!: MicroAdamState;
  params!: Float32Array;
  grads!: Float32Array;
  optimizer!: MicroAdam;
  optimizerParams!: Float32Array[];
  private extras: { dispose(): void }[] = [];

  // The native target uses 40,000 params (160 KB): above the malloc mmap threshold the drivers
  // set, so memory the engine must not touch any more is unmapped when freed and a stray access
  // is a crash, not silent damage. The facade's own checks run on JS values: 2,000 is plenty.
  constructor(readonly dir: string, readonly numel = 2000) {
    this.reset();
  }

  reset(): void {
    this.state?.dispose();
    this.optimizer?.dispose();
    this.state = createMicroAdamState({ numel: this.numel, ...LAYOUT });
    this.params = Float32Array.from({ length: this.numel }, (_, i) => signal(i, 1));
    this.grads = Float32Array.from({ length: this.numel }, (_, i) => signal(i, 2));
    for (let t = 0; t < 4; t++) microAdamStep(this.state, this.params, this.grads.map((g) => g * (t + 1)), { lr: 0.01, alpha: 0.1 });
    this.optimizerParams = [this.params.slice(), this.params.slice(0, 33)];
    this.optimizer = new MicroAdam([{ params: [this.optimizerParams[0]] }, { params: [this.optimizerParams[1]], lr: 0.02 }], { denseBelow: 34, lr: 0.01, ...LAYOUT });
    this.optimizer.step([this.grads, this.grads.subarray(0, 33)]);
  }

  /** Makes sure the fixture is usable (a hostile call may have disposed it or detached its params). */
  heal(): void {
    const broken =
      this.state.disposed || this.optimizer.states.some((s) => s.disposed) ||
      [this.params, this.grads, ...this.optimizerParams].some((a) => isDetached(a.buffer as ArrayBuffer) || a.length === 0);
    let nativeAlive = true;
    try {
      void this.state.native.step;
    } catch {
      nativeAlive = false;
    }
    if (broken || !nativeAlive) this.reset();
  }

  context(facade: boolean): BuildContext {
    const make = <T extends { dispose(): void }>(x: T) => (this.extras.push(x), x);
    const states: Record<StateKind, () => unknown> = {
      fixture: () => (facade ? this.state : this.state.native),
      other: () => {
        const s = make(createMicroAdamState({ numel: 37, ...LAYOUT }));
        return facade ? s : s.native;
      },
      disposed: () => {
        const s = createMicroAdamState({ numel: this.numel, ...LAYOUT });
        s.dispose();
        return facade ? s : s.native;
      },
      adamw: () => {
        const s = make(createAdamWState({ numel: this.numel }));
        return facade ? s : s.native;
      },
      fakeProto: () => Object.create(facade ? MicroAdamState.prototype : binding.NativeState.prototype),
      rawNative: () => (facade ? this.state.native : make(createAdamWState({ numel: this.numel })).native),
      plainObject: () => ({ numel: this.numel, native: {}, disposed: false, busy: false }),
    };
    return { numel: this.numel, states, buffers: [], gc };
  }

  cleanup(): void {
    for (const x of this.extras.splice(0)) x.dispose();
  }

  /** Throws unless the fixture's states, params and hyperparameters are what `before` recorded. */
  checkUnchanged(before: ReturnType<Fixture["record"]>, what: string): void {
    const after = this.record();
    if (after.alive && before.alive && !sameSnapshot(after.snapshot!, before.snapshot!)) throw new Error(`${what} was rejected but changed the state`);
    if (!isDetached(this.params.buffer as ArrayBuffer) && !Buffer.from(this.params.buffer).equals(Buffer.from(before.params.buffer)))
      throw new Error(`${what} was rejected but changed the params`);
    if (after.optimizer && before.optimizer && !after.optimizer.equals(before.optimizer))
      throw new Error(`${what} was rejected but changed the optimizer's states`);
    if (after.groups !== before.groups) throw new Error(`${what} was rejected but changed the optimizer's param groups`);
    this.optimizerParams.forEach((p, i) => {
      if (!isDetached(p.buffer as ArrayBuffer) && !Buffer.from(p.buffer, p.byteOffset, p.byteLength).equals(before.optimizerParams[i]))
        throw new Error(`${what} was rejected but changed the optimizer's params`);
    });
  }

  record() {
    const live = (f: () => void) => {
      try {
        f();
        return true;
      } catch {
        return false; // disposed by the call under test: nothing left to compare
      }
    };
    const alive = live(() => this.state.native.step);
    const optimizerAlive = this.optimizer.states.every((s) => live(() => s.native.step));
    return {
      alive,
      snapshot: alive ? this.state.snapshot() : undefined,
      params: isDetached(this.params.buffer as ArrayBuffer) ? new Float32Array(0) : this.params.slice(),
      optimizer: optimizerAlive ? this.optimizer.toBuffer() : undefined,
      groups: JSON.stringify(this.optimizer.paramGroups.map(({ params, ...hyper }) => [hyper, params.length])),
      optimizerParams: this.optimizerParams.map((p) => (isDetached(p.buffer as ArrayBuffer) ? Buffer.alloc(0) : Buffer.from(p.slice().buffer))),
    };
  }
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "microadam-fuzz-"));
}
