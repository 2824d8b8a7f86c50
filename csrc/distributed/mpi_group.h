// A process group over MPI (docs/distributed.md), with no Node in it: one communication thread
// makes every MPI call (MPI_Init_thread with MPI_THREAD_FUNNELED on that thread), in the order
// the host posted them, so every rank runs its collectives in the same order. Each collective is
// nonblocking underneath and waited for with a deadline: a rank that died or never arrives turns
// into a TimeoutError (and a broken group), not a hang.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace microadam::distributed {

// A collective failed (an MPI error code, or the group is unusable after an earlier failure).
struct CollectiveError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A collective did not complete within the group's timeout; the group is unusable afterwards.
struct CollectiveTimeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A bad argument (sizes, counts): nothing was sent.
struct ArgumentError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Uint16: bf16 and f16 params, moved as their bits.
enum class ElementType { Byte, Int32, Float32, Float64, Uint16 };
enum class ReduceOp { Max, Min, Sum };

struct GroupInfo {
  int rank = 0;
  int size = 1;
  int threadLevel = 0;     // what MPI_Init_thread provided
  std::string library;     // MPI_Get_library_version, first line
};

class MpiGroup {
 public:
  // The communication thread's name (pthread_setname_np; at most 15 characters).
  static constexpr const char* kThreadName = "microadam-mpi";

  // Starts the communication thread and initializes MPI on it (once per process: MPI cannot be
  // initialized again after MPI_Finalize). Throws CollectiveError when MPI refuses.
  static MpiGroup& start(double timeoutSeconds);
  static MpiGroup* current();  // nullptr before start()

  const GroupInfo& info() const { return info_; }
  double timeoutSeconds() const { return timeoutSeconds_.load(); }
  void setTimeoutSeconds(double seconds) { timeoutSeconds_.store(seconds); }
  bool finalized() const { return finalized_.load(); }

  // Queues work for the communication thread; tasks run one at a time, in posting order.
  void post(std::function<void()> task);

  // The collectives below run on the communication thread only (inside a posted task).

  // The tensors as every rank cuts them: for tensor t and rank r, rank r owns elements
  // [offsets[t*size + r], offsets[t*size + r] + counts[t*size + r]) of tensor t (a count of 0:
  // nothing). The same on every rank.
  struct TensorCuts {
    std::vector<void*> tensors;
    std::vector<ElementType> types;  // of each tensor: Float32, or Uint16 (bf16/f16 params; all-gather only)
    std::vector<int64_t> lengths;
    std::vector<int> counts;
    std::vector<int> offsets;
  };
  // Checks the cuts (every range inside its tensor, counts per rank within int): ArgumentError.
  void checkCuts(const TensorCuts& cuts) const;

  // This rank receives every rank's values of its own ranges and sums them:
  // out[i] = (((x_0[i] + x_1[i]) + x_2[i]) + ...) in float32, in rank order, ÷ the world size
  // when `mean`; out holds this rank's ranges, tensor after tensor. The exchange runs in rounds
  // of at most chunkElements elements of every rank's range (one MPI_Ialltoallv each), so its
  // buffers are 2 × world size × chunkElements floats whatever the model's size. Returns whether
  // any out[i] is NaN or ±Inf.
  bool reduceScatterInRankOrder(const TensorCuts& grads, float* out, int64_t outLength, bool mean, int64_t chunkElements);
  // Every rank's own ranges of every tensor to every rank, in place (MPI_Iallgatherv with
  // MPI_IN_PLACE, one per tensor).
  void allGatherInPlace(const TensorCuts& params);
  // recv gets every rank's `send` (counts[r] elements from rank r) in rank order.
  void allGatherV(const void* send, int64_t sendCount, void* recv, const std::vector<int64_t>& counts,
                  ElementType type);
  void allReduce(const void* send, void* recv, int64_t count, ElementType type, ReduceOp op);
  void broadcast(void* buffer, int64_t count, ElementType type, int root);
  void barrier();
  // MPI_Finalize and the end of the communication thread. Idempotent; safe at process exit.
  void finalize();

  // Waits for the communication thread to run `task` (for init and finalize at exit).
  void runAndWait(std::function<void()> task);

 private:
  explicit MpiGroup(double timeoutSeconds);
  void threadMain();
  void initOnThread();
  void check(int rc, const char* what);
  void wait(void* request, const char* what);  // MPI_Request*
  void waitAll(void* requests, int count, const char* what);  // an array of MPI_Request
  void requireUsable(const char* what) const;
  std::vector<int> intCounts(const std::vector<int64_t>& counts, const char* what) const;

  GroupInfo info_;
  std::atomic<double> timeoutSeconds_;
  std::string broken_;  // why the group is unusable ("" while it is usable); the thread's own
  std::atomic<bool> finalized_{false};
  std::vector<float> sendChunk_, recvChunk_;  // the reduce's round buffers (world size × chunk), kept between steps

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace microadam::distributed
