// Native self-test of the core, without Node: layout, Top-K ties, non-finite policies and
// thread-count independence. Built by CMake with -DMICROADAM_SELFTEST=ON (see
// scripts/native-selftest.js); prints "N passed, M failed" and exits non-zero on failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/call_format.h"
#include "core/cpu_engine.h"
#include "core/step_entry.h"
#include "core/error_feedback.h"
#include "core/errors.h"
#include "core/hyper_params.h"
#include "core/numeric.h"
#include "core/shard_cuts.h"
#include "core/thread_pool.h"
#include "core/topk_select.h"
#include "test_support.h"

using namespace microadam;
using microadam::native_test::check;

namespace {

StateConfig smallConfig(uint64_t numel) {
  StateConfig c;
  c.numel = numel;
  c.window = 3;
  c.density = 0.05;
  c.topkBlockSize = 256;
  c.quantBlockSize = 16;
  return c;
}

// Runs `steps` steps with a fixed gradient sequence; returns params and the full state bytes.
std::vector<uint8_t> runEngine(unsigned threads, uint64_t numel, int steps) {
  ThreadPool::shared().setThreadCount(threads);
  HostState state(smallConfig(numel));
  std::vector<float> params(numel, 0.5f), grads(numel);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int t = 0; t < steps; ++t) {
    for (float& g : grads) g = normal(rng);
    TensorStep step;
    step.state = &state;
    step.params = TensorView{params.data(), numel, Dtype::F32};
    step.grads = TensorView{grads.data(), numel, Dtype::F32};
    step.hyper.lr = 0.01;
    step.hyper.alpha = 0.25;
    step.hyper.weightDecay = 0.1;
    cpuStep({step}, NonFinitePolicy::Skip);
  }
  const StateLayout& l = state.layout();
  const size_t windowSize = size_t(l.config().window) * l.rowLength();
  std::vector<uint8_t> codes(l.codeBytes());
  std::vector<uint16_t> mins(l.bucketCount()), maxs(l.bucketCount()), idx(windowSize), val(windowSize);
  state.copyTo(SnapshotTarget{codes.data(), mins.data(), maxs.data(), idx.data(), val.data()});
  std::vector<uint8_t> all(reinterpret_cast<uint8_t*>(params.data()),
                           reinterpret_cast<uint8_t*>(params.data() + params.size()));
  auto append = [&](const void* p, size_t bytes) {
    all.insert(all.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + bytes);
  };
  append(codes.data(), codes.size());
  append(mins.data(), mins.size() * 2);
  append(maxs.data(), maxs.size() * 2);
  append(idx.data(), idx.size() * 2);
  append(val.data(), val.size() * 2);
  return all;
}

void testLayout() {
  StateLayout l(StateConfig{10000, 10, 0.01, 4096, 64});
  check(l.blockCount() == 3 && l.blockKeep(0) == 41 && l.blockKeep(2) == 19, "k_j at 1% of 4096 and 1808");
  check(l.rowLength() == 101 && l.blockSlotOffset(2) == 82, "K and o_j");
  check(StateLayout::keepCount(100, 0.01) == 1 && StateLayout::keepCount(1, 0.01) == 1, "k_j floor of 1");
  bool threw = false;
  try {
    StateLayout bad(StateConfig{10, 10, 0.01, 100, 64});
  } catch (const RangeError&) {
    threw = true;
  }
  check(threw, "B not a multiple of Q is a RangeError");
}

