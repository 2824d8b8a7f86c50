// How a data-parallel group cuts its tensors into one range per rank (lib/distributed/partition.ts
// makes the cuts), and the two pieces of the reduce-scatter that every transport shares: which
// elements a round carries, and the rank-order sum. The MPI group (csrc/distributed/) and the
// NCCL communicator (cuda/nccl_communicator.cu) both reduce in rounds of at most `chunk`
// elements of each rank's range and sum in rank order, so a reduced gradient has the same bits
// whatever carried it (docs/distributed.md, "What is bit-identical").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace microadam {

struct ShardCuts {
  int size = 1;                  // ranks
  std::vector<int64_t> lengths;  // elements of each tensor
  // For tensor t and rank r: r's range of t is [offsets[t*size + r], + counts[t*size + r]).
  std::vector<int64_t> counts;
  std::vector<int64_t> offsets;

  size_t tensorCount() const { return lengths.size(); }
  int64_t count(size_t tensor, int rank) const { return counts[tensor * size + rank]; }
  int64_t offset(size_t tensor, int rank) const { return offsets[tensor * size + rank]; }
  // Elements of rank `rank`'s ranges, all tensors.
  int64_t ownCount(int rank) const;
  // The longest rank's ownCount: every rank runs ceil(longest / chunk) rounds.
  int64_t longestOwnCount() const;
};

// Throws RangeError naming the tensor and rank unless the sizes agree (size ≥ 1, counts and
// offsets size × tensors) and every range lies inside its tensor.
void checkShardCuts(const ShardCuts& cuts);

// The part of rank `owner`'s range that the round covering elements [from, from + chunk) of it
// carries: `count` elements of tensor `tensor` from `offset`, landing at `at` in the round's slot.
struct RoundSegment {
  size_t tensor;
  int64_t offset;
  int64_t count;
  int64_t at;
};
std::vector<RoundSegment> roundSegments(const ShardCuts& cuts, int owner, int64_t from, int64_t chunk);

// What one rank exchanges with one peer in one group of point-to-point calls (NCCL's
// ncclGroupStart/End): its values of the peer's range (`sends`: segments of the peer's list) and
// the peer's values of its own range (`receives`: segments of its own list).
struct Exchange {
  int peer;
  std::vector<RoundSegment> sends;
  std::vector<RoundSegment> receives;
};
// The groups of rank `rank`'s exchanges in the round covering [from, from + chunk) of every
// rank's range, each group at most `mostOperations` sends and receives in all. Every owner's list
// is cut at the same indices on every rank, so a rank's sends to a peer in group g are exactly
// the peer's receives from it in its group g, and every rank has the same number of groups.
std::vector<std::vector<Exchange>> exchangeGroups(const ShardCuts& cuts, int rank, int64_t from, int64_t chunk,
                                                  size_t mostOperations);

// The rank-order float32 sum of `ranks` slots (slot r at slots + r·stride), element by element:
// out[i] = ((s_0[i] + s_1[i]) + s_2[i]) + ..., then ÷ ranks when `mean` (one rounding each, as
// the engine: build with -ffp-contract=off). Returns whether any out[i] is NaN or ±Inf. The CUDA
// kernel cuda/rank_order_sum.cuh must match it bit for bit (the SIMT harness checks).
bool sumInRankOrder(const float* slots, int ranks, int64_t stride, int64_t n, bool mean, float* out);

}  // namespace microadam
