// Checkpoints of a whole MicroAdam: an OPTM section (param groups and their hyperparameters),
// then LAYT + STAT for every tensor in the order of the flattened groups. Saving streams every
// state from native memory; loading streams each STAT section into a fresh staging state, checks
// the whole file and its fit to the optimizer, and only then lets every state adopt its staging
// state and sets the groups' hyperparameters: on any error nothing changed.
import type { NativeState } from "../binding";
import { checkHyper, type ResolvedHyper } from "../hyper";
import { asContentError, checkLayoutMatches, checkpointError, mismatchError, requireBytes, requirePath } from "./errors";
import { CheckpointKind, type CheckpointVisitor } from "./format";
import { decodeLayout, decodeOptimizer, encodeLayout, encodeOptimizer, layoutOf, type LayoutRecord, type SavedGroup } from "./records";
import { checkStateIdle, type CheckpointableState } from "./state-checkpoint";
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

/** What saving and loading need of a MicroAdam. */
export interface CheckpointableOptimizer {
  readonly states: readonly CheckpointableState[];
  readonly paramGroups: readonly ({ readonly params: readonly unknown[] } & ResolvedHyper)[];
}

function checkIdle(optimizer: CheckpointableOptimizer): void {
  optimizer.states.forEach((s, i) => checkStateIdle(s, `states[${i}]`));
}

function optimizerSections(optimizer: CheckpointableOptimizer): SectionPlan[] {
  const groups: SavedGroup[] = optimizer.paramGroups.map(({ lr, beta1, beta2, eps, weightDecay, alpha, params }) => ({
    lr,
    beta1,
    beta2,
    eps,
    weightDecay,
    alpha,
    tensorCount: params.length,
  }));
  const sections: SectionPlan[] = [{ tag: "OPTM", pieces: [encodeOptimizer(groups)] }];
  for (const state of optimizer.states) {
    const layout = layoutOf(state);
    sections.push({ tag: "LAYT", pieces: [encodeLayout(layout)] }, { tag: "STAT", pieces: statePieces(state.native, layout) });
  }
  return sections;
}

/** The visitor of a kind 2 checkpoint: every STAT section streamed into a staging state of its own. */
function optimizerVisitor(optimizer: CheckpointableOptimizer, where: string) {
  let sectionCount = 0;
  let groups: SavedGroup[] = [];
  let layout: LayoutRecord | undefined;
  const stagings: NativeState[] = [];
  const visitor: CheckpointVisitor = {
    header(kind, count) {
      if (kind === CheckpointKind.State)
        throw mismatchError(where, "a MicroAdam optimizer: it holds a single MicroAdamState (load it with MicroAdamState.load)");
      if (kind !== CheckpointKind.Optimizer) throw mismatchError(where, "a MicroAdam optimizer: it holds an AdamW state");
      sectionCount = count;
    },
    section(index, tag, length) {
      const expected = index === 0 ? "OPTM" : index % 2 === 1 ? "LAYT" : "STAT";
      if (tag !== expected) throw checkpointError(where, index === 0 ? "its first section is not OPTM" : `its section ${index} is ${tag}, expected ${expected}`);
      const tensor = (index - 1) >> 1;
      const at = `${where} (tensor ${tensor})`;
      if (tag === "OPTM") return { whole: (section) => (groups = checkGroups(optimizer, section, sectionCount, where)) };
      if (tag === "LAYT") return { whole: (section) => (layout = decodeLayout(section, at)) };
      checkStateLength(layout!, length, at);
      checkLayoutMatches(layout!, layoutOf(optimizer.states[tensor]), where, `this optimizer's states[${tensor}]`);
      const staging = createStaging(layout!);
      stagings.push(staging);
      return stateSink(staging, layout!, at);
    },
  };
  return { visitor, groups: () => groups, stagings };
}

/** The OPTM section against the file's section count and the optimizer's groups. */
function checkGroups(optimizer: CheckpointableOptimizer, section: Parameters<typeof decodeOptimizer>[0], sectionCount: number, where: string): SavedGroup[] {
  const { groups, tensorCount } = decodeOptimizer(section, where);
  if (sectionCount !== 1 + 2 * tensorCount)
    throw checkpointError(where, `it has ${sectionCount} sections, ${tensorCount} tensors need ${1 + 2 * tensorCount}`);
  const here = optimizer.paramGroups;
  if (groups.length !== here.length) throw mismatchError(where, `this optimizer: it has ${groups.length} param groups, this optimizer ${here.length}`);
  groups.forEach((g, i) => {
    if (g.tensorCount !== here[i].params.length)
      throw mismatchError(where, `this optimizer: param group ${i} has ${g.tensorCount} tensors in the checkpoint but ${here[i].params.length} here`);
  });
  return groups;
}

