// Checkpoints of one MicroAdamState: LAYT + STAT sections (docs/checkpoint-format.md).
// Loading decodes and checks the whole file before the state is touched; the native restore
// then checks the content again (window indices, padding) before it changes anything.
import type { MicroAdamSnapshot, MicroAdamStateConfig, MicroAdamStateOptions } from "../types";
import { rejectUnknownKeys, requireObject, requireOneOf } from "../validate";
import {
  asContentError,
  checkLayoutMatches,
  checkpointError,
  layoutDifference,
  mismatchError,
  requireBytes,
  requirePath,
  stateUnusableError,
} from "./errors";
import { readCheckpointFile, writeFileAtomic } from "./file";
import { CheckpointKind, decodeCheckpoint, encodeCheckpoint, type DecodedCheckpoint, type DecodedSection } from "./format";
import { decodeLayout, decodeState, encodeLayout, encodeStateParts, layoutOf, type LayoutRecord, type LayoutSource } from "./records";

/** What saving and loading need of a MicroAdamState. */
export interface CheckpointableState extends LayoutSource {
  readonly disposed: boolean;
  readonly busy: boolean;
  snapshot(): MicroAdamSnapshot;
  restore(snapshot: MicroAdamSnapshot): void;
  dispose(): void;
}

export interface DecodedState {
  layout: LayoutRecord;
  snapshot: MicroAdamSnapshot;
}

/** Throws if `state` (a MicroAdam or an AdamW state) cannot be read or written now. */
export function checkStateIdle(state: { readonly disposed: boolean; readonly busy: boolean }, name: string): void {
  if (state.disposed) throw stateUnusableError(`${name} was disposed`);
  if (state.busy) throw stateUnusableError(`${name} is busy: a step on it is in flight (await it first)`);
}

export function encodeStateCheckpoint(state: CheckpointableState, name: string): Uint8Array[] {
  checkStateIdle(state, name);
  return encodeCheckpoint(CheckpointKind.State, [
    { tag: "LAYT", parts: [encodeLayout(layoutOf(state))] },
    { tag: "STAT", parts: encodeStateParts(state.snapshot()) },
  ]);
}

/** The sections must be exactly `tags`, in order. */
export function expectSections(sections: DecodedSection[], tags: readonly string[], where: string): void {
  const found = sections.map((s) => s.tag).join(", ");
  if (sections.length !== tags.length || sections.some((s, i) => s.tag !== tags[i]))
    throw checkpointError(where, `its sections are [${found}], expected [${tags.join(", ")}]`);
}

/** The layout and snapshot of a decoded kind 1 checkpoint (one MicroAdam state). */
export function decodeStateSections({ kind, sections }: DecodedCheckpoint, where: string): DecodedState {
  if (kind === CheckpointKind.Optimizer)
    throw mismatchError(where, "a MicroAdamState: it holds a MicroAdam optimizer (load it with MicroAdam.load)");
  if (kind !== CheckpointKind.State) throw mismatchError(where, "a MicroAdamState: it holds an AdamW state");
  expectSections(sections, ["LAYT", "STAT"], where);
  const layout = decodeLayout(sections[0], where);
  return { layout, snapshot: decodeState(sections[1], layout, where) };
}

export function decodeStateCheckpoint(bytes: Uint8Array, where: string): DecodedState {
  return decodeStateSections(decodeCheckpoint(bytes, where), where);
}

/** Replaces `state` with the checkpoint in `bytes`, or throws and changes nothing. */
export function loadStateCheckpoint(state: CheckpointableState, bytes: Uint8Array, where: string, name: string): void {
  checkStateIdle(state, name);
  const decoded = decodeStateCheckpoint(bytes, where);
  checkLayoutMatches(decoded.layout, layoutOf(state), where, "this state");
  try {
    state.restore(decoded.snapshot);
  } catch (error) {
    throw asContentError(error, where);
  }
}

/** Options of MicroAdamState.fromFile / fromBuffer: where the new state lives. */
export interface FromCheckpointOptions {
  device?: MicroAdamStateOptions["device"];
  deviceIndex?: MicroAdamStateOptions["deviceIndex"];
}

/**
 * A new state with the checkpoint's layout and content. `create` builds (and checks) the state
 * from layout options; if the content is then refused, the new state is disposed.
 */
export function stateFromCheckpoint<S extends CheckpointableState>(
  bytes: Uint8Array,
  where: string,
  options: unknown,
  create: (options: MicroAdamStateOptions) => S,
): S {
  const o = requireObject(options ?? {}, "options");
  rejectUnknownKeys(o, "options", ["device", "deviceIndex"]);
  const device = requireOneOf(o.device ?? "cpu", "options.device", ["cpu", "cuda", "auto"] as const);
  const deviceIndex = o.deviceIndex as number | undefined; // checked by create
  return stateFromDecoded(decodeStateCheckpoint(bytes, where), where, { device, ...(deviceIndex === undefined ? {} : { deviceIndex }) }, create);
}

/** A new state holding a decoded checkpoint, placed by `placement` (see stateFromCheckpoint). */
export function stateFromDecoded<S extends CheckpointableState>(
  { layout, snapshot }: DecodedState,
  where: string,
  placement: Pick<MicroAdamStateOptions, "device" | "deviceIndex">,
  create: (options: MicroAdamStateOptions) => S,
): S {
  const config: Omit<MicroAdamStateConfig, "device"> = {
    numel: layout.numel,
    window: layout.window,
    density: layout.density,
    topkBlockSize: layout.topkBlockSize,
    quantBlockSize: layout.quantBlockSize,
  };
  let state: S;
  try {
    state = create({ ...config, ...placement });
  } catch (error) {
    throw asContentError(error, where);
  }
  try {
    // Equal options, so only a derived fact (rowLength) can differ: the file contradicts itself.
    const difference = layoutDifference(layout, layoutOf(state));
    if (difference) throw checkpointError(where, `its LAYT section contradicts its own options: ${difference}`);
    state.restore(snapshot);
  } catch (error) {
    state.dispose();
    throw asContentError(error, where);
  }
  return state;
}

// The entry points behind MicroAdamState's methods (lib/state.ts).

export function saveStateFile(state: CheckpointableState, path: unknown): void {
  const file = requirePath(path, "path");
  writeFileAtomic(file, encodeStateCheckpoint(state, "state"));
}

export function stateCheckpointBuffer(state: CheckpointableState): Buffer {
  return Buffer.concat(encodeStateCheckpoint(state, "state"));
}

export function loadStateFile(state: CheckpointableState, path: unknown): void {
  const file = requirePath(path, "path");
  loadStateCheckpoint(state, readCheckpointFile(file), `checkpoint ${file}`, "state");
}

export function loadStateBuffer(state: CheckpointableState, buffer: unknown): void {
  loadStateCheckpoint(state, requireBytes(buffer, "buffer"), "checkpoint buffer", "state");
}

export function stateFromFile<S extends CheckpointableState>(path: unknown, options: unknown, create: (o: MicroAdamStateOptions) => S): S {
  const file = requirePath(path, "path");
  return stateFromCheckpoint(readCheckpointFile(file), `checkpoint ${file}`, options, create);
}

export function stateFromBuffer<S extends CheckpointableState>(buffer: unknown, options: unknown, create: (o: MicroAdamStateOptions) => S): S {
  return stateFromCheckpoint(requireBytes(buffer, "buffer"), "checkpoint buffer", options, create);
}
