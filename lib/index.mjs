// ESM entry: the CommonJS build re-exported by name, so `import { microAdamStep } from
// "microadam-native"` and require() share one module instance (and one native addon).
import cjs from "./index.js";

export const {
  createMicroAdamState,
  MicroAdamState,
  microAdamStep,
  microAdamStepAsync,
  MicroAdam,
  DEFAULT_DENSE_BELOW,
  DeviceArray,
  synchronize,
  AdamW,
  AdamWState,
  adamWStep,
  adamWStepAsync,
  createAdamWState,
  backends,
  getNumThreads,
  setNumThreads,
  loadState,
  loadStateAsync,
  saveState,
  saveStateAsync,
  stateToBuffer,
  bf16BitsToFloat,
  f16BitsToFloat,
  floatToBf16Bits,
  floatToF16Bits,
  toBf16,
  toF16,
  toFloat32,
  STEP_SKIPPED_WARNING_CODE,
} = cjs;
export default cjs;
