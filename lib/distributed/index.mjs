// ESM entry of microadam-native/distributed: the CommonJS build re-exported by name, so import
// and require() share one module instance (one process group, one addon).
import cjs from "./index.js";

export const { ProcessGroup, ShardedMicroAdam, partition, lcm, stateBytesOf, joinSnapshots, sliceSnapshot, ncclInfo } = cjs;
export default cjs;
