// ESM entry of microadam-native/tfjs: the CommonJS build re-exported by name, so import and
// require() share one module instance (one registration with tfjs, one native addon).
import cjs from "./index.js";

export const { MicroAdamOptimizer, AdamWOptimizer, NativeOptimizer, warmupDecaySchedule, DEFAULT_DENSE_BELOW } = cjs;
export default cjs;
