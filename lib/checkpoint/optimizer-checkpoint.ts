// Checkpoints of a whole MicroAdam: an OPTM section (param groups and their hyperparameters),
// then for every tensor in the order of the flattened groups either LAYT + STAT (a MicroAdam
// state) or, for a tensor under the optimizer's denseBelow, ADMW (an AdamW state; such a file is
// format version 2). Saving streams every MicroAdam state from native memory; loading streams
// each STAT section into a fresh staging state and decodes each ADMW section, checks the whole
// file and its fit to the optimizer, and only then lets every state take its staged contents and
// sets the groups' hyperparameters: on any error nothing changed.
import { isAdamWState } from "../adamw";
import type { NativeState } from "../binding";
import { checkHyper, type ResolvedHyper } from "../hyper";
import type { AdamWSnapshot } from "../adamw";
import type { CheckpointableAdamWState } from "./adamw-checkpoint";
import { asContentError, checkLayoutMatches, checkpointError, mismatchError, requireBytes, requirePath } from "./errors";
import { CheckpointKind, DENSE_OPTIMIZER_VERSION, type CheckpointVisitor } from "./format";
import { decodeAdamW, decodeLayout, decodeOptimizer, encodeAdamWParts, encodeLayout, encodeOptimizer, layoutOf, type LayoutRecord, type SavedGroup } from "./records";
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
  readonly states: readonly (CheckpointableState | CheckpointableAdamWState)[];
  readonly paramGroups: readonly ({ readonly params: readonly unknown[] } & ResolvedHyper)[];
}

function isDense(state: CheckpointableState | CheckpointableAdamWState): state is CheckpointableAdamWState {
  return isAdamWState(state);
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
    // An AdamW state is small (under denseBelow elements): its snapshot is copied now.
    if (isDense(state)) {
      sections.push({ tag: "ADMW", pieces: encodeAdamWParts(state.numel, state.snapshot()) });
      continue;
    }
    const layout = layoutOf(state);
    sections.push({ tag: "LAYT", pieces: [encodeLayout(layout)] }, { tag: "STAT", pieces: statePieces(state.native, layout) });
  }
  return sections;
}

/** What a tensor's sections staged: a MicroAdam state streamed into a staging state, or an AdamW snapshot. */
type Staged = { staging: NativeState } | { snapshot: AdamWSnapshot };

/**
 * The visitor of a kind 2 checkpoint: every STAT section streamed into a staging state of its
 * own, every ADMW section decoded; each tensor's kind must be its state's here.
 */
function optimizerVisitor(optimizer: CheckpointableOptimizer, where: string) {
  let sectionCount = 0;
  let version = 1;
  let groups: SavedGroup[] = [];
  let tensorCount = 0;
  let tensor = -1; // the tensor whose sections come now
  let layout: LayoutRecord | undefined; // set between a LAYT and its STAT
  const staged: Staged[] = [];
  const visitor: CheckpointVisitor = {
    header(kind, count, fileVersion) {
      if (kind === CheckpointKind.State)
        throw mismatchError(where, "a MicroAdam optimizer: it holds a single MicroAdamState (load it with MicroAdamState.load)");
      if (kind !== CheckpointKind.Optimizer) throw mismatchError(where, "a MicroAdam optimizer: it holds an AdamW state");
      sectionCount = count;
      version = fileVersion;
    },
    section(index, tag, length) {
      const expected = index === 0 ? ["OPTM"] : layout !== undefined ? ["STAT"] : version === DENSE_OPTIMIZER_VERSION ? ["LAYT", "ADMW"] : ["LAYT"];
      if (!expected.includes(tag))
        throw checkpointError(where, index === 0 ? "its first section is not OPTM" : `its section ${index} is ${tag}, expected ${expected.join(" or ")}`);
      if (tag === "OPTM")
        return {
          whole: (section) => {
            ({ groups, tensorCount } = checkGroups(optimizer, section, sectionCount, version, where));
          },
        };
      if (tag === "STAT") {
        const at = `${where} (tensor ${tensor})`;
        const stateLayout = layout!;
        layout = undefined;
        checkStateLength(stateLayout, length, at);
        const state = optimizer.states[tensor] as CheckpointableState;
        checkLayoutMatches(stateLayout, layoutOf(state), where, `this optimizer's states[${tensor}]`);
        const staging = createStaging(stateLayout);
        staged.push({ staging });
        return stateSink(staging, stateLayout, at);
      }
      tensor++;
      if (tensor >= tensorCount) throw checkpointError(where, `its section ${index} (${tag}) is past its ${tensorCount} tensors`);
      const at = `${where} (tensor ${tensor})`;
      const state = optimizer.states[tensor];
      const numel = isDense(state) ? state.numel : layoutOf(state).numel;
      if (isDense(state) !== (tag === "ADMW"))
        throw mismatchError(
          where,
          `this optimizer: tensor ${tensor} has ${tag === "ADMW" ? "an AdamW" : "a MicroAdam"} state in the checkpoint but ${
            isDense(state) ? "an AdamW" : "a MicroAdam"
          } state here (${numel} elements; construct the optimizer with the denseBelow it was saved with)`,
        );
      if (tag === "LAYT") return { whole: (section) => (layout = decodeLayout(section, at)) };
      return {
        whole: (section) => {
          const { numel: saved, snapshot } = decodeAdamW(section, at);
          if (saved !== numel) throw mismatchError(where, `this optimizer: tensor ${tensor} has ${saved} elements in the checkpoint, ${numel} here`);
          staged.push({ snapshot });
        },
      };
    },
  };
  /** Every tensor's sections came, the last one whole. */
  const finish = (): Staged[] => {
    if (staged.length !== tensorCount || layout !== undefined)
      throw checkpointError(where, `its ${sectionCount} sections hold ${staged.length} of its ${tensorCount} tensors`);
    return staged;
  };
  return { visitor, groups: () => groups, staged, finish };
}

