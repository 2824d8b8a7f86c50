// Sharded checkpoints (docs/distributed.md, "Checkpoints"): a directory with one optimizer
// checkpoint per rank (kind 2 of docs/checkpoint-format.md, written atomically by the existing
// code) and manifest.json, written last, atomically, by rank 0: the manifest names the files of
// one save, so a save that dies part way leaves the previous manifest and its files intact.
// Loading at any world size reads the shards that overlap each of this rank's pieces, joins and
// slices their states at block boundaries (snapshot-slices.ts; AdamW states of tensors under
// denseBelow elementwise): resharding moves bytes, computes nothing, and so is bit-identical.
import * as fs from "fs";
import * as path from "path";
import { checkHyper, type ResolvedHyper } from "../hyper";
import { loadOptimizerFileAsync } from "../checkpoint/optimizer-checkpoint";
import { writeFileAtomic } from "../checkpoint/file";
import { createAdamWState, type AdamWSnapshot } from "../adamw";
import { createMicroAdamState } from "../state";
import type { MicroAdamSnapshot, MicroAdamStateDict } from "../types";
import { typeError, withCode } from "../validate";
import type { Piece } from "./partition";
import type { ShardedMicroAdam } from "./sharded-optimizer";
import { joinAdamWSnapshots, joinSnapshots, sliceAdamWSnapshot, sliceSnapshot } from "./snapshot-slices";

const MANIFEST = "manifest.json";
const FORMAT = "microadam-native/sharded-checkpoint";

export interface ShardRecord {
  rank: number;
  /** The shard's file name in the checkpoint's directory; absent for a rank with no pieces. */
  file?: string;
  pieces: Piece[];
}

export interface ShardedManifest {
  format: typeof FORMAT;
  version: 1;
  worldSize: number;
  step: number;
  layout: { window: number; density: number; topkBlockSize: number; quantBlockSize: number };
  /** Tensors under it have AdamW states (absent in manifests written before it existed: 0, none). */
  denseBelow?: number;
  numels: number[];
  groups: (ResolvedHyper & { tensorCount: number })[];
  shards: ShardRecord[];
}

function checkpointError(message: string, code = "ERR_MICROADAM_CHECKPOINT"): Error {
  return withCode(new Error(`microadam-native/distributed: ${message}`), code);
}

function requireDirectory(value: unknown): string {
  if (typeof value !== "string" || value.length === 0) throw typeError("directory", "a directory path (a non-empty string)", value);
  return value;
}

function shardFile(rank: number, size: number, step: number): string {
  return `shard-${rank}-of-${size}.step-${step}.ckpt`;
}

/**
 * Every rank's outcome of a local part: if any rank failed, every rank throws (naming the ranks),
 * the failing ones with their own error as the cause.
 */
async function agree(optimizer: ShardedMicroAdam, what: string, local: unknown): Promise<void> {
  const failed = Int32Array.from({ length: optimizer.group.size }, (_, r) => (r === optimizer.group.rank && local !== undefined ? 1 : 0));
  const all = await optimizer.group.native.allReduce(failed, "max");
  const ranks = Array.from(all.keys()).filter((r) => all[r] !== 0);
  if (ranks.length === 0) return;
  const mine = local !== undefined ? `: ${(local as Error)?.message ?? String(local)}` : "";
  const error = checkpointError(`${what} failed on rank${ranks.length > 1 ? "s" : ""} ${ranks.join(", ")}${mine}; every rank stops here`, (local as { code?: string })?.code ?? "ERR_MICROADAM_CHECKPOINT");
  if (local !== undefined) (error as Error & { cause?: unknown }).cause = local;
  throw error;
}

