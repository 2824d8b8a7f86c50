// Checkpoints of one MicroAdamState: LAYT + STAT sections (docs/checkpoint-format.md).
// Saving streams the state's buffers from native memory to the file a chunk at a time; loading
// streams the file into a fresh staging state, checks everything (CRCs, layout, the content's
// rules), and only then lets the state adopt it: on any error nothing changed.
import type { NativeState } from "../binding";
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
import { CheckpointKind, decodeCheckpoint, type CheckpointVisitor, type DecodedCheckpoint, type DecodedSection, type DecodeOptions } from "./format";
import { decodeLayout, decodeState, encodeLayout, layoutOf, type LayoutRecord, type LayoutSource } from "./records";
import {
  checkpointBuffer,
  checkStateLength,
  createStaging,
  parseSource,
  parseSourceAsync,
  statePieces,
  stateSink,
  writeCheckpointFile,
  writeCheckpointFileAsync,
  type CheckpointSource,
  type SectionPlan,
} from "./stream";

/** What saving and loading need of a MicroAdamState. */
export interface CheckpointableState extends LayoutSource {
  readonly disposed: boolean;
  readonly busy: boolean;
  readonly device: "cpu" | "cuda";
  /** @internal */
  readonly native: NativeState;
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

/** The sections of a state's checkpoint: its layout, then its step and buffers read from native memory as they are written. */
export function stateSections(state: CheckpointableState): SectionPlan[] {
  const layout = layoutOf(state);
  return [
    { tag: "LAYT", pieces: [encodeLayout(layout)] },
    { tag: "STAT", pieces: statePieces(state.native, layout) },
  ];
}

/** The checkpoint's bytes as chunks (copies: small states, for the tfjs weights). */
export function encodeStateCheckpoint(state: CheckpointableState, name: string): Uint8Array[] {
  checkStateIdle(state, name);
  return [checkpointBuffer(CheckpointKind.State, stateSections(state))];
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

/** Kind 1, and nothing else: another kind is a sound checkpoint of something else. */
function requireStateKind(kind: number, where: string): void {
  if (kind === CheckpointKind.Optimizer)
    throw mismatchError(where, "a MicroAdamState: it holds a MicroAdam optimizer (load it with MicroAdam.load)");
  if (kind !== CheckpointKind.State) throw mismatchError(where, "a MicroAdamState: it holds an AdamW state");
}

/**
 * The visitor of a kind 1 checkpoint streamed into a staging state: `stage` gets the verified
 * layout once the STAT section's length agrees with it, and returns the state the STAT section is
 * written into. `staged()` is that state (complete once the parse returned).
 */
function stateVisitor(where: string, stage: (layout: LayoutRecord) => NativeState): CheckpointVisitor & { staged(): NativeState | undefined } {
  let layout: LayoutRecord | undefined;
  let staging: NativeState | undefined;
  const sections = ["LAYT", "STAT"];
  return {
    header(kind, count) {
      requireStateKind(kind, where);
      if (count !== sections.length) throw checkpointError(where, `it has ${count} sections, expected [${sections.join(", ")}]`);
    },
    section(index, tag, length) {
      if (tag !== sections[index]) throw checkpointError(where, `its section ${index} is ${tag}, expected ${sections[index]}`);
      if (tag === "LAYT") return { whole: (section) => (layout = decodeLayout(section, where)) };
      checkStateLength(layout!, length, where);
      staging = stage(layout!);
      return stateSink(staging, layout!, where);
    },
    staged: () => staging,
  };
}

/** Replaces `state` with the checkpoint in `source`, or throws and changes nothing. */
export function loadStateFrom(state: CheckpointableState, source: CheckpointSource, where: string, name: string): void {
  checkStateIdle(state, name);
  const visitor = stagingForLoad(state, where);
  try {
    parseSource(source, where, visitor);
    adoptStaged(state, visitor.staged()!, where);
  } finally {
    visitor.staged()?.dispose();
  }
}

/** The same, with the file read off the event loop. The state may be stepped meanwhile; it is replaced at the end. */
export async function loadStateFromAsync(state: CheckpointableState, source: CheckpointSource, where: string, name: string): Promise<void> {
  checkStateIdle(state, name);
  const visitor = stagingForLoad(state, where);
  try {
    await parseSourceAsync(source, where, visitor);
    checkStateIdle(state, name);
    adoptStaged(state, visitor.staged()!, where);
  } finally {
    visitor.staged()?.dispose();
  }
}

function stagingForLoad(state: CheckpointableState, where: string) {
  return stateVisitor(where, (layout) => {
    checkLayoutMatches(layout, layoutOf(state), where, "this state");
    return createStaging(layout);
  });
}

function adoptStaged(state: CheckpointableState, staging: NativeState, where: string): void {
  try {
    state.native.adopt(staging);
  } catch (error) {
    throw asContentError(error, where);
  }
}

/** Options of MicroAdamState.fromFile / fromBuffer: where the new state lives. */
export interface FromCheckpointOptions {
  device?: MicroAdamStateOptions["device"];
  deviceIndex?: MicroAdamStateOptions["deviceIndex"];
}

/** The placement options of fromFile / fromBuffer, checked. */
function placementOf(options: unknown): Pick<MicroAdamStateOptions, "device" | "deviceIndex"> {
  const o = requireObject(options ?? {}, "options");
  rejectUnknownKeys(o, "options", ["device", "deviceIndex"]);
  const device = requireOneOf(o.device ?? "cpu", "options.device", ["cpu", "cuda", "auto"] as const);
  const deviceIndex = o.deviceIndex as number | undefined; // checked by create
  return { device, ...(deviceIndex === undefined ? {} : { deviceIndex }) };
}

/**
 * A new state with the checkpoint's layout and content, streamed from `source`. `create` builds
 * (and checks) the state from layout options; a CPU state is written directly, a CUDA state
 * adopts a staging state. If anything is refused, the new state is disposed.
 */
function newStateVisitor<S extends CheckpointableState>(where: string, options: unknown, create: (options: MicroAdamStateOptions) => S) {
  const placement = placementOf(options);
  let created: S | undefined;
  const visitor = stateVisitor(where, (layout) => {
    created = createFromLayout(layout, where, placement, create);
    return created.device === "cpu" ? created.native : createStaging(layout);
  });
  return {
    visitor,
    /** The new state once the parse succeeded. */
    finish(): S {
      const staging = visitor.staged()!;
      if (staging !== created!.native) {
        try {
          adoptStaged(created!, staging, where);
        } finally {
          staging.dispose();
        }
      }
      return created!;
    },
    /** After a failure: nothing is left behind. */
    discard(): void {
      const staging = visitor.staged();
      if (staging && staging !== created?.native) staging.dispose();
      created?.dispose();
    },
  };
}

/** A new state, checked against the checkpoint's own derived facts. */
function createFromLayout<S extends CheckpointableState>(
  layout: LayoutRecord,
  where: string,
  placement: Pick<MicroAdamStateOptions, "device" | "deviceIndex">,
  create: (options: MicroAdamStateOptions) => S,
): S {
  const { numel, window, density, topkBlockSize, quantBlockSize } = layout;
  let state: S;
  try {
    state = create({ numel, window, density, topkBlockSize, quantBlockSize, ...placement });
  } catch (error) {
    throw asContentError(error, where);
  }
  // Equal options, so only a derived fact (rowLength) can differ: the file contradicts itself.
  const difference = layoutDifference(layout, layoutOf(state));
  if (difference) {
    state.dispose();
    throw checkpointError(where, `its LAYT section contradicts its own options: ${difference}`);
  }
  return state;
}

export function stateFromSource<S extends CheckpointableState>(
  source: CheckpointSource,
  where: string,
  options: unknown,
  create: (options: MicroAdamStateOptions) => S,
): S {
  const load = newStateVisitor(where, options, create);
  try {
    parseSource(source, where, load.visitor);
    return load.finish();
  } catch (error) {
    load.discard();
    throw error;
  }
}

export async function stateFromSourceAsync<S extends CheckpointableState>(
  source: CheckpointSource,
  where: string,
  options: unknown,
  create: (options: MicroAdamStateOptions) => S,
): Promise<S> {
  const load = newStateVisitor(where, options, create);
  try {
    await parseSourceAsync(source, where, load.visitor);
    return load.finish();
  } catch (error) {
    load.discard();
    throw error;
  }
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
  checkStateIdle(state, "state");
  writeCheckpointFile(file, CheckpointKind.State, stateSections(state));
}

/** The save with the writes off the event loop; the state is held (no step runs on it) until it settles. */
export async function saveStateFileAsync(state: CheckpointableState, path: unknown): Promise<void> {
  const file = requirePath(path, "path");
  checkStateIdle(state, "state");
  state.native.acquire();
  try {
    await writeCheckpointFileAsync(file, CheckpointKind.State, stateSections(state));
  } finally {
    state.native.release();
  }
}

export function stateCheckpointBuffer(state: CheckpointableState): Buffer {
  checkStateIdle(state, "state");
  return checkpointBuffer(CheckpointKind.State, stateSections(state));
}

export function loadStateFile(state: CheckpointableState, path: unknown): void {
  const file = requirePath(path, "path");
  loadStateFrom(state, { file }, `checkpoint ${file}`, "state");
}

export function loadStateFileAsync(state: CheckpointableState, path: unknown): Promise<void> {
  const file = requirePath(path, "path");
  return loadStateFromAsync(state, { file }, `checkpoint ${file}`, "state");
}

export function loadStateBuffer(state: CheckpointableState, buffer: unknown): void {
  loadStateFrom(state, { bytes: requireBytes(buffer, "buffer") }, "checkpoint buffer", "state");
}

export function stateFromFile<S extends CheckpointableState>(path: unknown, options: unknown, create: (o: MicroAdamStateOptions) => S): S {
  const file = requirePath(path, "path");
  return stateFromSource({ file }, `checkpoint ${file}`, options, create);
}

export function stateFromFileAsync<S extends CheckpointableState>(path: unknown, options: unknown, create: (o: MicroAdamStateOptions) => S): Promise<S> {
  const file = requirePath(path, "path");
  return stateFromSourceAsync({ file }, `checkpoint ${file}`, options, create);
}

export function stateFromBuffer<S extends CheckpointableState>(buffer: unknown, options: unknown, create: (o: MicroAdamStateOptions) => S): S {
  return stateFromSource({ bytes: requireBytes(buffer, "buffer") }, "checkpoint buffer", options, create);
}
