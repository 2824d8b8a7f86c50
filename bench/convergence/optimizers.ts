// The optimizers the benchmark compares, all as tf.Optimizers stepping the same tf.Variables:
//   microadam        MicroAdamOptimizer with the paper's defaults (m = 10, density 1%, Q = 64)
//   adam             tfjs's own tf.train.adam (two float32 moments)
//   adamw            the native AdamWOptimizer (weight decay 0 here, as for the others)
// and the ablations of MicroAdam:
//   microadam-noef   Top-K only: the error feedback is zeroed after every step
//   microadam-m5     window m = 5
//   microadam-m20    window m = 20
// Every one gets the same learning-rate schedule, with its own peak from the sweep.

import * as tf from "@tensorflow/tfjs";
import type { MicroAdamState } from "../../lib";
import { AdamWOptimizer, MicroAdamOptimizer, type LearningRateSchedule } from "../../lib/tfjs";

export type OptimizerName = "microadam" | "adam" | "adamw";
export type AblationName = "microadam-noef" | "microadam-m5" | "microadam-m20";
export type VariantName = OptimizerName | AblationName;

export const OPTIMIZER_NAMES: readonly OptimizerName[] = ["microadam", "adam", "adamw"];
export const ABLATION_NAMES: readonly AblationName[] = ["microadam-noef", "microadam-m5", "microadam-m20"];

export const VARIANT_LABELS: Readonly<Record<VariantName, string>> = {
  microadam: "MicroAdam (m=10, 1%)",
  adam: "tfjs Adam",
  adamw: "native AdamW",
  "microadam-noef": "MicroAdam, no error feedback",
  "microadam-m5": "MicroAdam, m=5",
  "microadam-m20": "MicroAdam, m=20",
};

/** An optimizer ready to train, with what the benchmark reads of it. */
export interface BenchOptimizer {
  optimizer: tf.Optimizer;
  /** Bytes kept between steps (after the first step, when every state exists). */
  stateBytes(): number;
  /** Before each applyGradients: sets the scheduled learning rate where the optimizer cannot take a schedule. */
  beforeStep(iteration: number): void;
  /** After each applyGradients (the no-error-feedback ablation clears the error here). */
  afterStep(): void;
  skippedSteps(): number;
  dispose(): void;
}

/** Top-K only: every MicroAdam state's error codes and ranges set to 0, the window kept. */
function clearErrorFeedback(optimizer: MicroAdamOptimizer): void {
  for (const v of optimizer.variableStates()) {
    if (v.kind !== "microadam") continue;
    const state = v.state as MicroAdamState;
    const snapshot = state.snapshot();
    snapshot.errorCodes.fill(0);
    snapshot.errorMin.fill(0);
    snapshot.errorMax.fill(0);
    state.restore(snapshot);
  }
}

function native(optimizer: MicroAdamOptimizer | AdamWOptimizer, afterStep: () => void = () => {}): BenchOptimizer {
  return {
    optimizer,
    stateBytes: () => optimizer.stateBytes,
    beforeStep: () => {},
    afterStep,
    skippedSteps: () => optimizer.skippedSteps,
    dispose: () => optimizer.dispose(),
  };
}

/** `weightCount`: the model's weights (for tfjs Adam's state: 8 bytes each). */
export function makeOptimizer(name: VariantName, schedule: LearningRateSchedule, weightCount: number): BenchOptimizer {
  // denseBelow 0: every variable on MicroAdam (the paper's setting), as docs/convergence.md's
  // figures were made; MicroAdamOptimizer's default (4096) would put this MLP's biases on AdamW.
  switch (name) {
    case "microadam":
      return native(new MicroAdamOptimizer({ learningRate: schedule, denseBelow: 0 }));
    case "microadam-m5":
      return native(new MicroAdamOptimizer({ learningRate: schedule, window: 5, denseBelow: 0 }));
    case "microadam-m20":
      return native(new MicroAdamOptimizer({ learningRate: schedule, window: 20, denseBelow: 0 }));
    case "microadam-noef": {
      const optimizer = new MicroAdamOptimizer({ learningRate: schedule, denseBelow: 0 });
      return native(optimizer, () => clearErrorFeedback(optimizer));
    }
    case "adamw":
      return native(new AdamWOptimizer({ learningRate: schedule }));
    case "adam": {
      // epsilon 1e-8 as the native optimizers (tfjs would take its backend's 1e-7).
      const optimizer = tf.train.adam(schedule(0), 0.9, 0.999, 1e-8);
      return {
        optimizer,
        // m and v: two float32 tensors per weight tensor (plus two scalars for β^t).
        stateBytes: () => 8 * weightCount,
        // AdamOptimizer reads this.learningRate on every applyGradients.
        beforeStep: (iteration) => ((optimizer as unknown as { learningRate: number }).learningRate = schedule(iteration)),
        afterStep: () => {},
        skippedSteps: () => 0,
        dispose: () => optimizer.dispose(),
      };
    }
  }
}