/** Saves every rank's shard and then the manifest; resolves on every rank once the manifest is on disk. */
export async function saveSharded(optimizer: ShardedMicroAdam, directory: unknown): Promise<void> {
  const dir = requireDirectory(directory);
  const { rank, size } = optimizer.group;
  const step = optimizer.stepCount;
  const pieces = optimizer.partition.pieces;
  let failure: unknown;
  const local = optimizer.localOptimizer;
  const mine = local ? shardFile(rank, size, step) : undefined;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    if (local) await local.saveAsync(path.join(dir, mine!));
  } catch (error) {
    failure = error;
  }
  try {
    await agree(optimizer, `saving the shards to ${dir}`, failure);
  } catch (error) {
    discardShard(dir, mine);
    throw error;
  }
  if (rank === 0) {
    try {
      const manifest: ShardedManifest = {
        format: FORMAT,
        version: 1,
        worldSize: size,
        step,
        layout: { ...optimizer.layout },
        denseBelow: optimizer.denseBelow,
        numels: tensorNumels(optimizer),
        groups: optimizer.paramGroups.map((g, i) => ({ ...optimizer.hyperOf(i), tensorCount: g.params.length })),
        shards: pieces.map((own, r) => (own.length > 0 ? { rank: r, file: shardFile(r, size, step), pieces: own } : { rank: r, pieces: own })),
      };
      writeFileAtomic(path.join(dir, MANIFEST), [Buffer.from(JSON.stringify(manifest, null, 1) + "\n")]);
      removeStaleShards(dir, manifest);
    } catch (error) {
      failure = error;
    }
  }
  try {
    await agree(optimizer, `writing ${path.join(dir, MANIFEST)}`, failure);
  } catch (error) {
    discardShard(dir, mine);
    throw error;
  }
}

/**
 * After a failed save, this rank's new shard file, unless the manifest on disk names it (a save
 * at the same step and world size as the last good one wrote over that one's file, atomically,
 * and it must stay). Best effort, as removeStaleShards: an unreadable manifest keeps the file.
 */
function discardShard(dir: string, file: string | undefined): void {
  if (file === undefined) return;
  try {
    const manifestPath = path.join(dir, MANIFEST);
    if (fs.existsSync(manifestPath)) {
      const named = (JSON.parse(fs.readFileSync(manifestPath, "utf8")) as { shards?: { file?: unknown }[] }).shards?.map((s) => s.file);
      if (!Array.isArray(named) || named.includes(file)) return;
    }
    fs.rmSync(path.join(dir, file), { force: true });
  } catch {
    // the next successful save removes it (removeStaleShards)
  }
}

function tensorNumels(optimizer: ShardedMicroAdam): number[] {
  return [...optimizer.tensorNumels];
}

/** Shard files of earlier saves, now that the manifest names others (best effort: a leftover costs disk, not correctness). */
function removeStaleShards(dir: string, manifest: ShardedManifest): void {
  const keep = new Set(manifest.shards.map((s) => s.file).filter((f) => f !== undefined));
  for (const name of fs.readdirSync(dir))
    if (/^shard-\d+-of-\d+\.step-\d+\.ckpt$/.test(name) && !keep.has(name)) {
      try {
        fs.rmSync(path.join(dir, name), { force: true });
      } catch {
        // another process may be reading it; the next save tries again
      }
    }
}

