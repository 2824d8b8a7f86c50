// checkpoint: saved checkpoints with random damage never load silently and never change the
// state or optimizer they are loaded into.
import fc from "fast-check";
import { MicroAdamState } from "../../lib";
import { Fixture, noteError, stats, tempDir } from "./fixture";

export type Mutation =
  | { flip: number; bit: number }
  | { set: number; byte: number }
  | { truncate: number }
  | { insert: number; bytes: number[] }
  | { remove: number; count: number }
  | { duplicate: number; count: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ flip: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.nat(7) }),
  fc.record({ set: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.nat(255) }),
  fc.record({ truncate: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ insert: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 9 }) }),
  fc.record({ remove: fc.double({ min: 0, max: 1, noNaN: true }), count: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ duplicate: fc.double({ min: 0, max: 1, noNaN: true }), count: fc.integer({ min: 1, max: 80 }) }),
);

export function mutate(bytes: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  const at = (f: number) => Math.min(b.length - 1, Math.floor(f * b.length));
  for (const m of mutations) {
    if (b.length === 0) break;
    if ("flip" in m) b[at(m.flip)] ^= 1 << m.bit;
    else if ("set" in m) b[at(m.set)] = m.byte;
    else if ("truncate" in m) b = b.subarray(0, at(m.truncate));
    else if ("insert" in m) b = Buffer.concat([b.subarray(0, at(m.insert)), Buffer.from(m.bytes), b.subarray(at(m.insert))]);
    else if ("remove" in m) b = Buffer.concat([b.subarray(0, at(m.remove)), b.subarray(at(m.remove) + m.count)]);
    else b = Buffer.concat([b.subarray(0, at(m.duplicate) + m.count), b.subarray(at(m.duplicate))]);
  }
  return b;
}

export async function checkpointTarget(runs: number, seed: number): Promise<void> {
  const fix = new Fixture(tempDir());
  const stateBytes = fix.state.toBuffer();
  const optimizerBytes = fix.optimizer.toBuffer();
  fc.assert(
    fc.property(fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (optimizer, mutations) => {
      fix.heal();
      const original = optimizer ? optimizerBytes : stateBytes;
      const damaged = mutate(original, mutations);
      const target = optimizer ? fix.optimizer : fix.state;
      const before = target.toBuffer();
      const identical = damaged.equals(original);
      const loads: [string, () => unknown][] = [[optimizer ? "MicroAdam.loadBuffer" : "MicroAdamState.loadBuffer", () => target.loadBuffer(damaged)]];
      if (!optimizer) loads.push(["MicroAdamState.fromBuffer", () => MicroAdamState.fromBuffer(damaged).dispose()]);
      for (const [what, load] of loads) {
        stats.calls++;
        try {
          load();
          if (!identical) throw new Error(`${what} accepted a damaged checkpoint: ${JSON.stringify(mutations)}`);
        } catch (e) {
          if (identical) throw e;
          noteError(e, what);
          const code = (e as { code?: string }).code;
          if (code !== "ERR_MICROADAM_CHECKPOINT" && code !== "ERR_MICROADAM_CHECKPOINT_MISMATCH")
            throw new Error(`${what} rejected a damaged checkpoint with ${code}: ${(e as Error).message}`);
        }
        if (!identical && !target.toBuffer().equals(before)) throw new Error(`${what} rejected a checkpoint but changed the target`);
      }
      return true;
    }),
    { numRuns: runs, seed },
  );
}
