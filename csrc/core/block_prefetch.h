// The block kernel's prefetch policies: which of the next block's data (most likely this thread's
// next block) to ask into L2 while the current block runs, and when. Only affects speed, never a
// result. Compiled into every build of the kernel, so everything here has internal linkage (see
// numeric.h).
//
// The next block's gradient and params, about 34 KB read from memory, are asked for a few cache
// lines at a time from inside the passes' loops (a LinePrefetcher handed to the passes of steps
// 1, 3 and 4): asked all at once (or left to the hardware prefetcher), they arrive while the first
// pass waits, that pass goes at the speed of memory, and the rest of the block leaves memory idle.
// Spread over the block, the reads overlap its arithmetic. Into L2 (prefetcht1) rather than L1,
// which holds this block's working set.
#pragma once

#include <cstddef>
#include <cstdint>

#include "state.h"

namespace microadam {
namespace {

class LinePrefetcher {
 public:
  LinePrefetcher() = default;  // nothing to ask for
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

// Where one block of a tensor lies, read from the layout once per block.
struct BlockPlace {
  uint64_t block;
  uint64_t begin;      // its first element
  uint32_t count;      // its elements
  uint32_t keep;       // k_j
  uint64_t slot0;      // o_j, its first slot in a window row
  uint64_t rowLength;  // K
  uint32_t q;          // Q
  uint32_t window;     // m
  uint64_t step;       // t, already advanced
  uint32_t nextCount;  // the next block's elements (0: this is the last block)
};

// Asks for the next block's data, in three parts along the step (block_kernel.h).
struct NextBlockPrefetch {
  // Before step 1: the next block's codes now; its gradient and params as lines for the passes.
  template <class Grad, class Param>
  static LinePrefetcher start(HostState& state, const BlockPlace& at, const Grad* grads, const Param* params) {
    const uint64_t end = at.begin + at.count;
    const uint8_t* codes = state.errorCodes() + at.begin / 2 + at.count / 2;
    for (uint32_t offset = 0; offset < (at.nextCount + 1) / 2; offset += 64) __builtin_prefetch(codes + offset, 0, 2);
    return LinePrefetcher(grads + end, uint64_t(at.nextCount) * sizeof(Grad), params + end,
                          uint64_t(at.nextCount) * sizeof(Param));
  }

  // After step 1: the small scattered pieces of state the next block starts with, its window
  // rows and bucket ranges (otherwise each is a miss that a pass waits on).
  static void afterFirstPass(HostState& state, const BlockPlace& at) {
    if (at.nextCount == 0) return;
    const uint32_t nextKeep = state.layout().blockKeep(at.block + 1);
    const uint64_t rows = at.step < at.window ? at.step : at.window;
    for (uint64_t r = 0; r < rows; ++r) {
      askLines(state.windowIndices() + r * at.rowLength + at.slot0 + at.keep, nextKeep * sizeof(uint16_t));
      askLines(state.windowValues() + r * at.rowLength + at.slot0 + at.keep, nextKeep * sizeof(uint16_t));
    }
    const uint64_t firstBucket = at.begin / at.q + (at.count + at.q - 1) / at.q;
    const uint64_t nextBuckets = (at.nextCount + at.q - 1) / at.q;
    askLines(state.errorMin() + firstBucket, nextBuckets * sizeof(uint16_t));
    askLines(state.errorMax() + firstBucket, nextBuckets * sizeof(uint16_t));
  }

  // After step 4: whatever lines the passes left.
  static void afterLastPass(LinePrefetcher& ahead) { ahead.askAll(); }

 private:
  static void askLines(const void* from, uint64_t bytes) {
    const char* p = static_cast<const char*>(from);
    for (uint64_t offset = 0; offset < bytes + 63; offset += 64) __builtin_prefetch(p + offset, 0, 2);
  }
};

// Asks for nothing: the same kernel and bits with only the hardware prefetcher, to measure what
// NextBlockPrefetch buys (no build of the kernel uses it).
struct NoPrefetch {
  template <class Grad, class Param>
  static LinePrefetcher start(HostState&, const BlockPlace&, const Grad*, const Param*) {
    return LinePrefetcher();
  }
  static void afterFirstPass(HostState&, const BlockPlace&) {}
  static void afterLastPass(LinePrefetcher&) {}
};

}  // namespace
}  // namespace microadam
