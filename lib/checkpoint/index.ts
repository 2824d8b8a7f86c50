// Checkpoints as free functions for either target, a MicroAdamState or a whole MicroAdam
// (the same as their save/load/toBuffer/loadBuffer methods). Format: docs/checkpoint-format.md.
import { isMicroAdam, type MicroAdam } from "../optimizer";
import { isMicroAdamState, type MicroAdamState } from "../state";
import { isTypedArray, typeError } from "../validate";
import {
  loadOptimizerBuffer,
  loadOptimizerFile,
  loadOptimizerFileAsync,
  optimizerCheckpointBuffer,
  saveOptimizerFile,
  saveOptimizerFileAsync,
} from "./optimizer-checkpoint";
import { loadStateBuffer, loadStateFile, loadStateFileAsync, saveStateFile, saveStateFileAsync, stateCheckpointBuffer } from "./state-checkpoint";

export type CheckpointTarget = MicroAdamState | MicroAdam;

function checkTarget(target: unknown): CheckpointTarget {
  if (isMicroAdamState(target) || isMicroAdam(target)) return target;
  throw typeError("target", "a MicroAdamState or a MicroAdam", target);
}

/** Writes `target`'s checkpoint to `path` atomically: a crash mid-save leaves the previous file intact. */
export function saveState(target: CheckpointTarget, path: string): void {
  const t = checkTarget(target);
  if (isMicroAdamState(t)) saveStateFile(t, path);
  else saveOptimizerFile(t, path);
}

/**
 * saveState with every write off the event loop. The target's states are held until the promise
 * settles: a step on them meanwhile is refused as busy.
 */
export function saveStateAsync(target: CheckpointTarget, path: string): Promise<void> {
  const t = checkTarget(target);
  return isMicroAdamState(t) ? saveStateFileAsync(t, path) : saveOptimizerFileAsync(t, path);
}

/** The checkpoint as bytes (the same bytes saveState writes). */
export function stateToBuffer(target: CheckpointTarget): Buffer {
  const t = checkTarget(target);
  return isMicroAdamState(t) ? stateCheckpointBuffer(t) : optimizerCheckpointBuffer(t);
}

/**
 * Replaces `target`'s state with a checkpoint, from a file path or from bytes. The whole
 * checkpoint is checked first (CRCs, version, layout); on any error nothing is changed.
 */
export function loadState(target: CheckpointTarget, source: string | Uint8Array): void {
  const t = checkTarget(target);
  if (!(typeof source === "string" && source.length > 0) && !isTypedArray(source, Uint8Array))
    throw typeError("source", "a file path (a non-empty string) or a Uint8Array holding a checkpoint", source);
  const fromFile = typeof source === "string";
  if (isMicroAdamState(t)) (fromFile ? loadStateFile : loadStateBuffer)(t, source);
  else (fromFile ? loadOptimizerFile : loadOptimizerBuffer)(t, source);
}

/**
 * loadState with every file read off the event loop (bytes in memory load as loadState does). The
 * checkpoint is streamed into fresh staging states; the target changes only once all of it
 * checked out.
 */
export async function loadStateAsync(target: CheckpointTarget, source: string | Uint8Array): Promise<void> {
  const t = checkTarget(target);
  if (!(typeof source === "string" && source.length > 0) && !isTypedArray(source, Uint8Array))
    throw typeError("source", "a file path (a non-empty string) or a Uint8Array holding a checkpoint", source);
  if (typeof source !== "string") return isMicroAdamState(t) ? loadStateBuffer(t, source) : loadOptimizerBuffer(t, source);
  return isMicroAdamState(t) ? loadStateFileAsync(t, source) : loadOptimizerFileAsync(t, source);
}
