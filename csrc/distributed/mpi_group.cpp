#include "mpi_group.h"

#include <dlfcn.h>
#include <mpi.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cmath>
#include <future>
#include <memory>
#include <sstream>

#include "core/shard_cuts.h"

namespace microadam::distributed {

namespace {

MpiGroup* theGroup = nullptr;  // one per process: MPI is initialized once

MPI_Datatype mpiType(ElementType type) {
  switch (type) {
    case ElementType::Byte: return MPI_BYTE;
    case ElementType::Int32: return MPI_INT;
    case ElementType::Float32: return MPI_FLOAT;
    case ElementType::Float64: return MPI_DOUBLE;
    case ElementType::Uint16: return MPI_UINT16_T;
  }
  return MPI_BYTE;
}

MPI_Op mpiOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
    case ReduceOp::Sum: return MPI_SUM;
  }
  return MPI_MAX;
}

std::string errorString(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, length) + " (MPI error " + std::to_string(rc) + ")";
}

// Open MPI loads its components (mca_*.so) with dlopen and they expect libmpi's symbols to be
// global. Node loads an addon with RTLD_LOCAL, so libmpi (a dependency of this addon) would be
// local too; reopening it RTLD_GLOBAL|RTLD_NOLOAD promotes the loaded copy (mpi4py does the same).
void promoteMpiToGlobal() {
  for (const char* name : {"libmpi.so.40", "libmpi.so.12", "libmpi.so"}) {
    if (dlopen(name, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) != nullptr) return;
  }
}

}  // namespace

MpiGroup::MpiGroup(double timeoutSeconds) : timeoutSeconds_(timeoutSeconds) {}

MpiGroup* MpiGroup::current() { return theGroup; }

MpiGroup& MpiGroup::start(double timeoutSeconds) {
  if (theGroup != nullptr) return *theGroup;
  auto group = std::unique_ptr<MpiGroup>(new MpiGroup(timeoutSeconds));
  group->thread_ = std::thread([g = group.get()] { g->threadMain(); });
  try {
    group->runAndWait([g = group.get()] { g->initOnThread(); });
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(group->mutex_);
      group->stopping_ = true;
    }
    group->wake_.notify_all();
    group->thread_.join();
    throw;
  }
  theGroup = group.release();  // lives until the process ends (finalize() ends its thread)
  return *theGroup;
}

void MpiGroup::initOnThread() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) throw CollectiveError("MPI was already initialized in this process by other code");
  int finalizedBefore = 0;
  MPI_Finalized(&finalizedBefore);
  if (finalizedBefore) throw CollectiveError("MPI was finalized in this process; it cannot be initialized again");
  if (std::getenv("MICROADAM_MPI_LOCAL") == nullptr) promoteMpiToGlobal();
  int provided = 0;
  // FUNNELED: only this thread, which called MPI_Init_thread, ever calls MPI.
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) throw CollectiveError("MPI_Init_thread failed: " + errorString(rc));
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw CollectiveError("MPI_Init_thread provided thread level " + std::to_string(provided) +
                          ", below MPI_THREAD_FUNNELED");
  }
  // Errors come back as codes (turned into exceptions here) instead of aborting every process.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &info_.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &info_.size);
  info_.threadLevel = provided;
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  std::string text(version, length);
  info_.library = text.substr(0, text.find_first_of("\n,"));
  // Named after MPI_Init, so the threads Open MPI started inside it keep the process's name: a
  // profile (top -H, /proc/<pid>/task/*/comm) tells this thread's polling apart from them.
  pthread_setname_np(pthread_self(), kThreadName);
}

void MpiGroup::threadMain() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();  // tasks catch their own exceptions (post) or hand them to a promise (runAndWait)
  }
}

void MpiGroup::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw CollectiveError("the process group was finalized");
    queue_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void MpiGroup::runAndWait(std::function<void()> task) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  post([task = std::move(task), done] {
    try {
      task();
      done->set_value();
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  future.get();
}

void MpiGroup::check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  broken_ = std::string(what) + " failed: " + errorString(rc);
  throw CollectiveError(broken_);
}

void MpiGroup::requireUsable(const char* what) const {
  if (finalized_) throw CollectiveError(std::string(what) + ": the process group was finalized");
  if (!broken_.empty())
    throw CollectiveError(std::string(what) + ": the process group is unusable after an earlier failure (" + broken_ + ")");
}

// MPI_Testall in a loop until done or the deadline: every collective is nonblocking underneath,
// so a peer that died (or never calls it) costs at most the timeout. The loop yields, then
// sleeps, since several ranks may share few cores (this polling is what drives Open MPI's
// progress of nonblocking collectives).
void MpiGroup::waitAll(void* requestArray, int count, const char* what) {
  auto* requests = static_cast<MPI_Request*>(requestArray);
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeoutSeconds_.load());
  for (unsigned polls = 0;; polls++) {
    int done = 0;
    check(MPI_Testall(count, requests, &done, MPI_STATUSES_IGNORE), what);
    if (done) return;
    if (Clock::now() > deadline) {
      // The requests cannot be completed or freed safely (a peer is gone): the group is left broken.
      std::ostringstream text;
      text << what << " did not complete within " << timeoutSeconds_.load()
           << " s (a rank died, hung, or called a different collective); the process group is unusable now";
      broken_ = text.str();
      throw CollectiveTimeout(broken_);
    }
    if (polls < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(polls < 2048 ? 50 : 500));
    }
  }
}