// Top-K by the histogram method against a brute force over the same rule.
std::vector<uint16_t> topkOf(const std::vector<float>& values, uint32_t keep) {
  const uint32_t n = uint32_t(values.size());
  std::vector<uint32_t> keys(n), histogram(kTopkHistogramSize);
  std::vector<uint16_t> selected(n);
  std::vector<uint64_t> ranked(n);
  uint32_t maxKey = 0;
  for (uint32_t i = 0; i < n; ++i) {
    keys[i] = magnitudeKey(values[i]);
    maxKey = std::max(maxKey, keys[i]);
  }
  // Twice: without a hint (histogram path), then with the hint the first call left (which may
  // or may not admit this block); both must give the same set.
  uint32_t hint = 0;
  const TopkScratch scratch{histogram.data(), ranked.data()};
  const uint32_t taken = selectTopk(keys.data(), n, keep, maxKey, scratch, selected.data(), &hint);
  std::vector<uint16_t> first(selected.begin(), selected.begin() + taken);
  const uint32_t again = selectTopk(keys.data(), n, keep, maxKey, scratch, selected.data(), &hint);
  std::vector<uint16_t> second(selected.begin(), selected.begin() + again);
  if (first != second) return {};
  return first;
}

std::vector<uint16_t> bruteTopk(const std::vector<float>& values, uint32_t keep) {
  std::vector<uint16_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = uint16_t(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint16_t a, uint16_t b) { return magnitudeKey(values[a]) > magnitudeKey(values[b]); });
  order.resize(keep);
  std::sort(order.begin(), order.end());
  return order;
}

void testTopk() {
  std::vector<float> v = {1, -1, 1, -1, 1, -1, 1, -1};
  check(topkOf(v, 3) == std::vector<uint16_t>({0, 1, 2}), "ties go to the smaller index");
  std::vector<float> w = {0.0f, -0.0f, std::nanf(""), INFINITY, -2.0f};
  check(topkOf(w, 2) == std::vector<uint16_t>({2, 3}), "NaN ranks above Inf");
  std::mt19937 rng(11);
  int mismatches = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const uint32_t n = 1 + rng() % 3000;
    std::vector<float> values(n);
    const int kind = trial % 4;  // normal, few distinct values, all equal, with zeros/subnormals
    for (float& x : values) {
      const float g = std::normal_distribution<float>()(rng);
      x = kind == 0 ? g : kind == 1 ? float(int(g * 3)) : kind == 2 ? 0.5f : (rng() % 3 == 0 ? 1e-40f * g : g);
    }
    const uint32_t keep = 1 + rng() % n;
    if (topkOf(values, keep) != bruteTopk(values, keep)) ++mismatches;
  }
  check(mismatches == 0, "histogram Top-K equals brute force on 400 random blocks (" + std::to_string(mismatches) + " differ)");
}

void testBucketRange() {
  uint8_t codes[2] = {0xFF, 0xFF}, scratch[4];
  uint16_t lo = 1, hi = 1;
  const float zeroFirst[3] = {0.0f, -0.0f, 1.0f};
  quantizeBucket(zeroFirst, 3, codes, &lo, &hi, scratch);
  check(lo == 0x8000 && hi == 0x3F80, "-0 counts below +0 for the minimum");
  check((codes[1] & 0x0F) == 0, "padding nibble of an odd bucket is 0");
  const float negative[3] = {-0.0f, 0.0f, -1.0f};
  quantizeBucket(negative, 3, codes, &lo, &hi, scratch);
  check(hi == 0x0000 && lo == 0xBF80, "+0 counts above -0 for the maximum");
  check(powerByBinaryExponentiation(0.5, 10) == 1.0 / 1024 && powerByBinaryExponentiation(0.9, 0) == 1.0,
        "beta^t by binary exponentiation");
}

void testNonFinite() {
  HostState state(smallConfig(300));
  std::vector<float> params(300, 1.0f), grads(300, 0.5f);
  grads[123] = INFINITY;
  TensorStep step;
  step.state = &state;
  step.params = TensorView{params.data(), 300, Dtype::F32};
  step.grads = TensorView{grads.data(), 300, Dtype::F32};
  step.hyper.lr = 0.1;
  check(cpuStep({step}, NonFinitePolicy::Skip).skipped && state.step() == 0 && params[0] == 1.0f,
        "skip leaves everything unchanged");
  bool threw = false;
  try {
    cpuStep({step}, NonFinitePolicy::Error);
  } catch (const NonFiniteGradientError&) {
    threw = true;
  }
  check(threw && state.step() == 0, "error throws and leaves the counter");
  check(!cpuStep({step}, NonFinitePolicy::Ignore).skipped && state.step() == 1, "ignore steps");
}

