// Checkpoints of one AdamW state: kind 3, a single ADMW section (docs/checkpoint-format.md).
// The tfjs optimizers store their AdamW variables' states this way (lib/tfjs/state-weights.ts);
// the root package has no save/load API for AdamWState yet (its stateDict covers AdamW).
import type { AdamWSnapshot } from "../adamw";
import { asContentError, mismatchError } from "./errors";
import { CheckpointKind, encodeCheckpoint, type DecodedCheckpoint } from "./format";
import { decodeAdamW, encodeAdamWParts } from "./records";
import { checkStateIdle, expectSections } from "./state-checkpoint";

/** What saving and loading need of an AdamWState. */
export interface CheckpointableAdamWState {
  readonly numel: number;
  readonly disposed: boolean;
  readonly busy: boolean;
  snapshot(): AdamWSnapshot;
  restore(snapshot: AdamWSnapshot, name?: string): void;
  dispose(): void;
}

export interface DecodedAdamWState {
  numel: number;
  snapshot: AdamWSnapshot;
}

export function encodeAdamWCheckpoint(state: CheckpointableAdamWState, name: string): Uint8Array[] {
  checkStateIdle(state, name);
  return encodeCheckpoint(CheckpointKind.AdamWState, [{ tag: "ADMW", parts: encodeAdamWParts(state.numel, state.snapshot()) }]);
}

/** The numel and snapshot of a decoded kind 3 checkpoint. */
export function decodeAdamWSections({ kind, sections }: DecodedCheckpoint, where: string): DecodedAdamWState {
  if (kind !== CheckpointKind.AdamWState)
    throw mismatchError(where, `an AdamW state: it holds ${kind === CheckpointKind.State ? "a MicroAdam state" : "a MicroAdam optimizer"}`);
  expectSections(sections, ["ADMW"], where);
  return decodeAdamW(sections[0], where);
}

/**
 * A new state (from `create`, which sizes it) holding a decoded checkpoint; if the content is
 * refused, the new state is disposed and the error reported as a damaged checkpoint.
 */
export function adamWStateFromDecoded<S extends CheckpointableAdamWState>(
  { numel, snapshot }: DecodedAdamWState,
  where: string,
  create: (numel: number) => S,
): S {
  const state = create(numel);
  try {
    state.restore(snapshot);
  } catch (error) {
    state.dispose();
    throw asContentError(error, where);
  }
  return state;
}
