// The benchmark's design in one place: data, models, schedule, sweep, seeds. The report prints
// these, so docs/convergence.md always says how its numbers were made.

import type { ModelName } from "./models";
import type { OverheadCase } from "./overhead";
import type { VariantName } from "./optimizers";
import type { Phase, RunKey, StoredRun } from "./results";

export interface Settings {
  /** Seed of the train/test split of the mnist package's 10,000 digits (fixed for every run). */
  dataSeed: number;
  /** Training digits; the sweep trains on the first train − validation of them. */
  train: number;
  /** Held-out digits for the final test accuracy (disjoint from train). */
  test: number;
  /** The last `validation` training digits: the sweep's validation set. */
  validation: number;
  batch: number;
  epochs: Record<ModelName, number>;
  /** Linear warmup over this fraction of the steps, then cosine decay to 0, for every optimizer. */
  warmupFraction: number;
  /** Peak learning rates tried by the sweep (the same grid for every optimizer). */
  lrGrid: number[];
  /** Seed of the sweep runs. */
  sweepSeed: number;
  /** Seeds of the final and ablation runs (initial weights and batch order). */
  seeds: number[];
  ablationModels: ModelName[];
  overheadCases: OverheadCase[];
  overheadRepeats: number;
}

const MLP_SHAPES = [[784, 128], [128], [128, 10], [10]];

export const FULL: Settings = {
  dataSeed: 1,
  train: 8000,
  test: 2000,
  validation: 1000,
  batch: 64,
  // The CNN step costs about twice the MLP's on the pure-JS backend, hence fewer epochs.
  epochs: { mlp: 10, cnn: 6 },
  warmupFraction: 0.05,
  lrGrid: [0.002, 0.004, 0.008, 0.016, 0.032],
  sweepSeed: 1,
  seeds: [1, 2, 3],
  ablationModels: ["mlp", "cnn"],
  overheadCases: [
    { name: "MLP 784-128-10 (the benchmark's)", shapes: MLP_SHAPES },
    { name: "MLP 784-1024-1024-10", shapes: [[784, 1024], [1024], [1024, 1024], [1024], [1024, 10], [10]] },
  ],
  overheadRepeats: 50,
};

/** A run of seconds for the tests: the same code paths on a sliver of the data. */
export const QUICK: Settings = {
  dataSeed: 1,
  train: 192,
  test: 128,
  validation: 64,
  batch: 64,
  epochs: { mlp: 1, cnn: 1 },
  warmupFraction: 0.05,
  lrGrid: [0.002, 0.004],
  sweepSeed: 1,
  seeds: [1],
  ablationModels: ["mlp"],
  overheadCases: [{ name: "MLP 784-128-10 (the benchmark's)", shapes: MLP_SHAPES }],
  overheadRepeats: 3,
};

export function runKey(settings: Settings, model: ModelName, phase: Phase, optimizer: VariantName, lr: number, seed: number): RunKey {
  const sweep = phase === "sweep";
  return {
    phase,
    optimizer,
    lr,
    seed,
    epochs: settings.epochs[model],
    batch: settings.batch,
    warmupFraction: settings.warmupFraction,
    trainSamples: sweep ? settings.train - settings.validation : settings.train,
    evalSamples: sweep ? settings.validation : settings.test,
  };
}

/** The peak learning rate the sweep chose: best validation accuracy, then lowest validation loss. */
export function chosenLr(runs: StoredRun[], settings: Settings, model: ModelName, optimizer: VariantName): { lr: number; atEdge: boolean } | null {
  const candidates = settings.lrGrid
    .map((lr) => runs.find((r) => matches(r, runKey(settings, model, "sweep", optimizer, lr, settings.sweepSeed))))
    .filter((r): r is StoredRun => r !== undefined);
  if (candidates.length < settings.lrGrid.length) return null;
  const best = candidates.reduce((a, b) =>
    b.finalAccuracy > a.finalAccuracy || (b.finalAccuracy === a.finalAccuracy && b.finalLoss < a.finalLoss) ? b : a,
  );
  const grid = [...settings.lrGrid].sort((a, b) => a - b);
  return { lr: best.lr, atEdge: grid.length > 1 && (best.lr === grid[0] || best.lr === grid[grid.length - 1]) };
}

export function matches(run: StoredRun, key: RunKey): boolean {
  return (Object.keys(key) as (keyof RunKey)[]).every((k) => run[k] === key[k]);
}
