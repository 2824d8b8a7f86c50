// What every optimizer state shares: a step counter readable while a step runs, and a busy
// flag so that one step at a time runs on a state.
#pragma once

#include <atomic>
#include <cstdint>

namespace microadam {

class SteppedState {
 public:
  SteppedState() = default;
  SteppedState(const SteppedState&) = delete;
  SteppedState& operator=(const SteppedState&) = delete;
  virtual ~SteppedState() = default;

  // Atomic so JS may read the counter while an async step runs.
  uint64_t step() const { return step_.load(std::memory_order_relaxed); }
  void setStep(uint64_t step) { step_.store(step, std::memory_order_relaxed); }

  // One step at a time per state: a second caller is refused instead of racing.
  bool tryAcquire() { return !busy_.exchange(true, std::memory_order_acquire); }
  void release() { busy_.store(false, std::memory_order_release); }
  bool busy() const { return busy_.load(std::memory_order_acquire); }

 private:
  std::atomic<uint64_t> step_{0};
  std::atomic<bool> busy_{false};
};

}  // namespace microadam
