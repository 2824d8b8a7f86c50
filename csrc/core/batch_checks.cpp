#include "batch_checks.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "errors.h"
#include "finite_scan.h"
#include "thread_pool.h"

namespace microadam {

namespace {
std::string tensorName(const char* what, size_t i) { return std::string(what) + "[" + std::to_string(i) + "]"; }

struct ByteRange {
  uintptr_t begin, end;
  size_t tensor;
  bool isParams;
};

ByteRange rangeOf(const TensorView& t, size_t tensor, bool isParams) {
  const auto begin = reinterpret_cast<uintptr_t>(t.data);
  return {begin, begin + t.numel * dtypeBytes(t.dtype), tensor, isParams};
}
}  // namespace

void checkNoSharedParams(const std::vector<TensorPair>& pairs) {
  std::vector<ByteRange> ranges;
  ranges.reserve(2 * pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    ranges.push_back(rangeOf(pairs[i].params, i, true));
    ranges.push_back(rangeOf(pairs[i].grads, i, false));
  }
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  // Sorted by start: each range is compared with the later ones that begin before it ends.
  for (size_t i = 0; i < ranges.size(); ++i)
    for (size_t j = i + 1; j < ranges.size() && ranges[j].begin < ranges[i].end; ++j) {
      const ByteRange& a = ranges[i];
      const ByteRange& b = ranges[j];
      if (a.tensor == b.tensor || (!a.isParams && !b.isParams)) continue;
      const ByteRange& p = a.isParams ? a : b;
      const ByteRange& o = a.isParams ? b : a;
      throw RangeError(tensorName("params", p.tensor) + " shares memory with " +
                       tensorName(o.isParams ? "params" : "grads", o.tensor));
    }
}

bool gradientsAreFinite(const std::vector<TensorView>& grads) {
  constexpr uint64_t kChunk = 1 << 16;
  std::vector<uint64_t> firstChunk(grads.size() + 1, 0);
  for (size_t i = 0; i < grads.size(); ++i) firstChunk[i + 1] = firstChunk[i] + (grads[i].numel + kChunk - 1) / kChunk;
  std::atomic<bool> finite{true};
  ThreadPool::shared().parallelFor(firstChunk.back(), 1, [&](uint64_t begin, uint64_t end) {
    for (uint64_t c = begin; c < end && finite.load(std::memory_order_relaxed); ++c) {
      const size_t t = size_t(std::upper_bound(firstChunk.begin(), firstChunk.end(), c) - firstChunk.begin() - 1);
      const TensorView& g = grads[t];
      const uint64_t from = (c - firstChunk[t]) * kChunk;
      if (!rangeIsFiniteOnPath(g, from, std::min(g.numel, from + kChunk))) finite.store(false, std::memory_order_relaxed);
    }
  });
  return finite.load();
}

bool skipForNonFinite(bool finite, NonFinitePolicy policy) {
  if (policy == NonFinitePolicy::Ignore || finite) return false;
  if (policy == NonFinitePolicy::Error)
    throw NonFiniteGradientError("a gradient holds NaN or Inf (nonFinite: 'error'); nothing was changed");
  return true;
}

bool shouldSkipForNonFinite(const std::vector<TensorView>& grads, NonFinitePolicy policy) {
  return policy != NonFinitePolicy::Ignore && skipForNonFinite(gradientsAreFinite(grads), policy);
}

}  // namespace microadam
