#include "nccl_communicator.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "core/errors.h"
#include "core/shard_cuts.h"
#include "cuda_check.h"
#include "rank_order_sum.cuh"

namespace microadam::cuda {

namespace {

constexpr uint32_t kSumThreads = 256;
constexpr uint64_t kMostSumBlocks = 4096;
// NCCL takes at most 2048 operations between ncclGroupStart and ncclGroupEnd (its user guide,
// "Group Calls"); groups here stay at half of that.
constexpr size_t kMostGroupedOperations = 1024;

// The joining of ncclCommInitRank, shared with the thread that makes the call: a rank whose peers
// never arrive stops waiting at the deadline, and a communicator that arrives after it is aborted.
struct Joining {
  std::mutex mutex;
  bool finished = false;
  bool abandoned = false;
  nccl::Result result = nccl::kSuccess;
  nccl::Comm comm = nullptr;
  std::string cudaError;
};

}  // namespace

std::vector<uint8_t> NcclCommunicator::newId() {
  const nccl::Library& nccl = nccl::library();
  nccl::UniqueId id;
  const nccl::Result r = nccl.getUniqueId(&id);
  if (r != nccl::kSuccess) throw CollectiveError(nccl.describe(r, "ncclGetUniqueId"));
  return std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(id.internal),
                              reinterpret_cast<const uint8_t*>(id.internal) + nccl::kUniqueIdBytes);
}

NcclCommunicator::NcclCommunicator(const std::vector<uint8_t>& id, int size, int rank, int deviceIndex,
                                   double timeoutSeconds)
    : nccl_(nccl::library()), size_(size), rank_(rank), device_(deviceIndex), timeout_(timeoutSeconds) {
  if (id.size() != nccl::kUniqueIdBytes)
    throw RangeError("Expected an NCCL id of " + std::to_string(nccl::kUniqueIdBytes) + " bytes but received " +
                     std::to_string(id.size()));
  if (size < 1 || rank < 0 || rank >= size)
    throw RangeError("Expected a rank in 0.." + std::to_string(size - 1) + " but received " + std::to_string(rank));
  checkCuda(cudaSetDevice(device_), "cudaSetDevice");
  cudaStream_t stream = nullptr;
  checkCuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  stream_ = stream;
  try {
    checkCuda(cudaMalloc(&nonFinite_, sizeof(uint32_t)), "cudaMalloc (the non-finite flag)");
    nccl::UniqueId uid;
    std::memcpy(uid.internal, id.data(), nccl::kUniqueIdBytes);
    auto joining = std::make_shared<Joining>();
    const nccl::Library& lib = nccl_;
    std::thread([joining, uid, size, rank, deviceIndex, &lib] {
      nccl::Comm comm = nullptr;
      nccl::Result result = nccl::kSuccess;
      std::string cudaError;
      if (cudaSetDevice(deviceIndex) != cudaSuccess)
        cudaError = cudaGetErrorString(cudaGetLastError());
      else
        result = lib.commInitRank(&comm, size, uid, rank);
      std::lock_guard<std::mutex> lock(joining->mutex);
      if (joining->abandoned && comm != nullptr) lib.commAbort(comm);
      joining->result = result;
      joining->comm = comm;
      joining->cudaError = cudaError;
      joining->finished = true;
    }).detach();
    // Polled rather than a timed condition-variable wait: that would need pthread_cond_clockwait
    // (glibc 2.30), above the prebuilds' glibc floor of 2.28 (csrc/compat/glibc_floor.cpp).
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    std::unique_lock<std::mutex> lock(joining->mutex);
    while (!joining->finished && std::chrono::steady_clock::now() < deadline) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      lock.lock();
    }
    if (!joining->finished) {
      joining->abandoned = true;
      throw CollectiveTimeoutError("ncclCommInitRank: not every one of the " + std::to_string(size) + " ranks joined within " +
                                   std::to_string(timeoutSeconds) + " s (a rank died, or called something else)");
    }
    if (!joining->cudaError.empty()) throw DeviceError("cudaSetDevice (NCCL's joining thread): " + joining->cudaError);
    if (joining->result != nccl::kSuccess) throw CollectiveError(nccl_.describe(joining->result, "ncclCommInitRank"));
    comm_ = joining->comm;
  } catch (...) {
    cudaFree(nonFinite_);
    cudaStreamDestroy(stream);
    cudaGetLastError();
    throw;
  }
}

