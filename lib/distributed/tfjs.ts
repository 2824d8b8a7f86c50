// microadam-native/distributed/tfjs: the TensorFlow.js side of data parallelism (imports
// @tensorflow/tfjs, an optional peer dependency; microadam-native/distributed never does).
export { broadcastModel, DataParallelMicroAdamOptimizer, type DataParallelOptions } from "./tfjs-optimizer";
