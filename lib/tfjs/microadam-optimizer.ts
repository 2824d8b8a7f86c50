// MicroAdamOptimizer: MicroAdam as a tf.Optimizer (model.compile, model.fit, minimize, custom loops).
import * as tf from "@tensorflow/tfjs";
import { NativeOptimizer } from "./native-optimizer";
import { optionsFromConfig, resolveOptions, type MicroAdamOptimizerOptions, type VariableSettings } from "./options";
import type { StateKind } from "./state-weights";

export class MicroAdamOptimizer extends NativeOptimizer {
  /** The name tfjs serialization knows this class by. */
  static readonly className = "MicroAdamOptimizer";

  constructor(options: MicroAdamOptimizerOptions) {
    super(resolveOptions(options, true));
  }

  /** Variables with fewer elements than this use the native AdamW (fixed at construction). */
  get denseBelow(): number {
    return this.microAdamOptions!.denseBelow;
  }

  protected kindFor(variable: tf.Variable, settings: VariableSettings): StateKind {
    if (settings.optimizer !== undefined) return settings.optimizer;
    return variable.size < this.denseBelow ? "adamw" : "microadam";
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(optionsFromConfig(config));
  }
}

tf.serialization.registerClass(MicroAdamOptimizer);