NcclCommunicator::~NcclCommunicator() {
  cudaSetDevice(device_);
  if (comm_ != nullptr) nccl_.commDestroy(comm_);  // every collective was waited for: nothing in flight
  cudaFree(slots_);
  cudaFree(nonFinite_);
  cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
  cudaGetLastError();  // nothing left to report to
}

void NcclCommunicator::abort() {
  abortRequested_.store(true);
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (lock.owns_lock() && broken_.empty()) fail("the communicator was aborted");
  // Otherwise the collective in flight sees abortRequested_ while it waits, and aborts.
}

void NcclCommunicator::fail(const std::string& why) {
  if (comm_ != nullptr) nccl_.commAbort(comm_);
  comm_ = nullptr;
  broken_ = why;
}

void NcclCommunicator::requireUsable(const char* what) const {
  if (!broken_.empty()) throw CollectiveError(std::string(what) + ": the NCCL communicator is unusable after an earlier failure (" + broken_ + ")");
}

void NcclCommunicator::checkCall(nccl::Result result, const char* what) {
  if (result == nccl::kSuccess) return;
  const std::string why = nccl_.describe(result, what);
  fail(why);
  throw CollectiveError(why);
}

// Calls `enqueue` between ncclGroupStart and ncclGroupEnd; the group is always ended (NCCL keeps
// the group's depth per thread), then the first failure, if any, aborts the communicator.
template <typename Enqueue>
void NcclCommunicator::enqueueGroup(Enqueue enqueue) {
  checkCall(nccl_.groupStart(), "ncclGroupStart");
  nccl::Result failed = nccl::kSuccess;
  const char* failedCall = nullptr;
  enqueue(Enqueued([&](nccl::Result result, const char* call) {
    if (result != nccl::kSuccess && failed == nccl::kSuccess) failed = result, failedCall = call;
  }));
  const nccl::Result ended = nccl_.groupEnd();
  if (failed != nccl::kSuccess) checkCall(failed, failedCall);
  checkCall(ended, "ncclGroupEnd");
}

void NcclCommunicator::checkCuts(const ShardCuts& cuts, size_t tensorCount, const char* what) const {
  checkShardCuts(cuts);
  if (cuts.size != size_)
    throw RangeError(std::string(what) + ": expected cuts for " + std::to_string(size_) + " ranks but received " +
                     std::to_string(cuts.size));
  if (cuts.tensorCount() != tensorCount)
    throw RangeError(std::string(what) + ": expected one device pointer per tensor (" + std::to_string(cuts.tensorCount()) +
                     ") but received " + std::to_string(tensorCount));
}

void NcclCommunicator::ensureScratch(uint64_t slotFloats) {
  if (slotFloats <= slotFloats_) return;
  cudaFree(slots_);  // the stream is idle here: every collective waited for it
  slots_ = nullptr;
  slotFloats_ = 0;
  checkCuda(cudaMalloc(&slots_, slotFloats * size_ * sizeof(float)), "cudaMalloc (the reduce-scatter's slots)");
  slotFloats_ = slotFloats;
}

