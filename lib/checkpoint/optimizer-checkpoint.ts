// Checkpoints of a whole MicroAdam: an OPTM section (param groups and their hyperparameters),
// then LAYT + STAT for every tensor in the order of the flattened groups. Loading checks the
// file and its fit to the optimizer first, then hands a state dict to loadStateDict, which puts
// every state back if one refuses its snapshot.
import { asContentError, checkLayoutMatches, checkpointError, mismatchError, requireBytes, requirePath } from "./errors";
import { readCheckpointFile, writeFileAtomic } from "./file";
import { CheckpointKind, decodeCheckpoint, encodeCheckpoint, type SectionParts } from "./format";
import {
  decodeLayout,
  decodeOptimizer,
  decodeState,
  encodeLayout,
  encodeOptimizer,
  encodeStateParts,
  layoutOf,
  type LayoutRecord,
  type SavedGroup,
} from "./records";
import { checkStateIdle, expectSections, type CheckpointableState } from "./state-checkpoint";
import type { MicroAdamSnapshot, MicroAdamStateDict } from "../types";

/** What saving and loading need of a MicroAdam. */
export interface CheckpointableOptimizer {
  readonly states: readonly CheckpointableState[];
  readonly paramGroups: readonly { readonly params: readonly unknown[] }[];
  stateDict(): MicroAdamStateDict;
  loadStateDict(stateDict: MicroAdamStateDict): void;
}

interface DecodedOptimizer {
  groups: SavedGroup[];
  layouts: LayoutRecord[];
  snapshots: MicroAdamSnapshot[];
}

function checkIdle(optimizer: CheckpointableOptimizer): void {
  optimizer.states.forEach((s, i) => checkStateIdle(s, `states[${i}]`));
}

export function encodeOptimizerCheckpoint(optimizer: CheckpointableOptimizer): Uint8Array[] {
  checkIdle(optimizer);
  const dict = optimizer.stateDict();
  const groups: SavedGroup[] = dict.paramGroups.map(({ numels, ...hyper }) => ({ ...hyper, tensorCount: numels.length }));
  const sections: SectionParts[] = [{ tag: "OPTM", parts: [encodeOptimizer(groups)] }];
  optimizer.states.forEach((state, i) =>
    sections.push({ tag: "LAYT", parts: [encodeLayout(layoutOf(state))] }, { tag: "STAT", parts: encodeStateParts(dict.states[i]) }),
  );
  return encodeCheckpoint(CheckpointKind.Optimizer, sections);
}

function decodeOptimizerCheckpoint(bytes: Uint8Array, where: string): DecodedOptimizer {
  const { kind, sections } = decodeCheckpoint(bytes, where);
  if (kind === CheckpointKind.State)
    throw mismatchError(where, "a MicroAdam optimizer: it holds a single MicroAdamState (load it with MicroAdamState.load)");
  if (kind !== CheckpointKind.Optimizer) throw mismatchError(where, "a MicroAdam optimizer: it holds an AdamW state");
  if (sections.length === 0 || sections[0].tag !== "OPTM") throw checkpointError(where, "its first section is not OPTM");
  const { groups, tensorCount } = decodeOptimizer(sections[0], where);
  if (sections.length !== 1 + 2 * tensorCount)
    throw checkpointError(where, `it has ${sections.length} sections, ${tensorCount} tensors need ${1 + 2 * tensorCount}`);
  expectSections(sections, ["OPTM", ...Array.from({ length: tensorCount }, () => ["LAYT", "STAT"]).flat()], where);
  const layouts: LayoutRecord[] = [];
  const snapshots: MicroAdamSnapshot[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const at = `${where} (tensor ${i})`;
    const layout = decodeLayout(sections[1 + 2 * i], at);
    layouts.push(layout);
    snapshots.push(decodeState(sections[2 + 2 * i], layout, at));
  }
  return { groups, layouts, snapshots };
}

/** Replaces every state and the groups' hyperparameters, or throws and changes nothing. */
export function loadOptimizerCheckpoint(optimizer: CheckpointableOptimizer, bytes: Uint8Array, where: string): void {
  checkIdle(optimizer);
  const { groups, layouts, snapshots } = decodeOptimizerCheckpoint(bytes, where);
  const here = optimizer.paramGroups;
  if (groups.length !== here.length)
    throw mismatchError(where, `this optimizer: it has ${groups.length} param groups, this optimizer ${here.length}`);
  groups.forEach((g, i) => {
    if (g.tensorCount !== here[i].params.length)
      throw mismatchError(where, `this optimizer: param group ${i} has ${g.tensorCount} tensors in the checkpoint but ${here[i].params.length} here`);
  });
  layouts.forEach((layout, i) => checkLayoutMatches(layout, layoutOf(optimizer.states[i]), where, `this optimizer's states[${i}]`));

  let first = 0;
  const dict: MicroAdamStateDict = {
    format: "microadam-native/state-dict",
    version: 1,
    layout: { window: layouts[0].window, density: layouts[0].density, topkBlockSize: layouts[0].topkBlockSize, quantBlockSize: layouts[0].quantBlockSize },
    paramGroups: groups.map(({ tensorCount, ...hyper }) => {
      const numels = layouts.slice(first, (first += tensorCount)).map((l) => l.numel);
      return { ...hyper, numels };
    }),
    states: snapshots,
  };
  try {
    optimizer.loadStateDict(dict);
  } catch (error) {
    throw asContentError(error, where);
  }
}

// The entry points behind MicroAdam's methods (lib/optimizer.ts).

export function saveOptimizerFile(optimizer: CheckpointableOptimizer, path: unknown): void {
  const file = requirePath(path, "path");
  writeFileAtomic(file, encodeOptimizerCheckpoint(optimizer));
}

export function optimizerCheckpointBuffer(optimizer: CheckpointableOptimizer): Buffer {
  return Buffer.concat(encodeOptimizerCheckpoint(optimizer));
}

export function loadOptimizerFile(optimizer: CheckpointableOptimizer, path: unknown): void {
  const file = requirePath(path, "path");
  loadOptimizerCheckpoint(optimizer, readCheckpointFile(file), `checkpoint ${file}`);
}

export function loadOptimizerBuffer(optimizer: CheckpointableOptimizer, buffer: unknown): void {
  loadOptimizerCheckpoint(optimizer, requireBytes(buffer, "buffer"), "checkpoint buffer");
}
