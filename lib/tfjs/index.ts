/**
 * MicroAdam and the native AdamW as TensorFlow.js optimizers (`model.compile`, `model.fit`,
 * `minimize`, custom loops). This entry imports `@tensorflow/tfjs` (an optional peer
 * dependency); the root entry never does. Guide: docs/tfjs.md.
 *
 * @module microadam-native/tfjs
 */
export { MicroAdamOptimizer } from "./microadam-optimizer";
export { AdamWOptimizer } from "./adamw-optimizer";
export { NativeOptimizer, type NamedGradient, type NamedWeight, type VariableState } from "./native-optimizer";
export { DEFAULT_DENSE_BELOW, type AdamWOptimizerOptions, type MicroAdamOptimizerOptions, type VariableMatcher, type VariableOverride } from "./options";
export {
  warmupDecaySchedule,
  type LearningRate,
  type LearningRateSchedule,
  type ScheduleConfig,
  type WarmupDecayConfig,
} from "./schedule";
export type { StateKind } from "./state-weights";