void testThreadIndependence() {
  const auto one = runEngine(1, 5000, 7);
  const auto three = runEngine(3, 5000, 7);
  check(one == three, "1 and 3 threads give identical bytes");
}
}  // namespace

// The core's entry checks a batch once, completely, before anything changes; the registry hands
// out the CPU backend and, in this build (MICROADAM_CUDA=OFF), the stand-in that explains.
void testEntryAndRegistry() {
  const auto throwsBefore = [](const std::function<void()>& call, const std::string& want) {
    try {
      call();
    } catch (const std::exception& e) {
      return std::string(e.what()).find(want) != std::string::npos;
    }
    return false;
  };
  std::shared_ptr<OptimizerState> a = backendFor(Device::Cpu).createState(smallConfig(300), 0);
  std::shared_ptr<OptimizerState> b = cpuBackend().createState(smallConfig(300), 0);
  std::vector<float> pa(300, 1.0f), pb(300, 1.0f), grads(300, 0.5f);
  HyperParams h;
  h.lr = 0.1;
  const StateStep sa{a.get(), TensorView{pa.data(), 300, Dtype::F32}, TensorView{grads.data(), 300, Dtype::F32}, h};
  StateStep sb{b.get(), TensorView{pb.data(), 300, Dtype::F32}, TensorView{grads.data(), 300, Dtype::F32}, h};
  check(throwsBefore([&] { stepMicroAdam({sa, sa}, NonFinitePolicy::Skip); }, "states[1] is the same state as states[0]"),
        "entry: the same state twice is refused");
  StateStep shared = sb;
  shared.params.data = pa.data();
  check(throwsBefore([&] { stepMicroAdam({sa, shared}, NonFinitePolicy::Skip); }, "shares memory with"),
        "entry: params shared between tensors are refused");
  StateStep onDevice = sb;
  onDevice.grads.onDevice = true;
  check(throwsBefore([&] { stepMicroAdam({sa, onDevice}, NonFinitePolicy::Skip); },
                     "Expected a host tensor (a typed array) for grads[1] (states[1] lives on the CPU)"),
        "entry: device memory for a CPU state is refused");
  check(throwsBefore([&] { stepMicroAdam({sa}, NonFinitePolicy::Skip, uint64_t(7)); }, "Expected no stream for stream"),
        "entry: a stream for CPU states is refused");
  StateStep badLr = sb;
  badLr.hyper.lr = -1;
  check(throwsBefore([&] { stepMicroAdam({sa, badLr}, NonFinitePolicy::Skip); }, "lr must be a finite number >= 0"),
        "entry: hyperparameters are checked");
  check(a->step() == 0 && b->step() == 0 && pa[0] == 1.0f && pb[0] == 1.0f, "entry: refused batches change nothing");
  check(!stepMicroAdam({sa, sb}, NonFinitePolicy::Skip).skipped && a->step() == 1 && b->step() == 1 && pa == pb,
        "entry: a valid batch steps on the CPU backend");

  // The codes live in a named array: a temporary's .data() dangles once the declaration ends.
  const std::array<uint8_t, 2> codes{0, 9};
  const PackedTensors packed{1, codes.data(), nullptr};
  check(throwsBefore([&] { packed.dtype(0, 1); }, "dtypes[0] is not a known dtype code"), "call format: unknown dtype code");
  check(throwsBefore([&] { nonFinitePolicyFromCode(3, "policy"); }, "policy must be 0 (skip), 1 (error) or 2 (ignore)"),
        "call format: unknown policy code");

  const BackendDescription cuda = backendFor(Device::Cuda).describe();
  check(!cuda.compiled && !cuda.usable && cuda.error.find("no CUDA backend") != std::string::npos,
        "registry: the no-CUDA stand-in says why");
  check(throwsBefore([&] { backendFor(Device::Cuda).createState(smallConfig(300), 0); },
                     "options.device 'cuda' needs a usable CUDA device"),
        "registry: no CUDA state without a CUDA backend");
}