/**
 * Every state adopts its staging state, then the groups take their hyperparameters. A CPU
 * state's adoption swaps buffers and cannot fail (adopting again swaps back); a CUDA state's
 * uploads, so it is backed up first and put back if a later one fails.
 */
function commit(optimizer: CheckpointableOptimizer, groups: SavedGroup[], stagings: NativeState[], where: string): void {
  let hypers: ResolvedHyper[];
  try {
    hypers = groups.map((g, i) => checkHyper(g as unknown as Record<string, unknown>, `stateDict.paramGroups[${i}]`));
  } catch (error) {
    throw asContentError(error, where);
  }
  const states = optimizer.states;
  const backups = states.map((s) => (s.device === "cpu" ? undefined : s.snapshot()));
  let adopted = 0;
  try {
    for (; adopted < states.length; adopted++) states[adopted].native.adopt(stagings[adopted]);
  } catch (error) {
    for (let i = 0; i < adopted; i++) {
      const backup = backups[i];
      if (backup) states[i].restore(backup);
      else states[i].native.adopt(stagings[i]);
    }
    throw asContentError(error, where);
  }
  hypers.forEach((h, i) => Object.assign(optimizer.paramGroups[i], h));
}

function loadOptimizerFrom(optimizer: CheckpointableOptimizer, source: CheckpointSource, where: string): void {
  checkIdle(optimizer);
  const load = optimizerVisitor(optimizer, where);
  try {
    parseSource(source, where, load.visitor);
    commit(optimizer, load.groups(), load.stagings, where);
  } finally {
    for (const staging of load.stagings) staging.dispose();
  }
}

async function loadOptimizerFromAsync(optimizer: CheckpointableOptimizer, source: CheckpointSource, where: string): Promise<void> {
  checkIdle(optimizer);
  const load = optimizerVisitor(optimizer, where);
  try {
    await parseSourceAsync(source, where, load.visitor);
    checkIdle(optimizer);
    commit(optimizer, load.groups(), load.stagings, where);
  } finally {
    for (const staging of load.stagings) staging.dispose();
  }
}

// The entry points behind MicroAdam's methods (lib/optimizer.ts).

export function saveOptimizerFile(optimizer: CheckpointableOptimizer, path: unknown): void {
  const file = requirePath(path, "path");
  checkIdle(optimizer);
  writeCheckpointFile(file, CheckpointKind.Optimizer, optimizerSections(optimizer));
}

/** The save with the writes off the event loop; every state is held (no step runs) until it settles. */
export async function saveOptimizerFileAsync(optimizer: CheckpointableOptimizer, path: unknown): Promise<void> {
  const file = requirePath(path, "path");
  checkIdle(optimizer);
  const held: CheckpointableState[] = [];
  try {
    for (const state of optimizer.states) {
      state.native.acquire();
      held.push(state);
    }
    await writeCheckpointFileAsync(file, CheckpointKind.Optimizer, optimizerSections(optimizer));
  } finally {
    for (const state of held) state.native.release();
  }
}

export function optimizerCheckpointBuffer(optimizer: CheckpointableOptimizer): Buffer {
  checkIdle(optimizer);
  return checkpointBuffer(CheckpointKind.Optimizer, optimizerSections(optimizer));
}

export function loadOptimizerFile(optimizer: CheckpointableOptimizer, path: unknown): void {
  const file = requirePath(path, "path");
  loadOptimizerFrom(optimizer, { file }, `checkpoint ${file}`);
}

export function loadOptimizerFileAsync(optimizer: CheckpointableOptimizer, path: unknown): Promise<void> {
  const file = requirePath(path, "path");
  return loadOptimizerFromAsync(optimizer, { file }, `checkpoint ${file}`);
}

export function loadOptimizerBuffer(optimizer: CheckpointableOptimizer, buffer: unknown): void {
  loadOptimizerFrom(optimizer, { bytes: requireBytes(buffer, "buffer") }, "checkpoint buffer");
}
