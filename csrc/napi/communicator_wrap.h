// The GPU collectives for lib/distributed (docs/distributed.md, "GPUs: NCCL"): what the CUDA
// backend's collective library is, a new communicator id, and the JS class NativeCommunicator
// around a DeviceCommunicator (core/device_communicator.h). Every collective runs on a worker
// thread (a Promise); pointers arrive as bigints. Conversions only: the backend does the work.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/device_communicator.h"

namespace microadam::napi {

// collectives(): { compiled, available, name, path, version, versionString, error }
Napi::Value Collectives(const Napi::CallbackInfo& info);
// requireCollectives(deviceIndex): throws unless the library loaded and the device is usable.
Napi::Value RequireCollectives(const Napi::CallbackInfo& info);
// newCommunicatorId(): a Uint8Array (rank 0 makes it; the process group broadcasts it).
Napi::Value NewCommunicatorId(const Napi::CallbackInfo& info);
// createCommunicator(id, size, rank, deviceIndex, timeoutSeconds): Promise<NativeCommunicator>.
Napi::Value CreateCommunicator(const Napi::CallbackInfo& info);

class CommunicatorWrap : public Napi::ObjectWrap<CommunicatorWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  // Only createCommunicator makes one (its argument is an External holding the communicator).
  explicit CommunicatorWrap(const Napi::CallbackInfo& info);

 private:
  // reduceScatterInRankOrder(tensors: bigint[], lengths: number[], counts: Int32Array,
  //   offsets: Int32Array, out: bigint, mean: boolean, chunkElements: number): Promise<boolean>
  Napi::Value ReduceScatterInRankOrder(const Napi::CallbackInfo& info);
  // allGatherInPlace(tensors: bigint[], lengths: number[], counts, offsets): Promise<void>
  Napi::Value AllGatherInPlace(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Rank(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value DeviceIndex(const Napi::CallbackInfo& info);

  std::shared_ptr<DeviceCommunicator> communicator_;
};

}  // namespace microadam::napi
