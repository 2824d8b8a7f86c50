#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>

namespace microadam {

struct ThreadPool::Job {
  const std::function<void(uint64_t, uint64_t)>* body;
  uint64_t count, grain, chunks;
  std::atomic<uint64_t> nextChunk{0};
  std::atomic<uint64_t> finishedChunks{0};
  std::mutex errorMutex;
  std::exception_ptr error;
};

ThreadPool& ThreadPool::shared() {
  // Deliberately never deleted. A function-local static would be destroyed at exit, joining
  // workers while an async step may still be running a job on them (process.exit() during a
  // step, a worker thread's teardown) and while other static destructors run: that can crash or
  // hang the exit. The threads end with the process instead.
  static ThreadPool* const pool = new ThreadPool(std::max(1u, std::thread::hardware_concurrency()));
  return *pool;
}

ThreadPool::ThreadPool(unsigned threads) { startWorkers(std::max(1u, threads) - 1); }

ThreadPool::~ThreadPool() { stopWorkers(); }

unsigned ThreadPool::threadCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return unsigned(workers_.size()) + 1;
}

void ThreadPool::setThreadCount(unsigned threads) {
  std::lock_guard<std::mutex> resize(resizeMutex_);
  stopWorkers();
  startWorkers(std::max(1u, threads) - 1);
}

void ThreadPool::startWorkers(unsigned workers) {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  for (unsigned i = 0; i < workers; ++i) workers_.emplace_back([this] { workerLoop(); });
}

void ThreadPool::stopWorkers() {
  std::vector<std::thread> leaving;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    leaving.swap(workers_);
  }
  wake_.notify_all();
  for (std::thread& t : leaving) t.join();
}

void ThreadPool::runChunks(Job& job) {
  for (;;) {
    const uint64_t chunk = job.nextChunk.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= job.chunks) return;
    const uint64_t begin = chunk * job.grain;
    const uint64_t end = std::min(job.count, begin + job.grain);
    try {
      (*job.body)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(job.errorMutex);
      if (!job.error) job.error = std::current_exception();
    }
    if (job.finishedChunks.fetch_add(1, std::memory_order_acq_rel) + 1 == job.chunks)
      job.finishedChunks.notify_all();
  }
}

void ThreadPool::workerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Job> job = jobs_.front();
    lock.unlock();
    runChunks(*job);
    lock.lock();
    // Every chunk is taken: drop the job so idle workers wait instead of spinning on it.
    auto it = std::find(jobs_.begin(), jobs_.end(), job);
    if (it != jobs_.end()) jobs_.erase(it);
  }
}

void ThreadPool::parallelFor(uint64_t count, uint64_t grain, const std::function<void(uint64_t, uint64_t)>& body) {
  if (count == 0) return;
  grain = std::max<uint64_t>(1, grain);
  auto job = std::make_shared<Job>();
  job->body = &body;
  job->count = count;
  job->grain = grain;
  job->chunks = (count + grain - 1) / grain;
  if (job->chunks > 1) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!workers_.empty()) jobs_.push_back(job);
    }
    wake_.notify_all();
  }
  runChunks(*job);
  for (uint64_t done = job->finishedChunks.load(std::memory_order_acquire); done < job->chunks;
       done = job->finishedChunks.load(std::memory_order_acquire))
    job->finishedChunks.wait(done, std::memory_order_acquire);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find(jobs_.begin(), jobs_.end(), job);
    if (it != jobs_.end()) jobs_.erase(it);
  }
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace microadam