/** Reads and checks a manifest against this optimizer: errors name the field that differs. */
export function readManifest(optimizer: ShardedMicroAdam, dir: string): ShardedManifest {
  const file = path.join(dir, MANIFEST);
  let manifest: ShardedManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, "utf8")) as ShardedManifest;
  } catch (error) {
    throw checkpointError(`cannot read the sharded checkpoint's manifest ${file}: ${(error as Error).message}`);
  }
  const mismatch = (what: string) => checkpointError(`the sharded checkpoint ${dir} does not fit this optimizer: ${what}`, "ERR_MICROADAM_CHECKPOINT_MISMATCH");
  if (manifest?.format !== FORMAT || manifest.version !== 1) throw checkpointError(`${file} is not a version 1 sharded checkpoint manifest`);
  if (!Number.isInteger(manifest.worldSize) || manifest.worldSize < 1 || !Array.isArray(manifest.shards) || manifest.shards.length !== manifest.worldSize)
    throw checkpointError(`${file}: worldSize ${manifest.worldSize} does not match its ${manifest.shards?.length} shard records`);
  const numels = tensorNumels(optimizer);
  if (!Array.isArray(manifest.numels) || manifest.numels.join() !== numels.join())
    throw mismatch(`its tensor sizes are [${manifest.numels}] but this optimizer's are [${numels}]`);
  for (const key of ["window", "density", "topkBlockSize", "quantBlockSize"] as const)
    if (manifest.layout?.[key] !== optimizer.layout[key]) throw mismatch(`layout.${key} is ${manifest.layout?.[key]} in the checkpoint but ${optimizer.layout[key]} here`);
  const counts = optimizer.paramGroups.map((g) => g.params.length);
  if (!Array.isArray(manifest.groups) || manifest.groups.map((g) => g.tensorCount).join() !== counts.join())
    throw mismatch(`its param groups hold [${manifest.groups?.map((g) => g.tensorCount)}] tensors, this optimizer's [${counts}]`);
  // Which tensors have AdamW states must agree (the values of denseBelow may differ where no tensor lies between them).
  const savedBelow = manifest.denseBelow ?? 0;
  if (!Number.isSafeInteger(savedBelow) || savedBelow < 0) throw checkpointError(`${file}: denseBelow ${manifest.denseBelow} is not a non-negative integer`);
  const differs = numels.findIndex((n, t) => n < savedBelow !== optimizer.isDenseTensor(t));
  if (differs >= 0)
    throw mismatch(
      `tensor ${differs} (${numels[differs]} elements) has ${numels[differs] < savedBelow ? "an AdamW" : "a MicroAdam"} state in the checkpoint (denseBelow ${savedBelow}) but ${
        optimizer.isDenseTensor(differs) ? "an AdamW" : "a MicroAdam"
      } state here (denseBelow ${optimizer.denseBelow}): construct the optimizer with the denseBelow it was saved with`,
    );
  return manifest;
}

/** The snapshots of one saved shard's pieces, read through the ordinary optimizer checkpoint loader. */
async function readShard(dir: string, manifest: ShardedManifest, shard: ShardRecord, groupOf: number[]): Promise<(MicroAdamSnapshot | AdamWSnapshot)[]> {
  if (shard.file === undefined || !/^shard-\d+-of-\d+\.step-\d+\.ckpt$/.test(shard.file)) throw checkpointError(`the manifest in ${dir} names no valid file for rank ${shard.rank}`);
  const savedBelow = manifest.denseBelow ?? 0;
  const states = shard.pieces.map((p) =>
    manifest.numels[p.tensor] < savedBelow ? createAdamWState({ numel: p.end - p.begin }) : createMicroAdamState({ numel: p.end - p.begin, ...manifest.layout }),
  );
  try {
    // The shard's groups: consecutive pieces of the same outer group, as the saving rank built them.
    const paramGroups: ({ params: unknown[] } & ResolvedHyper)[] = [];
    let last = -1;
    for (const p of shard.pieces) {
      const outer = groupOf[p.tensor];
      if (outer !== last) paramGroups.push({ params: [], ...manifest.groups[outer] });
      paramGroups[paramGroups.length - 1].params.push(p);
      last = outer;
    }
    await loadOptimizerFileAsync({ states, paramGroups }, path.join(dir, shard.file));
    return states.map((s) => s.snapshot());
  } finally {
    for (const s of states) s.dispose();
  }
}

/**
 * Loads a sharded checkpoint saved at any world size into this optimizer. All or nothing across
 * ranks: if any rank fails, every rank that loaded puts its previous state back, and all throw.
 */
