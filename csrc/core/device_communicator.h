// Collectives between processes over device memory: what ShardedMicroAdam needs to keep CUDA
// states data-parallel (docs/distributed.md, "GPUs: NCCL"). The CUDA backend implements it over
// NCCL, loaded at run time (cuda/nccl_library.h), so neither building nor loading the addon needs
// NCCL; the processes find each other through the CPU process group, which carries the
// communicator id from rank 0 to the others.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shard_cuts.h"

namespace microadam {

// Whether the collective library can be used in this process, and which one.
struct CollectiveLibraryDescription {
  bool compiled = false;   // this build can load one (the CUDA backend is compiled in)
  bool available = false;  // it was found and loaded
  std::string name;        // "NCCL"
  std::string path;        // what was opened (MICROADAM_NCCL_LIBRARY, or libnccl.so.2)
  int version = 0;         // as the library reports it (NCCL: 22703 for 2.27.3)
  std::string error;       // why it is not available
};

// One rank's communicator on one device. Every call is collective: every rank makes the same
// calls in the same order with the same cuts. Each returns when the device has finished, or
// throws CollectiveTimeoutError once the deadline passed (a rank died or hung; the communicator
// is aborted and unusable afterwards) or CollectiveError.
class DeviceCommunicator {
 public:
  virtual ~DeviceCommunicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int deviceIndex() const = 0;

  // out (this rank's ranges, tensor after tensor) = the rank-order sum of every rank's values
  // (÷ size when `mean`), exchanged in rounds of at most chunkElements elements of each rank's
  // range (sumInRankOrder: the same bits as the MPI group). Device pointers, float32. Returns
  // whether any result is NaN or ±Inf.
  virtual bool reduceScatterInRankOrder(const ShardCuts& cuts, const std::vector<float*>& tensors, float* out,
                                        bool mean, int64_t chunkElements) = 0;
  // Every rank's ranges of every tensor to every rank, in place.
  virtual void allGatherInPlace(const ShardCuts& cuts, const std::vector<float*>& tensors) = 0;
  // Stops what is in flight and makes the communicator unusable (idempotent).
  virtual void abort() = 0;
};

}  // namespace microadam