void NcclCommunicator::waitForStream(const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  auto pause = std::chrono::microseconds(2);
  for (;;) {
    const cudaError_t status = cudaStreamQuery(static_cast<cudaStream_t>(stream_));
    if (status == cudaSuccess) return;
    if (status != cudaErrorNotReady) {
      fail(std::string(what) + ": " + cudaGetErrorString(status));
      throwCudaError(status, what);
    }
    nccl::Result async = nccl::kSuccess;
    nccl_.commGetAsyncError(comm_, &async);
    if (async != nccl::kSuccess && async != nccl::kInProgress) {
      const std::string why = nccl_.describe(async, what);
      fail(why);
      throw CollectiveError(why);
    }
    if (abortRequested_.load()) {
      fail("the communicator was aborted");
      throw CollectiveError(std::string(what) + ": the NCCL communicator was aborted while it ran");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      const std::string why = std::string(what) + " did not finish within " + std::to_string(timeout_.count()) +
                              " s (a rank died, hung, or called something else); the NCCL communicator was aborted";
      fail(why);
      throw CollectiveTimeoutError(why);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

bool NcclCommunicator::reduceScatterInRankOrder(const ShardCuts& cuts, const std::vector<float*>& tensors, float* out,
                                                bool mean, int64_t chunkElements) {
  const char* what = "reduce-scatter (NCCL)";
  std::lock_guard<std::mutex> lock(mutex_);
  requireUsable(what);
  checkCuts(cuts, tensors.size(), what);
  if (chunkElements < 1) throw RangeError("Expected chunkElements of at least 1 but received " + std::to_string(chunkElements));
  const int64_t longest = cuts.longestOwnCount(), mine = cuts.ownCount(rank_);
  const int64_t chunk = std::max<int64_t>(1, std::min(chunkElements, longest));
  checkCuda(cudaSetDevice(device_), "cudaSetDevice");
  ensureScratch(uint64_t(chunk));
  const auto stream = static_cast<cudaStream_t>(stream_);
  // The gradients may come from work on any stream of this device (the caller's framework).
  checkCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize (before the reduce-scatter)");
  checkCuda(cudaMemsetAsync(nonFinite_, 0, sizeof(uint32_t), stream), "cudaMemsetAsync");
  // Every rank runs the same rounds (from the same cuts), even with nothing of its own.
  for (int64_t from = 0; from < longest; from += chunk) {
    // Each peer's values of this rank's range arrive in that peer's slot; this rank's values of
    // each peer's range go to the peer (the groups: core/shard_cuts.h, exchangeGroups).
    for (const std::vector<Exchange>& group : exchangeGroups(cuts, rank_, from, chunk, kMostGroupedOperations))
      enqueueGroup([&](const Enqueued& enqueued) {
        for (const Exchange& e : group) {
          for (const RoundSegment& s : e.sends)
            enqueued(nccl_.send(tensors[s.tensor] + s.offset, size_t(s.count), nccl::kFloat32, e.peer, comm_, stream_), "ncclSend");
          for (const RoundSegment& s : e.receives)
            enqueued(nccl_.recv(slots_ + uint64_t(e.peer) * chunk + s.at, size_t(s.count), nccl::kFloat32, e.peer, comm_, stream_),
                     "ncclRecv");
        }
      });
    const std::vector<RoundSegment> own = roundSegments(cuts, rank_, from, chunk);
    for (const RoundSegment& s : own)
      checkCuda(cudaMemcpyAsync(slots_ + uint64_t(rank_) * chunk + s.at, tensors[s.tensor] + s.offset, s.count * sizeof(float),
                                cudaMemcpyDeviceToDevice, stream),
                "cudaMemcpyAsync (this rank's own values)");
    const int64_t n = std::clamp<int64_t>(mine - from, 0, chunk);
    if (n > 0) {
      const uint64_t blocks = std::min<uint64_t>((uint64_t(n) + kSumThreads - 1) / kSumThreads, kMostSumBlocks);
      kernels::rankOrderSumKernel<<<uint32_t(blocks), kSumThreads, 0, stream>>>(slots_, uint32_t(size_), uint64_t(chunk),
                                                                              uint64_t(n), mean ? 1u : 0u, out + from, nonFinite_);
      checkCuda(cudaGetLastError(), "the rank-order sum kernel's launch");
    }
  }
  waitForStream(what);
  uint32_t nonFinite = 0;
  checkCuda(cudaMemcpy(&nonFinite, nonFinite_, sizeof(uint32_t), cudaMemcpyDeviceToHost), "cudaMemcpy (the non-finite flag)");
  return nonFinite != 0;
}

void NcclCommunicator::allGatherInPlace(const ShardCuts& cuts, const std::vector<float*>& tensors) {
  const char* what = "all-gather (NCCL)";
  std::lock_guard<std::mutex> lock(mutex_);
  requireUsable(what);
  checkCuts(cuts, tensors.size(), what);
  checkCuda(cudaSetDevice(device_), "cudaSetDevice");
  // The params were written by the step (on the engine's stream, or the caller's).
  checkCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize (before the all-gather)");
  // Every rank makes the same list of broadcasts (from the same cuts) and cuts it into groups at
  // the same places.
  struct Broadcast {
    float* range;
    int64_t count;
    int root;
  };
  std::vector<Broadcast> broadcasts;
  for (size_t t = 0; t < cuts.tensorCount(); ++t)
    for (int root = 0; root < size_; ++root)
      if (cuts.count(t, root) > 0) broadcasts.push_back({tensors[t] + cuts.offset(t, root), cuts.count(t, root), root});
  for (size_t first = 0; first < broadcasts.size(); first += kMostGroupedOperations)
    enqueueGroup([&](const Enqueued& enqueued) {
      const size_t last = std::min(broadcasts.size(), first + kMostGroupedOperations);
      for (size_t i = first; i < last; ++i) {
        const Broadcast& b = broadcasts[i];
        enqueued(nccl_.broadcast(b.range, b.range, size_t(b.count), nccl::kFloat32, b.root, comm_, stream_), "ncclBroadcast");
      }
    });
  waitForStream(what);
}

}  // namespace microadam::cuda