export async function loadSharded(optimizer: ShardedMicroAdam, directory: unknown): Promise<void> {
  const dir = requireDirectory(directory);
  let failure: unknown;
  let manifest: ShardedManifest | undefined;
  let previous: MicroAdamStateDict | undefined;
  const local = optimizer.localOptimizer;
  try {
    manifest = readManifest(optimizer, dir);
    const groupOf = optimizer.paramGroups.flatMap((g, i) => g.params.map(() => i));
    const saved = manifest.shards.flatMap((shard) => shard.pieces.map((piece) => ({ shard, piece })));
    const shardCache = new Map<number, (MicroAdamSnapshot | AdamWSnapshot)[]>();
    const snapshots: (MicroAdamSnapshot | AdamWSnapshot)[] = [];
    for (const piece of optimizer.pieces) {
      // The saved pieces of this tensor that overlap this piece, in order (they are contiguous).
      const overlapping = saved
        .filter(({ piece: p }) => p.tensor === piece.tensor && p.begin < piece.end && piece.begin < p.end)
        .sort((a, b) => a.piece.begin - b.piece.begin);
      const covered = overlapping.length > 0 && overlapping[0].piece.begin <= piece.begin && overlapping[overlapping.length - 1].piece.end >= piece.end;
      if (!covered) throw checkpointError(`the sharded checkpoint ${dir} does not cover elements [${piece.begin}, ${piece.end}) of tensor ${piece.tensor}`);
      const parts: (MicroAdamSnapshot | AdamWSnapshot)[] = [];
      for (const { shard, piece: p } of overlapping) {
        let shardSnapshots = shardCache.get(shard.rank);
        if (!shardSnapshots) shardCache.set(shard.rank, (shardSnapshots = await readShard(dir, manifest, shard, groupOf)));
        parts.push(shardSnapshots[shard.pieces.indexOf(p)]);
      }
      const from = overlapping[0].piece.begin;
      const to = overlapping[overlapping.length - 1].piece.end;
      if (optimizer.isDenseTensor(piece.tensor)) {
        snapshots.push(sliceAdamWSnapshot(joinAdamWSnapshots(parts as AdamWSnapshot[]), piece.begin - from, piece.end - from));
        continue;
      }
      const joined = joinSnapshots(parts as MicroAdamSnapshot[], overlapping.map(({ piece: p }) => p.end - p.begin), manifest.layout);
      snapshots.push(sliceSnapshot(joined, to - from, piece.begin - from, piece.end - from, manifest.layout));
    }
    if (local) {
      previous = local.stateDict();
      const hypers = manifest.groups.map((g, i) => checkHyper(g as unknown as Record<string, unknown>, `manifest.groups[${i}]`));
      local.loadStateDict({
        format: "microadam-native/state-dict",
        version: 2,
        layout: manifest.layout,
        paramGroups: local.paramGroups.map((g, i) => ({ ...hypers[localOuter(optimizer, i)], numels: g.params.map((p) => (p as Float32Array).length) })),
        states: snapshots,
      });
    }
  } catch (error) {
    failure = error;
  }
  try {
    await agree(optimizer, `loading the sharded checkpoint ${dir}`, failure);
  } catch (error) {
    if (failure === undefined && local && previous) local.loadStateDict(previous); // this rank loaded; another did not
    throw error;
  }
  manifest!.groups.forEach((g, i) => Object.assign(optimizer.paramGroups[i], checkHyper(g as unknown as Record<string, unknown>, `manifest.groups[${i}]`)));
  optimizer.setStepCount(manifest!.step);
}

/** The outer group of the local optimizer's group i. */
function localOuter(optimizer: ShardedMicroAdam, i: number): number {
  const groupOf = optimizer.paramGroups.flatMap((g, gi) => g.params.map(() => gi));
  const runs: number[] = [];
  for (const p of optimizer.pieces) if (runs[runs.length - 1] !== groupOf[p.tensor]) runs.push(groupOf[p.tensor]);
  return runs[i];
}
