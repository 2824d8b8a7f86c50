// AdamWOptimizer: the native fused AdamW as a tf.Optimizer, MicroAdamOptimizer's uncompressed
// twin (switching is one line).
import * as tf from "@tensorflow/tfjs";
import { NativeOptimizer } from "./native-optimizer";
import { optionsFromConfig, resolveOptions, type AdamWOptimizerOptions } from "./options";
import type { StateKind } from "./state-weights";

export class AdamWOptimizer extends NativeOptimizer {
  /** The name tfjs serialization knows this class by. */
  static readonly className = "AdamWOptimizer";

  constructor(options: AdamWOptimizerOptions) {
    super(resolveOptions(options, false));
  }

  protected kindFor(): StateKind {
    return "adamw";
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(optionsFromConfig(config));
  }
}

tf.serialization.registerClass(AdamWOptimizer);
