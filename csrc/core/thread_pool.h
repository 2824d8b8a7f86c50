// A fixed set of worker threads shared by every step in the process. Several callers (the JS
// thread and async workers) may run parallel loops at once: each loop is a job in a queue, the
// caller works on its own job too, so a job always finishes even with zero workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace microadam {

class ThreadPool {
 public:
  // The process-wide pool used by the CPU engine; created on first use and never destroyed
  // (thread_pool.cpp says why).
  static ThreadPool& shared();

  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads taking part in a loop, the caller included (>= 1).
  unsigned threadCount() const;
  void setThreadCount(unsigned threads);

  // Runs body(begin, end) over [0, count) in chunks of `grain`; rethrows the first exception a
  // chunk threw once every chunk has finished.
  void parallelFor(uint64_t count, uint64_t grain, const std::function<void(uint64_t, uint64_t)>& body);

 private:
  struct Job;
  void startWorkers(unsigned workers);
  void stopWorkers();
  void workerLoop();
  static void runChunks(Job& job);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  std::mutex resizeMutex_;
};

}  // namespace microadam