// The rounds every transport of the reduce-scatter shares (core/shard_cuts.h): a round carries
// exactly the elements [from, from + chunk) of a rank's concatenated ranges, whatever the chunk.
void testShardCuts() {
  ShardCuts cuts;
  cuts.size = 3;
  cuts.lengths = {10, 4, 7};
  // tensor 0: rank 0 [0,6), rank 1 [6,10), rank 2 nothing; tensor 1: rank 1 all; tensor 2: rank 2 all
  cuts.counts = {6, 4, 0, 0, 4, 0, 0, 0, 7};
  cuts.offsets = {0, 6, 10, 0, 0, 4, 0, 0, 0};
  checkShardCuts(cuts);
  check(cuts.ownCount(0) == 6 && cuts.ownCount(1) == 8 && cuts.ownCount(2) == 7 && cuts.longestOwnCount() == 8,
        "shard cuts: own counts");
  for (int rank = 0; rank < 3; ++rank)
    for (int64_t chunk = 1; chunk <= 9; ++chunk) {
      // The rank's elements as (tensor, index), in order, then what the rounds carry.
      std::vector<std::pair<size_t, int64_t>> expected, carried;
      for (size_t t = 0; t < cuts.tensorCount(); ++t)
        for (int64_t i = 0; i < cuts.count(t, rank); ++i) expected.emplace_back(t, cuts.offset(t, rank) + i);
      bool placed = true;
      for (int64_t from = 0; from < cuts.longestOwnCount(); from += chunk) {
        int64_t at = 0;
        for (const RoundSegment& s : roundSegments(cuts, rank, from, chunk)) {
          placed = placed && s.at == at && s.count > 0;
          for (int64_t i = 0; i < s.count; ++i) carried.emplace_back(s.tensor, s.offset + i);
          at += s.count;
        }
        placed = placed && at == std::clamp<int64_t>(cuts.ownCount(rank) - from, 0, chunk);
      }
      check(carried == expected && placed,
            "shard cuts: rank " + std::to_string(rank) + ", chunk " + std::to_string(chunk) + ": every element once, in order");
    }
  const auto refused = [](ShardCuts c, const std::string& want) {
    try {
      checkShardCuts(c);
    } catch (const RangeError& e) {
      return std::string(e.what()).find(want) != std::string::npos;
    }
    return false;
  };
  ShardCuts outside = cuts;
  outside.counts[8] = 8;
  check(refused(outside, "rank 2's range of tensor 2 inside its 7 elements"), "shard cuts: a range past its tensor is refused");
  ShardCuts short_ = cuts;
  short_.offsets.pop_back();
  check(refused(short_, "counts and offsets of 9 entries"), "shard cuts: sizes that disagree are refused");

  // The groups of point-to-point calls (NCCL's): at every rank, group g's sends to a peer are the
  // peer's receives in its group g, no group is over the limit, and the receives of all groups
  // are the rank's whole list, once. Many small tensors make many segments per round.
  ShardCuts many;
  many.size = 4;
  for (int t = 0; t < 300; ++t) many.lengths.push_back(3 + t % 5);
  many.counts.assign(many.lengths.size() * 4, 0);
  many.offsets.assign(many.lengths.size() * 4, 0);
  for (size_t t = 0; t < many.lengths.size(); ++t) {  // each tensor cut in two: ranks t % 4 and (t + 1) % 4
    const int64_t half = many.lengths[t] / 2;
    many.counts[t * 4 + t % 4] = half;
    many.counts[t * 4 + (t + 1) % 4] = many.lengths[t] - half;
    many.offsets[t * 4 + (t + 1) % 4] = half;
  }
  checkShardCuts(many);
  const auto same = [](const std::vector<RoundSegment>& a, const std::vector<RoundSegment>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].tensor != b[i].tensor || a[i].offset != b[i].offset || a[i].count != b[i].count) return false;
    return true;
  };
  for (const int64_t chunk : {int64_t(7), int64_t(100), many.longestOwnCount()})
    for (const size_t most : {size_t(6), size_t(64), size_t(1024)}) {
      std::vector<std::vector<std::vector<Exchange>>> byRank;
      for (int r = 0; r < 4; ++r) byRank.push_back(exchangeGroups(many, r, chunk, chunk, most));  // the second round
      bool matched = true, withinLimit = true, complete = true;
      for (int r = 0; r < 4; ++r) {
        matched = matched && byRank[r].size() == byRank[0].size();
        std::vector<RoundSegment> received;
        for (size_t g = 0; g < byRank[r].size(); ++g) {
          size_t operations = 0;
          for (const Exchange& e : byRank[r][g]) {
            operations += e.sends.size() + e.receives.size();
            const std::vector<Exchange>& theirs = byRank[e.peer][g];
            const auto back = std::find_if(theirs.begin(), theirs.end(), [&](const Exchange& x) { return x.peer == r; });
            matched = matched && back != theirs.end() && same(e.sends, back->receives) && same(e.receives, back->sends);
            if (e.peer == (r + 1) % 4) received.insert(received.end(), e.receives.begin(), e.receives.end());
          }
          withinLimit = withinLimit && operations <= most;
        }
        complete = complete && same(received, roundSegments(many, r, chunk, chunk));
      }
      const std::string name = "exchange groups (chunk " + std::to_string(chunk) + ", at most " + std::to_string(most) + " calls): ";
      check(matched, name + "every send meets its receive in the same group");
      check(withinLimit, name + "no group over the limit");
      check(complete, name + "each peer's receives cover the rank's list once, in order");
    }
  check(exchangeGroups(cuts, 0, 0, 4, 1024).size() == 1 && exchangeGroups(many, 0, 0, 1, 1024).size() == 1,
        "exchange groups: one group where the round fits");
  ShardCuts alone = cuts;
  alone.size = 1;
  alone.counts = {10, 4, 7};
  alone.offsets = {0, 0, 0};
  check(exchangeGroups(alone, 0, 0, 21, 1024).empty(), "exchange groups: none at world size 1");

  // The reference sum: rank order, one rounding each. In float32 (1e8 + 1) + -1e8 is 0 (1e8 + 1
  // rounds to 1e8), while summing the other way round, (-1e8 + 1e8) + 1, would give 1.
  const std::vector<float> slots{1e8f, 1.0f, 1.0f, 4.0f, -1e8f, 2.0f};  // 3 ranks of 2 elements
  std::vector<float> out(2);
  const bool bad = sumInRankOrder(slots.data(), 3, 2, 2, false, out.data());
  check(!bad && out[0] == 0.0f && out[1] == 7.0f, "rank-order sum: left to right in float32");
  sumInRankOrder(slots.data(), 3, 2, 2, true, out.data());
  check(out[1] == 7.0f / 3.0f, "rank-order sum: the mean divides the float32 sum");
  const std::vector<float> infinite{3e38f, 3e38f};
  check(sumInRankOrder(infinite.data(), 2, 1, 1, false, out.data()) && std::isinf(out[0]), "rank-order sum: overflow is non-finite");
}

int main() {
  testLayout();
  testShardCuts();
  testEntryAndRegistry();
  testTopk();
  testBucketRange();
  testNonFinite();
  testThreadIndependence();
  return microadam::native_test::tally.finish();
}
