// Each vector pass of the block kernel against its plain C++ reference (block_passes.h,
// window_moments.h), bit for bit, on hostile inputs: ±0 in every position, subnormals, ±Inf,
// huge values, constant buckets, exact ties, partial buckets and blocks, every Q shape the
// vectors take. Compiled twice by test/kernel-passes.test.ts (this file compiles both sides
// itself, so it needs no build change): as is, for the passes of Avx2Passes
// (block_passes_avx2.h), and with -DKERNEL_PASSES_AVX512=1 for those of Avx512Passes
// (block_passes_avx512.h). Prints "N passed, M failed", or a line starting "SKIPPED:" where the
// CPU lacks the instructions.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#if KERNEL_PASSES_AVX512
// GCC 12's AVX-512 headers initialize their undefined vectors from themselves (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx2,avx512f,avx512bw,avx512dq,avx512vl,avx512cd,no-fma")
#include "core/block_passes_avx512.h"
#define PASS(name) name##Avx512
#else
#pragma GCC target("avx2,no-fma")
#include "core/block_passes_avx2.h"
#define PASS(name) name##Avx2
#endif
#include "core/block_step.h"
#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace microadam;
using microadam::native_test::check;
using microadam::native_test::tally;

namespace {

template <class V>
bool sameBits(const V& a, const V& b) {
  using T = typename V::value_type;
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

std::mt19937 rng(20240611);

// A hostile float: mostly ordinary, with zeros of both signs, subnormals, huge values and
// infinities mixed in at `rate` each; `positive` keeps the sign bit clear except on zeros.
float hostile(double rate, bool positive, bool infinities) {
  std::uniform_real_distribution<double> u(0, 1);
  const double r = u(rng);
  float x;
  if (r < rate) x = 0.0f;
  else if (r < 2 * rate) x = -0.0f;
  else if (r < 3 * rate) x = bitsFloat(1 + rng() % 0x7FFFFF);  // subnormal
  else if (r < 4 * rate) x = float(1e38 * (1 + 2.4 * u(rng)));
  else if (infinities && r < 5 * rate) x = INFINITY;
  else x = float(std::ldexp(1 + u(rng), int(rng() % 40) - 20));
  if (positive) return (x == 0.0f) ? x : std::fabs(x);
  return (rng() & 1) && x != 0.0f ? -x : x;
}

std::vector<uint16_t> randomBf16Ranges(uint32_t buckets, std::vector<uint16_t>& hi) {
  std::vector<uint16_t> lo(buckets);
  hi.resize(buckets);
  for (uint32_t b = 0; b < buckets; ++b) {
    const uint32_t kind = rng() % 6;
    float low = hostile(0.05, false, false), high = low + std::fabs(hostile(0.05, false, false));
    if (kind == 0) high = low;                   // constant bucket
    if (kind == 1) low = -3.3e38f, high = 3.3e38f;  // unit overflows: u = 0
    lo[b] = bf16RoundDown(low);
    hi[b] = bf16RoundUp(high);
    if (kind == 2) lo[b] = 0x8000, hi[b] = 0x0000;  // -0 .. +0
  }
  return lo;
}

template <Dtype G>
void testDequantize(uint32_t count, uint32_t q) {
  const uint32_t buckets = (count + q - 1) / q;
  std::vector<uint16_t> hi, lo = randomBf16Ranges(buckets, hi);
  std::vector<uint8_t> codes((count + 1) / 2 + 32);
  for (auto& c : codes) c = uint8_t(rng());
  if (count & 1) codes[count / 2] &= 0xF0;
  std::vector<float> gradValues(count), params(count, 1.0f);
  for (auto& g : gradValues) g = hostile(0.03, false, false);
  std::vector<typename Element<G>::Storage> grads(count);
  for (uint32_t i = 0; i < count; ++i) {
    if constexpr (G == Dtype::F32) grads[i] = gradValues[i];
    else grads[i] = floatToBf16(gradValues[i]);
  }
  const BlockErrors e{codes.data(), lo.data(), hi.data(), count, q};
  const uint32_t words = markWords(count);
  for (uint32_t threshold : {0u, 1u, 0x3F000000u, floatBits(gradValues[0]) & 0x7FFFFFFFu, 0x7F800000u}) {
    // a is the kernel's scratch: 64-byte aligned, like BlockScratch's.
    ScratchArray<float> a1(count + 64), a2(count + 64);
    std::vector<float> units(buckets + 8), lows(buckets + 8);
    std::vector<uint64_t> m1(words), m2(words);
    std::vector<uint8_t> scratch(q + 1);
    const DequantizedBlock r1 = dequantizeBlockReference<G>(grads.data(), e, threshold, a1.data(), m1.data(), scratch.data());
    LinePrefetcher ahead(params.data(), params.size() * sizeof(float), grads.data(), grads.size() * sizeof(grads[0]));
    const DequantizedBlock r2 = q == 64 ? PASS(dequantizeBlock)<G, 64>(grads.data(), e, threshold, a2.data(), m2.data(), units.data(), lows.data(), ahead, 2)
                                        : PASS(dequantizeBlock)<G, 0>(grads.data(), e, threshold, a2.data(), m2.data(), units.data(), lows.data(), ahead, 2);
    a1.resize(count);
    a2.resize(count);
    const std::string what = std::string(G == Dtype::F32 ? "f32" : "bf16") + " dequantize count " + std::to_string(count) + " q " + std::to_string(q) + " threshold " + std::to_string(threshold);
    check(sameBits(a1, a2), what + ": a");
    check(r1.maxMagnitude == r2.maxMagnitude && r1.marked == r2.marked, what + ": max and marked");
    if (threshold != 0) check(sameBits(m1, m2), what + ": marks");
  }
}

void testQuantize(uint32_t count, uint32_t q) {
  const uint32_t buckets = (count + q - 1) / q;
  ScratchArray<float> a(count + 64);
  const uint32_t pattern = rng() % 5;
  for (uint32_t b = 0; b < buckets; ++b) {
    // Whole buckets of one kind: mixed, non-negative with zeros of both signs, non-positive,
    // constant, and tiny (subnormal) values.
    const uint32_t kind = (pattern + b) % 5;
    const float constant = hostile(0.1, false, false);
    for (uint32_t i = b * q; i < count && i < (b + 1) * q; ++i) {
      float x = hostile(0.08, kind == 1 || kind == 2, true);
      if (kind == 2) x = x == 0.0f ? x : -x;
      if (kind == 3) x = constant;
      if (kind == 4) x = bitsFloat(rng() % 0x400) * ((rng() & 1) ? 1.0f : -1.0f);
      a[i] = x;
    }
  }
  std::vector<uint8_t> codes1((count + 1) / 2, 0xAA), codes2((count + 1) / 2, 0x55);
  std::vector<uint16_t> lo1(buckets), hi1(buckets), lo2(buckets, 1), hi2(buckets, 1);
  std::vector<uint8_t> scratch(q + 1);
  quantizeBlockReference(a.data(), BlockErrors{codes1.data(), lo1.data(), hi1.data(), count, q}, scratch.data());
  const BlockErrors e2{codes2.data(), lo2.data(), hi2.data(), count, q};
  LinePrefetcher ahead(a.data(), count * sizeof(float), codes1.data(), codes1.size());
  if (q == 64)
    PASS(quantizeBlock)<64>(a.data(), e2, false, scratch.data(), ahead, 16);
  else
    PASS(quantizeBlock)<0>(a.data(), e2, false, scratch.data(), ahead, 16);
  const std::string what = "quantize count " + std::to_string(count) + " q " + std::to_string(q);
  check(sameBits(lo1, lo2) && sameBits(hi1, hi2), what + ": ranges");
  check(sameBits(codes1, codes2), what + ": codes");
}

void testMarks(uint32_t count) {
  ScratchArray<float> a(count + 64);
  for (uint32_t i = 0; i < count; ++i) a[i] = hostile(0.05, false, true);
  const uint32_t words = markWords(count);
  for (uint32_t threshold : {1u, 0x3F800000u, 0x7F800000u, floatBits(a[count / 2]) & 0x7FFFFFFFu}) {
    std::vector<uint64_t> m1(words), m2(words);
    const uint32_t n1 = markMagnitudesReference(a.data(), count, threshold, m1.data());
    const uint32_t n2 = PASS(markMagnitudes)(a.data(), count, threshold, m2.data());
    check(n1 == n2 && sameBits(m1, m2), "marks count " + std::to_string(count));
  }
}

#if KERNEL_PASSES_AVX512
// The ranks of a list of candidates (what dequantize lists with a threshold): any subset of the
// block, ascending, any length (partial vectors), NaNs of every payload sharing one key.
void testRankCandidates(uint32_t count) {
  ScratchArray<float> a(count + 64);
  for (uint32_t i = 0; i < count; ++i)
    a[i] = rng() % 16 == 0 ? bitsFloat((rng() & 0x80000000u) | (0x7F800001u + rng() % 0x7FFFFF)) : hostile(0.05, false, true);
  std::vector<uint32_t> candidates;
  const uint32_t rate = 1 + rng() % 4;
  for (uint32_t i = 0; i < count; ++i)
    if (rng() % rate == 0) candidates.push_back(i);
  const uint32_t n = uint32_t(candidates.size());
  candidates.resize(n + 16, 0);
  std::vector<uint64_t> ranked1(n), ranked2(n + 16, 7);
  rankCandidatesReference(a.data(), candidates.data(), n, ranked1.data());
  rankCandidatesAvx512(a.data(), candidates.data(), n, ranked2.data());
  check(std::all_of(ranked2.begin() + n, ranked2.end(), [](uint64_t x) { return x == 7; }), "rank count " + std::to_string(count) + ": past the list");
  ranked2.resize(n);
  check(sameBits(ranked1, ranked2), "rank count " + std::to_string(count) + " candidates " + std::to_string(n));
}
#endif

void testWindow(uint32_t blockSize, uint32_t keep, uint32_t window, uint64_t step, bool repeats = false) {
  const uint32_t K = keep + 7;  // the block's slots inside a longer row
  std::vector<uint16_t> indices(window * K), values(window * K);
  for (uint32_t r = 0; r < window; ++r) {
    // Ascending distinct indices, as the Top-K writes them; rows overlap.
    std::vector<uint16_t> row;
    for (uint32_t i = 0; i < blockSize && row.size() < keep; ++i)
      if (rng() % blockSize < 3 * keep) row.push_back(uint16_t(i));
    for (uint32_t i = 0; row.size() < keep; ++i) row.push_back(uint16_t(i));
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    for (uint32_t i = 0; row.size() < keep; ++i)
      if (!std::binary_search(row.begin(), row.end(), uint16_t(i))) row.insert(std::upper_bound(row.begin(), row.end(), uint16_t(i)), uint16_t(i));
    // A restored state may hold any offsets in the block, repeats included.
    if (repeats)
      for (uint32_t s = 0; s < keep; ++s)
        if (rng() % 4 == 0) row[s] = row[rng() % keep];
    for (uint32_t s = 0; s < keep; ++s) {
      indices[r * K + 3 + s] = row[s];
      values[r * K + 3 + s] = floatToBf16(hostile(0.05, false, true));
    }
  }
  std::vector<float> p1(window), p2(window);
  for (uint32_t age = 0; age < window; ++age) {
    p1[age] = std::pow(0.9f, float(age));
    p2[age] = std::pow(0.999f, float(age));
  }
  const WindowBlock block{indices.data() + 3, values.data() + 3, K, keep};
  const uint32_t slots = std::min<uint32_t>(uint32_t(std::min<uint64_t>(step, window)) * keep, blockSize);
  std::vector<float> moments1(2 * slots), moments2(2 * slots);
  ScratchArray<float> terms(2 * keep + 16);
  std::vector<uint16_t> slotOf1(blockSize), slotOf2(blockSize), named1(blockSize + 1), named2(blockSize + 1);
  const uint32_t n1 = accumulateWindowCompact(block, step, window, p1.data(), p2.data(), moments1.data(), slotOf1.data(), named1.data());
  LinePrefetcher ahead(indices.data(), indices.size() * 2, values.data(), values.size() * 2);
  const std::string what = "window keep " + std::to_string(keep) + " m " + std::to_string(window) + " t " +
                           std::to_string(step) + (repeats ? " with repeated indices" : "");
  const uint32_t n2 = accumulateWindowCompactAvx2(block, step, window, p1.data(), p2.data(), moments2.data(), slotOf2.data(), named2.data(), terms.data(), ahead);
  named1.resize(n1);
  named2.resize(n2);
  check(n1 == n2 && sameBits(named1, named2) && sameBits(moments1, moments2) && sameBits(slotOf1, slotOf2), what + ": moments");
  std::vector<float> u1(n1), u2(n1);
  namedDirectionsReference(n1, moments1.data(), 0.1f, 0.001f, 1e-8f, u1.data());
  namedDirectionsAvx2(n1, moments1.data(), 0.1f, 0.001f, 1e-8f, u2.data());
  check(sameBits(u1, u2), what + ": directions");
}
}  // namespace

int main() {
  __builtin_cpu_init();
#if KERNEL_PASSES_AVX512
  const bool runs = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
                    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd");
  // Dequantize runs its 16-wide pass only for Q a multiple of 16 (Avx512Passes); quantize
  // takes every Q (others go to the AVX2 pass inside it).
  const std::vector<uint32_t> dequantizeQ{16u, 32u, 48u, 64u, 128u, 192u}, quantizeQ{8u, 16u, 24u, 32u, 48u, 64u, 128u};
#else
  const bool runs = __builtin_cpu_supports("avx2");
  const std::vector<uint32_t> dequantizeQ{8u, 16u, 24u, 64u, 128u}, quantizeQ = dequantizeQ;
#endif
  if (!runs) {
    std::printf("SKIPPED: this CPU lacks the instructions of these passes: 0 passed, 0 failed\n");
    return 0;
  }
  tally.printLimit = 20;
  for (int trial = 0; trial < 20; ++trial) {
    for (uint32_t q : dequantizeQ) {
      const uint32_t blocks = 1 + rng() % 4;
      for (uint32_t count : {16 * q * blocks, 16 * q * blocks + q, 8 * q * blocks + q / 2 + 1, 64 * blocks + 7, uint32_t(q)}) {
        testDequantize<Dtype::F32>(count, q);
        testDequantize<Dtype::BF16>(count, q);
      }
    }
    for (uint32_t q : quantizeQ) {
      const uint32_t blocks = 1 + rng() % 4;
      for (uint32_t count : {16 * q * blocks, 8 * q * blocks, 16 * q * blocks + 3 * q, 8 * q * blocks + q / 2 + 1, 64 * blocks + 7, uint32_t(q)})
        testQuantize(count, q);
    }
  }
  for (uint32_t count : {1u, 15u, 16u, 17u, 63u, 64u, 65u, 4096u, 4097u, 1000u}) testMarks(count);
#if KERNEL_PASSES_AVX512
  for (int trial = 0; trial < 5; ++trial)
    for (uint32_t count : {1u, 8u, 16u, 17u, 31u, 64u, 65u, 1000u, 4096u}) testRankCandidates(count);
#endif
  for (uint32_t keep : {1u, 7u, 8u, 41u, 100u, 409u})
    for (uint32_t window : {1u, 3u, 10u})
      for (uint64_t step : {uint64_t(1), uint64_t(window), uint64_t(window) + 5, uint64_t(1000003)}) {
        testWindow(4096, keep, window, step);
        testWindow(4096, keep, window, step, true);
      }
  return tally.finish();
}
#else
#include <cstdio>
int main() {
  std::printf("SKIPPED: the vector builds are not compiled here (x86-64 GCC only): 0 passed, 0 failed\n");
  return 0;
}
#endif
