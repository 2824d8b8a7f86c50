// The non-finite scan of a gradient range (rangeIsFinite in tensor.h) in the CPU path's
// instruction set. A value is non-finite when its exponent bits are all ones, that is when its
// magnitude bits reach those of infinity: so the scan keeps the largest magnitude (one and and
// one unsigned max per vector) and compares once at the end, instead of a compare per vector.
#include "finite_scan.h"

#include "block_step.h"
#include "tensor.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers initialize their undefined vectors from themselves (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace microadam {
namespace {

__attribute__((target("avx2,avx512f,avx512bw"))) bool rangeIsFiniteAvx512(const TensorView& t, uint64_t begin,
                                                                          uint64_t end) {
  if (t.dtype == Dtype::F32) {
    const uint32_t* bits = static_cast<const uint32_t*>(t.data);
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
    __m512i m0 = _mm512_setzero_si512(), m1 = m0, m2 = m0, m3 = m0;
    uint64_t i = begin;
    for (; i + 64 <= end; i += 64) {
      m0 = _mm512_max_epu32(m0, _mm512_and_si512(_mm512_loadu_si512(bits + i), magnitude));
      m1 = _mm512_max_epu32(m1, _mm512_and_si512(_mm512_loadu_si512(bits + i + 16), magnitude));
      m2 = _mm512_max_epu32(m2, _mm512_and_si512(_mm512_loadu_si512(bits + i + 32), magnitude));
      m3 = _mm512_max_epu32(m3, _mm512_and_si512(_mm512_loadu_si512(bits + i + 48), magnitude));
    }
    uint32_t largest = _mm512_reduce_max_epu32(_mm512_max_epu32(_mm512_max_epu32(m0, m1), _mm512_max_epu32(m2, m3)));
    for (; i < end; ++i) largest = (bits[i] & 0x7FFFFFFFu) > largest ? bits[i] & 0x7FFFFFFFu : largest;
    return largest < 0x7F800000u;
  }
  const uint16_t* bits = static_cast<const uint16_t*>(t.data);
  const uint16_t infinity = t.dtype == Dtype::BF16 ? 0x7F80u : 0x7C00u;
  const __m512i magnitude = _mm512_set1_epi16(0x7FFF);
  __m512i m0 = _mm512_setzero_si512(), m1 = m0;
  uint64_t i = begin;
  for (; i + 64 <= end; i += 64) {
    m0 = _mm512_max_epu16(m0, _mm512_and_si512(_mm512_loadu_si512(bits + i), magnitude));
    m1 = _mm512_max_epu16(m1, _mm512_and_si512(_mm512_loadu_si512(bits + i + 32), magnitude));
  }
  alignas(64) uint16_t lanes[32];
  _mm512_store_si512(lanes, _mm512_max_epu16(m0, m1));
  uint16_t largest = 0;
  for (uint16_t lane : lanes) largest = lane > largest ? lane : largest;
  for (; i < end; ++i) largest = uint16_t(bits[i] & 0x7FFFu) > largest ? uint16_t(bits[i] & 0x7FFFu) : largest;
  return largest < infinity;
}

__attribute__((target("avx2"))) bool rangeIsFiniteAvx2(const TensorView& t, uint64_t begin, uint64_t end) {
  if (t.dtype == Dtype::F32) {
    const uint32_t* bits = static_cast<const uint32_t*>(t.data);
    const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF);
    __m256i m0 = _mm256_setzero_si256(), m1 = m0, m2 = m0, m3 = m0;
    uint64_t i = begin;
    for (; i + 32 <= end; i += 32) {
      const auto* p = reinterpret_cast<const __m256i*>(bits + i);
      m0 = _mm256_max_epu32(m0, _mm256_and_si256(_mm256_loadu_si256(p), magnitude));
      m1 = _mm256_max_epu32(m1, _mm256_and_si256(_mm256_loadu_si256(p + 1), magnitude));
      m2 = _mm256_max_epu32(m2, _mm256_and_si256(_mm256_loadu_si256(p + 2), magnitude));
      m3 = _mm256_max_epu32(m3, _mm256_and_si256(_mm256_loadu_si256(p + 3), magnitude));
    }
    alignas(32) uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                       _mm256_max_epu32(_mm256_max_epu32(m0, m1), _mm256_max_epu32(m2, m3)));
    uint32_t largest = 0;
    for (uint32_t lane : lanes) largest = lane > largest ? lane : largest;
    for (; i < end; ++i) largest = (bits[i] & 0x7FFFFFFFu) > largest ? bits[i] & 0x7FFFFFFFu : largest;
    return largest < 0x7F800000u;
  }
  const uint16_t* bits = static_cast<const uint16_t*>(t.data);
  const uint16_t infinity = t.dtype == Dtype::BF16 ? 0x7F80u : 0x7C00u;
  const __m256i magnitude = _mm256_set1_epi16(0x7FFF);
  __m256i m0 = _mm256_setzero_si256(), m1 = m0;
  uint64_t i = begin;
  for (; i + 32 <= end; i += 32) {
    const auto* p = reinterpret_cast<const __m256i*>(bits + i);
    m0 = _mm256_max_epu16(m0, _mm256_and_si256(_mm256_loadu_si256(p), magnitude));
    m1 = _mm256_max_epu16(m1, _mm256_and_si256(_mm256_loadu_si256(p + 1), magnitude));
  }
  alignas(32) uint16_t lanes[16];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_max_epu16(m0, m1));
  uint16_t largest = 0;
  for (uint16_t lane : lanes) largest = lane > largest ? lane : largest;
  for (; i < end; ++i) largest = uint16_t(bits[i] & 0x7FFFu) > largest ? uint16_t(bits[i] & 0x7FFFu) : largest;
  return largest < infinity;
}

}  // namespace

bool rangeIsFiniteOnPath(const TensorView& t, uint64_t begin, uint64_t end) {
  switch (activeCpuPath()) {
    case CpuPath::Avx512: return rangeIsFiniteAvx512(t, begin, end);
    case CpuPath::Avx2: return rangeIsFiniteAvx2(t, begin, end);
    case CpuPath::Baseline: return rangeIsFinite(t, begin, end);
  }
  return rangeIsFinite(t, begin, end);
}

}  // namespace microadam
#else
namespace microadam {
bool rangeIsFiniteOnPath(const TensorView& t, uint64_t begin, uint64_t end) { return rangeIsFinite(t, begin, end); }
}  // namespace microadam
#endif
