// A native optimizer state as the data of one int32 tfjs tensor, so that getWeights/setWeights
// (and model.save with includeOptimizer) carry the complete state bit for bit.
//
// The tensor's bytes are the state's binary checkpoint (docs/checkpoint-format.md: kind 1 for a
// MicroAdam state, kind 3 for an AdamW state), followed by zero bytes up to a whole number of
// words: the same container, CRCs and checks as a checkpoint file. The checkpoint's length is
// in its header (bytes 16-23), so the padding is known. The bytes are what tfjs's IO handlers
// store (an int32 tensor's memory), so the checkpoint's little-endian numbers stay little-endian
// on every platform. Weights that 0.1 saved (its own word format) go through
// legacy-state-weights.ts first.
import { createAdamWState, type AdamWState } from "../adamw";
import { adamWStateFromDecoded, decodeAdamWSections, encodeAdamWCheckpoint, type DecodedAdamWState } from "../checkpoint/adamw-checkpoint";
import { mismatchError } from "../checkpoint/errors";
import { CheckpointKind, decodeCheckpoint } from "../checkpoint/format";
import { decodeStateSections, encodeStateCheckpoint, stateFromDecoded, type DecodedState as DecodedMicroAdamState } from "../checkpoint/state-checkpoint";
import { createMicroAdamState, type MicroAdamState } from "../state";
import { isLegacyStateWeights, legacyStateWeightsToCheckpoint } from "./legacy-state-weights";

export type StateKind = "microadam" | "adamw";

/** What a weight holds, decoded and checked, before any state is created. */
export type DecodedState =
  | ({ kind: "microadam"; numel: number } & DecodedMicroAdamState)
  | ({ kind: "adamw" } & DecodedAdamWState);

/** The words of one state: its checkpoint's bytes, zero-padded to whole words. */
export function encodeState(kind: StateKind, state: MicroAdamState | AdamWState, name: string): Int32Array {
  const chunks = kind === "adamw" ? encodeAdamWCheckpoint(state as AdamWState, name) : encodeStateCheckpoint(state as MicroAdamState, name);
  const length = chunks.reduce((sum, c) => sum + c.byteLength, 0);
  const words = new Int32Array(Math.ceil(length / 4));
  const bytes = new Uint8Array(words.buffer);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return words;
}

/** Reads the words of one state; `name` names the weight in error messages. */
export function decodeState(words: Int32Array, name: string): DecodedState {
  const legacy = isLegacyStateWeights(words);
  const bytes = legacy ? legacyStateWeightsToCheckpoint(words, name) : new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const checkpoint = decodeCheckpoint(bytes, name, { wordPadded: !legacy });
  if (checkpoint.kind === CheckpointKind.AdamWState) return { kind: "adamw", ...decodeAdamWSections(checkpoint, name) };
  if (checkpoint.kind === CheckpointKind.Optimizer)
    throw mismatchError(name, "an optimizer weight: it holds a whole MicroAdam optimizer (a weight holds one state)");
  const decoded = decodeStateSections(checkpoint, name);
  return { kind: "microadam", numel: decoded.layout.numel, ...decoded };
}

/** A native state holding a decoded weight (on error the new state is disposed). */
export function createDecodedState(decoded: DecodedState, name: string): MicroAdamState | AdamWState {
  if (decoded.kind === "adamw") return adamWStateFromDecoded(decoded, name, (numel) => createAdamWState({ numel }));
  return stateFromDecoded(decoded, name, { device: "cpu" }, createMicroAdamState);
}
