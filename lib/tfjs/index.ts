// microadam-native/tfjs: MicroAdam and the native AdamW as TensorFlow.js optimizers. This entry
// imports @tensorflow/tfjs (an optional peer dependency); the root entry never does.
// Guide: docs/tfjs.md.
export { MicroAdamOptimizer } from "./microadam-optimizer";
export { AdamWOptimizer } from "./adamw-optimizer";
export { NativeOptimizer, type NamedGradient, type NamedWeight, type VariableState } from "./native-optimizer";
export type { AdamWOptimizerOptions, MicroAdamOptimizerOptions, VariableMatcher, VariableOverride } from "./options";
export {
  warmupDecaySchedule,
  type LearningRate,
  type LearningRateSchedule,
  type ScheduleConfig,
  type WarmupDecayConfig,
} from "./schedule";
export type { StateKind } from "./state-weights";