void MpiGroup::wait(void* request, const char* what) { waitAll(request, 1, what); }

std::vector<int> MpiGroup::intCounts(const std::vector<int64_t>& counts, const char* what) const {
  if (counts.size() != static_cast<size_t>(info_.size))
    throw ArgumentError(std::string(what) + ": expected " + std::to_string(info_.size) + " counts (one per rank), got " +
                        std::to_string(counts.size()));
  std::vector<int> result(counts.size());
  for (size_t r = 0; r < counts.size(); r++) {
    if (counts[r] < 0 || counts[r] > INT_MAX)
      throw ArgumentError(std::string(what) + ": count " + std::to_string(counts[r]) + " for rank " + std::to_string(r) +
                          " is outside 0.." + std::to_string(INT_MAX) + " elements");
    result[r] = static_cast<int>(counts[r]);
  }
  return result;
}

static std::vector<int> displacements(const std::vector<int>& counts, const char* what) {
  std::vector<int> result(counts.size());
  int64_t at = 0;
  for (size_t r = 0; r < counts.size(); r++) {
    if (at > INT_MAX) throw ArgumentError(std::string(what) + ": more than " + std::to_string(INT_MAX) + " elements in one buffer");
    result[r] = static_cast<int>(at);
    at += counts[r];
  }
  return result;
}

void MpiGroup::checkCuts(const TensorCuts& cuts) const {
  const size_t size = static_cast<size_t>(info_.size);
  const size_t count = cuts.tensors.size();
  if (cuts.lengths.size() != count || cuts.counts.size() != count * size || cuts.offsets.size() != count * size)
    throw ArgumentError("expected " + std::to_string(size) + " counts and offsets per tensor");
  int64_t own = 0;
  for (size_t t = 0; t < count; t++) {
    for (size_t r = 0; r < size; r++) {
      int64_t c = cuts.counts[t * size + r], o = cuts.offsets[t * size + r];
      if (c < 0 || o < 0 || o + c > cuts.lengths[t])
        throw ArgumentError("the range of rank " + std::to_string(r) + " in tensor " + std::to_string(t) + " is outside its " +
                            std::to_string(cuts.lengths[t]) + " elements");
    }
    own += cuts.counts[t * size + info_.rank];
  }
  if (own * static_cast<int64_t>(size) > INT_MAX)
    throw ArgumentError("this rank's range (" + std::to_string(own) + " elements) times the world size exceeds one MPI call's count");
}

bool MpiGroup::reduceScatterInRankOrder(const TensorCuts& grads, float* out, int64_t outLength, bool mean,
                                        int64_t chunkElements) {
  const char* what = "reduce-scatter (MPI_Ialltoallv)";
  requireUsable(what);
  checkCuts(grads);
  for (ElementType type : grads.types)
    if (type != ElementType::Float32) throw ArgumentError(std::string(what) + ": the gradients must be float32");
  const int size = info_.size;
  // The rounds and the sum are the ones every transport shares (core/shard_cuts.h: NCCL's too).
  ShardCuts shard;
  shard.size = size;
  shard.lengths = grads.lengths;
  shard.counts.assign(grads.counts.begin(), grads.counts.end());
  shard.offsets.assign(grads.offsets.begin(), grads.offsets.end());
  std::vector<int64_t> own(size);
  for (int r = 0; r < size; r++) own[r] = shard.ownCount(r);
  if (own[info_.rank] != outLength)
    throw ArgumentError(std::string(what) + ": out has " + std::to_string(outLength) + " elements, this rank's ranges " +
                        std::to_string(own[info_.rank]));
  const int64_t longest = shard.longestOwnCount();
  const int64_t chunk = std::max<int64_t>(1, std::min(chunkElements, longest));
  if (chunk * size > INT_MAX) throw ArgumentError(std::string(what) + ": chunk × world size exceeds one MPI call's count");
  sendChunk_.resize(static_cast<size_t>(chunk) * size);
  recvChunk_.resize(static_cast<size_t>(chunk) * size);
  std::vector<int> sendCounts(size), sendOffsets(size), recvCounts(size), recvOffsets(size);
  for (int r = 0; r < size; r++) sendOffsets[r] = recvOffsets[r] = static_cast<int>(r * chunk);
  bool nonFinite = false;
  // Every rank runs the same number of rounds (from the same cuts), even with nothing of its own.
  for (int64_t lo = 0; lo < longest; lo += chunk) {
    for (int r = 0; r < size; r++) {  // this rank's values of rank r's next chunk, packed for r
      sendCounts[r] = static_cast<int>(std::clamp<int64_t>(own[r] - lo, 0, chunk));
      float* to = sendChunk_.data() + static_cast<size_t>(r) * chunk;
      for (const RoundSegment& s : roundSegments(shard, r, lo, chunk)) {
        const float* source = static_cast<const float*>(grads.tensors[s.tensor]) + s.offset;
        std::copy(source, source + s.count, to + s.at);
      }
    }
    const int mine = sendCounts[info_.rank];
    for (int r = 0; r < size; r++) recvCounts[r] = mine;
    MPI_Request request;
    check(MPI_Ialltoallv(sendChunk_.data(), sendCounts.data(), sendOffsets.data(), MPI_FLOAT, recvChunk_.data(),
                         recvCounts.data(), recvOffsets.data(), MPI_FLOAT, MPI_COMM_WORLD, &request),
          what);
    wait(&request, what);
    // The sum in rank order, one float32 rounding per addition (shard_cuts.cpp is compiled here
    // with -ffp-contract=off and without fast-math, like the engine).
    nonFinite |= sumInRankOrder(recvChunk_.data(), size, chunk, mine, mean, out + lo);
  }
  return nonFinite;
}

