#include "shard_cuts.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "errors.h"

namespace microadam {

int64_t ShardCuts::ownCount(int rank) const {
  int64_t own = 0;
  for (size_t t = 0; t < tensorCount(); t++) own += count(t, rank);
  return own;
}

int64_t ShardCuts::longestOwnCount() const {
  int64_t longest = 0;
  for (int r = 0; r < size; r++) longest = std::max(longest, ownCount(r));
  return longest;
}

void checkShardCuts(const ShardCuts& cuts) {
  if (cuts.size < 1) throw RangeError("Expected a world size of at least 1 but received " + std::to_string(cuts.size));
  const size_t expected = cuts.tensorCount() * static_cast<size_t>(cuts.size);
  if (cuts.counts.size() != expected || cuts.offsets.size() != expected)
    throw RangeError("Expected counts and offsets of " + std::to_string(expected) + " entries (tensors × world size) but received " +
                     std::to_string(cuts.counts.size()) + " and " + std::to_string(cuts.offsets.size()));
  for (size_t t = 0; t < cuts.tensorCount(); t++)
    for (int r = 0; r < cuts.size; r++) {
      const int64_t c = cuts.count(t, r), o = cuts.offset(t, r);
      if (c < 0 || o < 0 || o > cuts.lengths[t] || c > cuts.lengths[t] - o)
        throw RangeError("Expected rank " + std::to_string(r) + "'s range of tensor " + std::to_string(t) + " inside its " +
                         std::to_string(cuts.lengths[t]) + " elements but received [" + std::to_string(o) + ", " +
                         std::to_string(o) + " + " + std::to_string(c) + ")");
    }
}

std::vector<RoundSegment> roundSegments(const ShardCuts& cuts, int owner, int64_t from, int64_t chunk) {
  std::vector<RoundSegment> segments;
  const int64_t until = from + chunk;
  int64_t start = 0;  // where tensor t's range begins in the owner's concatenated ranges
  for (size_t t = 0; t < cuts.tensorCount() && start < until; t++) {
    const int64_t length = cuts.count(t, owner);
    const int64_t lo = std::max(from, start), hi = std::min(until, start + length);
    if (lo < hi) segments.push_back({t, cuts.offset(t, owner) + (lo - start), hi - lo, lo - from});
    start += length;
  }
  return segments;
}

std::vector<std::vector<Exchange>> exchangeGroups(const ShardCuts& cuts, int rank, int64_t from, int64_t chunk,
                                                  size_t mostOperations) {
  std::vector<std::vector<RoundSegment>> lists(cuts.size);
  size_t longest = 0;
  for (int owner = 0; owner < cuts.size; ++owner) {
    lists[owner] = roundSegments(cuts, owner, from, chunk);
    longest = std::max(longest, lists[owner].size());
  }
  std::vector<std::vector<Exchange>> groups;
  if (cuts.size == 1) return groups;  // nothing to exchange
  // Per peer at most perGroup sends and perGroup receives.
  const size_t perGroup = std::max<size_t>(1, mostOperations / (2 * size_t(cuts.size - 1)));
  const auto slice = [perGroup](const std::vector<RoundSegment>& list, size_t first) {
    const size_t begin = std::min(list.size(), first), end = std::min(list.size(), first + perGroup);
    return std::vector<RoundSegment>(list.begin() + begin, list.begin() + end);
  };
  for (size_t first = 0; first < longest; first += perGroup) {
    std::vector<Exchange> group;
    for (int peer = 0; peer < cuts.size; ++peer)
      if (peer != rank) group.push_back({peer, slice(lists[peer], first), slice(lists[rank], first)});
    groups.push_back(std::move(group));
  }
  return groups;
}

bool sumInRankOrder(const float* slots, int ranks, int64_t stride, int64_t n, bool mean, float* out) {
  const float divisor = static_cast<float>(ranks);
  bool nonFinite = false;
  for (int64_t i = 0; i < n; i++) {
    float sum = slots[i];
    for (int r = 1; r < ranks; r++) sum = sum + slots[r * stride + i];
    if (mean) sum = sum / divisor;
    out[i] = sum;
    nonFinite |= !std::isfinite(sum);
  }
  return nonFinite;
}

}  // namespace microadam
