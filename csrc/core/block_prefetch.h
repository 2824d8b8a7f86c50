// The next block's gradient and params, asked into L2 a few cache lines at a time from inside
// this block's loops. Asked all at once (or left to the hardware prefetcher), the ~34 KB a block
// reads from memory arrive while its first pass waits: that pass goes at the speed of memory,
// and the rest of the block leaves memory idle. Spread over the block, the reads overlap its
// arithmetic. Into L2 (prefetcht1) rather than L1, which holds this block's working set. Only
// affects speed, never a result.
#pragma once

#include <cstddef>
#include <cstdint>

namespace microadam {

class LinePrefetcher {
 public:
  LinePrefetcher() = default;
  // Two ranges, asked for one after the other.
  LinePrefetcher(const void* first, size_t firstBytes, const void* second, size_t secondBytes)
      : next_(static_cast<const char*>(first)),
        end_(next_ + firstBytes),
        secondNext_(static_cast<const char*>(second)),
        secondEnd_(secondNext_ + secondBytes) {}

  // Lines not yet asked for.
  uint32_t left() const { return linesIn(next_, end_) + linesIn(secondNext_, secondEnd_); }

  // Asks for the next `lines` lines (fewer at the end): one bound per range, not per line.
  void ask(uint32_t lines) {
    for (;;) {
      const uint32_t inRange = linesIn(next_, end_);
      const uint32_t here = lines < inRange ? lines : inRange;
      const char* p = next_;
      for (uint32_t k = 0; k < here; ++k) __builtin_prefetch(p + 64 * size_t(k), 0, 2);
      next_ += 64 * size_t(here);
      lines -= here;
      if (lines == 0 || secondNext_ >= secondEnd_) return;
      next_ = secondNext_;
      end_ = secondEnd_;
      secondNext_ = secondEnd_;
    }
  }

  void askAll() { ask(left()); }

 private:
  static uint32_t linesIn(const char* from, const char* to) { return from < to ? uint32_t((to - from + 63) / 64) : 0; }

  const char* next_ = nullptr;
  const char* end_ = nullptr;
  const char* secondNext_ = nullptr;
  const char* secondEnd_ = nullptr;
};

}  // namespace microadam