void MpiGroup::allGatherInPlace(const TensorCuts& params) {
  const char* what = "all-gather (MPI_Iallgatherv)";
  requireUsable(what);
  checkCuts(params);
  const int size = info_.size;
  const size_t count = params.tensors.size();
  std::vector<MPI_Request> requests(count, MPI_REQUEST_NULL);
  for (size_t t = 0; t < count; t++)
    check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, params.tensors[t], &params.counts[t * size], &params.offsets[t * size],
                          mpiType(params.types[t]), MPI_COMM_WORLD, &requests[t]),
          what);
  waitAll(requests.data(), static_cast<int>(count), what);
}

void MpiGroup::allGatherV(const void* send, int64_t sendCount, void* recv, const std::vector<int64_t>& counts,
                          ElementType type) {
  const char* what = "all-gather (MPI_Iallgatherv)";
  requireUsable(what);
  std::vector<int> recvCounts = intCounts(counts, what);
  if (sendCount != counts[info_.rank])
    throw ArgumentError(std::string(what) + ": this rank sends " + std::to_string(sendCount) + " elements but counts[" +
                        std::to_string(info_.rank) + "] is " + std::to_string(counts[info_.rank]));
  std::vector<int> offsets = displacements(recvCounts, what);
  MPI_Request request;
  check(MPI_Iallgatherv(send, static_cast<int>(sendCount), mpiType(type), recv, recvCounts.data(), offsets.data(),
                        mpiType(type), MPI_COMM_WORLD, &request),
        what);
  wait(&request, what);
}

void MpiGroup::allReduce(const void* send, void* recv, int64_t count, ElementType type, ReduceOp op) {
  const char* what = "all-reduce (MPI_Iallreduce)";
  requireUsable(what);
  if (count < 0 || count > INT_MAX) throw ArgumentError(std::string(what) + ": count out of range");
  MPI_Request request;
  check(MPI_Iallreduce(send, recv, static_cast<int>(count), mpiType(type), mpiOp(op), MPI_COMM_WORLD, &request), what);
  wait(&request, what);
}

void MpiGroup::broadcast(void* buffer, int64_t count, ElementType type, int root) {
  const char* what = "broadcast (MPI_Ibcast)";
  requireUsable(what);
  if (count < 0 || count > INT_MAX) throw ArgumentError(std::string(what) + ": count out of range");
  if (root < 0 || root >= info_.size) throw ArgumentError(std::string(what) + ": root " + std::to_string(root) + " is not a rank");
  MPI_Request request;
  check(MPI_Ibcast(buffer, static_cast<int>(count), mpiType(type), root, MPI_COMM_WORLD, &request), what);
  wait(&request, what);
}

void MpiGroup::barrier() {
  const char* what = "barrier (MPI_Ibarrier)";
  requireUsable(what);
  MPI_Request request;
  check(MPI_Ibarrier(MPI_COMM_WORLD, &request), what);
  wait(&request, what);
}

void MpiGroup::finalize() {
  if (std::this_thread::get_id() == thread_.get_id()) throw CollectiveError("finalize() called from the communication thread");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      // Already finalized (or finalizing): nothing to do but let the thread end.
    } else {
      queue_.push_back([this] {
        if (!finalized_) {
          finalized_ = true;
          // After a timeout a peer is gone and MPI_Finalize could wait for it forever; such a
          // process leaves without finalizing (mpirun then reports the job as failed, which it is).
          if (broken_.empty()) MPI_Finalize();
        }
      });
      stopping_ = true;
    }
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace microadam::distributed
