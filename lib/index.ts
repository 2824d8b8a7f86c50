/**
 * The MicroAdam optimizer (Modoranu et al., NeurIPS 2024) for Node.js: states and steps over
 * typed arrays and device memory, the MicroAdam and AdamW optimizers with param groups,
 * checkpoints, and backend information. The algorithm is defined in docs/algorithm.md; the
 * layers are described in docs/architecture.md.
 *
 * @module microadam-native
 */
export type {
  Device,
  DeviceTensor,
  Dtype,
  Float32Tensor,
  GroupRecord,
  HalfTensor,
  MicroAdamSnapshot,
  MicroAdamStateConfig,
  MicroAdamStateDict,
  MicroAdamStateOptions,
  MicroAdamStepOptions,
  NonFinitePolicy,
  StepResult,
  StepTensor,
  Tensor,
} from "./types";
export { createMicroAdamState, MicroAdamState } from "./state";
export { microAdamStep, microAdamStepAsync } from "./step";
export {
  DEFAULT_DENSE_BELOW,
  MicroAdam,
  type MicroAdamOptions,
  type MicroAdamTensorState,
  type OptimizerStepOptions,
  type ParamGroup,
  type ResolvedParamGroup,
} from "./optimizer";
export { DeviceArray, synchronize, type DeviceArrayOptions, type SynchronizeOptions } from "./device-array";
export {
  AdamW,
  AdamWState,
  adamWStep,
  adamWStepAsync,
  createAdamWState,
  type AdamWOptions,
  type AdamWSnapshot,
  type AdamWStateDict,
  type AdamWStepOptions,
} from "./adamw";
export { backends, getNumThreads, setNumThreads, type Backends } from "./threads";
export type { CudaInfo } from "./binding";
export { STEP_SKIPPED_WARNING_CODE } from "./skip-warning";
export { loadState, loadStateAsync, saveState, saveStateAsync, stateToBuffer, type CheckpointTarget } from "./checkpoint";
export type { FromCheckpointOptions } from "./checkpoint/state-checkpoint";
export { bf16BitsToFloat, f16BitsToFloat, floatToBf16Bits, floatToF16Bits, toBf16, toF16, toFloat32 } from "./half";
