// The CUDA backend's DeviceCommunicator (core/device_communicator.h) over NCCL
// (nccl_library.h): the reduce-scatter in rank order as grouped ncclSend/ncclRecv rounds plus
// the rank-order sum kernel (rank_order_sum.cuh), the all-gather as grouped in-place
// ncclBroadcasts, one collective at a time on the communicator's own stream. Waiting polls the
// stream and NCCL's asynchronous error against a deadline (PyTorch's watchdog does the same), so
// a dead peer turns into CollectiveTimeoutError and an aborted communicator, never a hang.
// Plain C++ interface; the implementation is a .cu (it launches the kernel).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/device_communicator.h"
#include "nccl_library.h"

namespace microadam::cuda {

class NcclCommunicator final : public DeviceCommunicator {
 public:
  // Joins the `size` ranks that call it with the same id (ncclCommInitRank on a thread of its
  // own, waited for until `timeoutSeconds`). Throws CollectiveError, CollectiveTimeoutError, or
  // DeviceError from the CUDA runtime.
  NcclCommunicator(const std::vector<uint8_t>& id, int size, int rank, int deviceIndex, double timeoutSeconds);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int deviceIndex() const override { return device_; }

  bool reduceScatterInRankOrder(const ShardCuts& cuts, const std::vector<float*>& tensors, float* out, bool mean,
                                int64_t chunkElements) override;
  void allGatherInPlace(const ShardCuts& cuts, const std::vector<float*>& tensors) override;
  void abort() override;

  // A new id (ncclGetUniqueId).
  static std::vector<uint8_t> newId();

 private:
  // What an enqueueing call reports to enqueueGroup: its result and its name.
  using Enqueued = std::function<void(nccl::Result, const char*)>;
  template <typename Enqueue>
  void enqueueGroup(Enqueue enqueue);
  void checkCall(nccl::Result result, const char* what);
  void requireUsable(const char* what) const;
  void checkCuts(const ShardCuts& cuts, size_t tensorCount, const char* what) const;
  // Waits for the stream, polling it and NCCL's asynchronous error until the deadline.
  void waitForStream(const char* what);
  void fail(const std::string& why);  // aborts, then remembers why
  void ensureScratch(uint64_t slotFloats);

  const nccl::Library& nccl_;
  int size_, rank_, device_;
  std::chrono::duration<double> timeout_;
  nccl::Comm comm_ = nullptr;
  void* stream_ = nullptr;       // cudaStream_t
  float* slots_ = nullptr;       // size × slotFloats_ floats, device
  uint32_t* nonFinite_ = nullptr;  // one flag, device
  uint64_t slotFloats_ = 0;
  std::string broken_;  // why the communicator is unusable; empty while usable
  std::atomic<bool> abortRequested_{false};
  std::mutex mutex_;    // one collective at a time
};

}  // namespace microadam::cuda
