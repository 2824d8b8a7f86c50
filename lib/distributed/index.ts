// microadam-native/distributed: data-parallel training over MPI (docs/distributed.md). This
// entry loads the optional distributed addon on first use; the root entry never does.
export { ProcessGroup, type ProcessGroupOptions } from "./process-group";
export {
  ShardedMicroAdam,
  type ShardedGroup,
  type ShardedLayout,
  type ShardedMicroAdamOptions,
  type ShardedParamGroup,
} from "./sharded-optimizer";
export type { ShardedTensor } from "./sharded-params";
export { ncclInfo, type NcclInfo } from "./nccl";
export { partition, lcm, stateBytesOf, type Partition, type Piece } from "./partition";
export { joinSnapshots, sliceSnapshot, type SliceLayout } from "./snapshot-slices";