/** The OPTM section against the file's section count and the optimizer's groups. */
function checkGroups(
  optimizer: CheckpointableOptimizer,
  section: Parameters<typeof decodeOptimizer>[0],
  sectionCount: number,
  version: number,
  where: string,
): { groups: SavedGroup[]; tensorCount: number } {
  const { groups, tensorCount } = decodeOptimizer(section, where);
  // Version 1: LAYT + STAT for every tensor; version 2: ADMW (one section) for some.
  const fewest = version === DENSE_OPTIMIZER_VERSION ? 1 + tensorCount : 1 + 2 * tensorCount;
  if (sectionCount < fewest || sectionCount > 1 + 2 * tensorCount)
    throw checkpointError(
      where,
      fewest === 1 + 2 * tensorCount
        ? `it has ${sectionCount} sections, ${tensorCount} tensors need ${1 + 2 * tensorCount}`
        : `it has ${sectionCount} sections, ${tensorCount} tensors need ${fewest} to ${1 + 2 * tensorCount}`,
    );
  const here = optimizer.paramGroups;
  if (groups.length !== here.length) throw mismatchError(where, `this optimizer: it has ${groups.length} param groups, this optimizer ${here.length}`);
  groups.forEach((g, i) => {
    if (g.tensorCount !== here[i].params.length)
      throw mismatchError(where, `this optimizer: param group ${i} has ${g.tensorCount} tensors in the checkpoint but ${here[i].params.length} here`);
  });
  return { groups, tensorCount };
}

/**
 * Every state takes its staged contents, then the groups take their hyperparameters. A CPU
 * MicroAdam state's adoption swaps buffers and cannot fail (adopting again swaps back); a CUDA
 * state's uploads and an AdamW state's restore copies, so those are backed up first and put back
 * if a later one fails.
 */
function commit(optimizer: CheckpointableOptimizer, groups: SavedGroup[], staged: Staged[], where: string): void {
  let hypers: ResolvedHyper[];
  try {
    hypers = groups.map((g, i) => checkHyper(g as unknown as Record<string, unknown>, `stateDict.paramGroups[${i}]`));
  } catch (error) {
    throw asContentError(error, where);
  }
  const states = optimizer.states;
  const backups = states.map((s) => (isDense(s) || s.device !== "cpu" ? s.snapshot() : undefined));
  const take = (i: number): void => {
    const state = states[i];
    const stage = staged[i];
    if ("snapshot" in stage) (state as CheckpointableAdamWState).restore(stage.snapshot);
    else (state as CheckpointableState).native.adopt(stage.staging);
  };
  let adopted = 0;
  try {
    for (; adopted < states.length; adopted++) take(adopted);
  } catch (error) {
    for (let i = 0; i < adopted; i++) {
      const backup = backups[i];
      const state = states[i];
      if (backup === undefined) take(i); // swaps back
      else if (isDense(state)) state.restore(backup as AdamWSnapshot);
      else state.restore(backup as Parameters<CheckpointableState["restore"]>[0]);
    }
    throw asContentError(error, where);
  }
  hypers.forEach((h, i) => Object.assign(optimizer.paramGroups[i], h));
}

function disposeStaged(staged: Staged[]): void {
  for (const stage of staged) if ("staging" in stage) stage.staging.dispose();
}

function loadOptimizerFrom(optimizer: CheckpointableOptimizer, source: CheckpointSource, where: string): void {
  checkIdle(optimizer);
  const load = optimizerVisitor(optimizer, where);
  try {
    parseSource(source, where, load.visitor);
    commit(optimizer, load.groups(), load.finish(), where);
  } finally {
    disposeStaged(load.staged);
  }
}

async function loadOptimizerFromAsync(optimizer: CheckpointableOptimizer, source: CheckpointSource, where: string): Promise<void> {
  checkIdle(optimizer);
  const load = optimizerVisitor(optimizer, where);
  try {
    await parseSourceAsync(source, where, load.visitor);
    checkIdle(optimizer);
    commit(optimizer, load.groups(), load.finish(), where);
  } finally {
    disposeStaged(load.staged);
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
      if (isDense(state)) continue; // its snapshot is taken before the first write
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
