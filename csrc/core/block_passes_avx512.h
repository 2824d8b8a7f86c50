// The block passes of block_passes.h with AVX-512 (F, BW, DQ, VL, CD) intrinsics, each beside
// the reference it matches, and Avx512Passes, the policy of the AVX-512 build of the kernel
// (block_kernel_avx512.cpp, without FMA). Sixteen elements at a time, with the same operations
// in the same order on each element as the reference, so the bits are its bits; masks give the
// Top-K candidate marks directly (one compare per 16 elements, no movemask). Shapes these do not
// cover (Q not a multiple of 16, NaNs in a block to quantize) fall to the AVX2 passes of the same
// build or to the reference. Internal linkage, as everything the kernel builds include (see
// numeric.h).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "block_passes.h"
#include "block_passes_avx2.h"
#include "block_prefetch.h"

namespace microadam {
namespace {

// u_b and lo_b (as float) for buckets [0, buckets), sixteen at a time: bucketUnit in vectors.
void bucketUnitsAvx512(const BlockErrors& e, uint32_t buckets, float* units, float* lows) {
  const __m512 fifteen = _mm512_set1_ps(15.0f);
  const __m512i exponent = _mm512_set1_epi32(0x7F800000);
  uint32_t b = 0;
  for (; b + 16 <= buckets; b += 16) {
    const __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.errorMin + b)));
    const __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.errorMax + b)));
    const __m512 low = _mm512_castsi512_ps(_mm512_slli_epi32(lo, 16));
    const __m512 high = _mm512_castsi512_ps(_mm512_slli_epi32(hi, 16));
    const __m512 unit = _mm512_div_ps(_mm512_sub_ps(high, low), fifteen);
    const __mmask16 finite = _mm512_cmpneq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(unit), exponent), exponent);
    _mm512_storeu_ps(units + b, _mm512_maskz_mov_ps(finite, unit));
    _mm512_storeu_ps(lows + b, low);
  }
  const BlockErrors rest{e.codes, e.errorMin + b, e.errorMax + b, e.count, e.q};
  bucketUnitsAvx2(rest, buckets - b, units + b, lows + b);
}

template <Dtype G>
__m512 loadGrads16(const typename Element<G>::Storage* grads, uint32_t i);

template <>
__m512 loadGrads16<Dtype::F32>(const float* grads, uint32_t i) {
  return _mm512_loadu_ps(grads + i);
}

template <>
__m512 loadGrads16<Dtype::BF16>(const uint16_t* grads, uint32_t i) {
  const __m512i bits = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(grads + i)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(bits, 16));
}

// The 64 codes of 32 packed bytes (even elements in the high nibble), one byte each, in
// element order: each byte widened to a 16-bit word w, then (w >> 4) | ((w & 15) << 8).
__m512i unpackCodes64(const uint8_t* packed) {
  const __m512i words = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed)));
  return _mm512_or_si512(_mm512_srli_epi16(words, 4), _mm512_slli_epi16(_mm512_and_si512(words, _mm512_set1_epi16(15)), 8));
}

// Sixteen elements of step 1 (a = g + (code * unit + low)); returns their candidate marks and,
// with kList, appends the candidates' indices to `candidates` (compressed in a register, then
// one plain store: the lanes past the candidates are written over by the next store).
template <Dtype G, bool kList>
struct DequantizeLanes16 {
  const typename Element<G>::Storage* __restrict__ grads;
  float* __restrict__ a;
  __m512i magnitudeMask, threshold, maxMagnitude;
  uint32_t* __restrict__ candidates;
  uint32_t listed;

  __mmask16 run(uint32_t i, __m128i codeBytes, __m512 unit, __m512 low) {
    const __m512 deq = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(codeBytes)), unit), low);
    const __m512 x = _mm512_add_ps(loadGrads16<G>(grads, i), deq);
    _mm512_store_ps(a + i, x);
    const __m512i magnitude = _mm512_and_si512(_mm512_castps_si512(x), magnitudeMask);
    maxMagnitude = _mm512_max_epu32(maxMagnitude, magnitude);
    const __mmask16 reach = _mm512_cmpge_epu32_mask(magnitude, threshold);
    if constexpr (kList) {
      const __m512i where = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(int32_t(i)));
      _mm512_storeu_si512(candidates + listed, _mm512_maskz_compress_epi32(reach, where));
      listed += uint32_t(__builtin_popcount(reach));
    }
    return reach;
  }
};

// rankMarked (topk_select.h) from a list of candidate indices (ascending) instead of marks:
// ranked[c] = topkRank(magnitudeKey(a[i]), i) for the c-th candidate i, sixteen at a time.
void rankCandidatesAvx512(const float* a, const uint32_t* candidates, uint32_t n, uint64_t* ranked) {
  const __m512i magnitudeMask = _mm512_set1_epi32(0x7FFFFFFF), infinity = _mm512_set1_epi32(0x7F800000);
  const __m512i nanKey = _mm512_set1_epi32(int32_t(kNanKey)), ones = _mm512_set1_epi32(-1);
  // [low 0, key 0, low 1, key 1, ...]: each 64-bit lane key << 32 | low.
  const __m512i front = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i back = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (uint32_t c = 0; c < n; c += 16) {
    const uint32_t lanes = n - c >= 16 ? 16 : n - c;
    const __mmask16 live = __mmask16(lanes == 16 ? 0xFFFFu : (1u << lanes) - 1);
    const __m512i idx = _mm512_maskz_loadu_epi32(live, candidates + c);
    const __m512i magnitude =
        _mm512_and_si512(_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, idx, a, 4), magnitudeMask);
    const __m512i key = _mm512_mask_mov_epi32(magnitude, _mm512_cmpgt_epu32_mask(magnitude, infinity), nanKey);
    const __m512i low = _mm512_xor_si512(idx, ones);  // 0xFFFFFFFF - i
    _mm512_mask_storeu_epi64(ranked + c, __mmask8(lanes >= 8 ? 0xFF : (1u << lanes) - 1),
                             _mm512_permutex2var_epi32(low, front, key));
    if (lanes > 8)
      _mm512_mask_storeu_epi64(ranked + c + 8, __mmask8(lanes == 16 ? 0xFF : (1u << (lanes - 8)) - 1),
                               _mm512_permutex2var_epi32(low, back, key));
  }
}

// dequantizeBlockReference for Q a multiple of 16, 64 elements (one mark word, 32 code bytes)
// at a time. kQ is Q when known at compile time (64, the default), else 0. Asks `ahead` for
// `linesPerChunk` lines per 64 elements. With kList (and a threshold), also lists the marked
// elements' indices, ascending, in `candidates` (count + 16 entries), one per mark.
template <Dtype G, uint32_t kQ, bool kList = false>
DequantizedBlock dequantizeBlockAvx512(const typename Element<G>::Storage* grads, const BlockErrors& e,
                                       uint32_t threshold, float* a, uint64_t* __restrict__ marks, float* units,
                                       float* lows, LinePrefetcher& ahead, uint32_t linesPerChunk,
                                       uint32_t* candidates = nullptr) {
  const uint32_t count = e.count, q = kQ != 0 ? kQ : e.q;
  const uint8_t* __restrict__ codes = e.codes;
  const uint32_t buckets = (count + q - 1) / q;
  bucketUnitsAvx512(e, buckets, units, lows);
  // Without a threshold every element "reaches" 0; the marks are then not used.
  DequantizeLanes16<G, kList> lanes{grads, a, _mm512_set1_epi32(0x7FFFFFFF), _mm512_set1_epi32(int32_t(threshold)),
                                    _mm512_setzero_si512(), candidates, 0};
  const uint32_t vectorEnd = count & ~63u;
  const bool bucketPerChunk = q % 64 == 0;
  uint32_t bucket = 0, bucketEnd = q, marked = 0;
  for (uint32_t chunk = 0; chunk < vectorEnd; chunk += 64) {
    // The prefetch requests four chunks' worth at a time: its bookkeeping then costs a quarter.
    if (chunk % 256 == 0) ahead.ask(4 * linesPerChunk);
    const __m512i bytes = unpackCodes64(codes + chunk / 2);
    const __m128i run[4] = {_mm512_castsi512_si128(bytes), _mm512_extracti32x4_epi32(bytes, 1),
                            _mm512_extracti32x4_epi32(bytes, 2), _mm512_extracti32x4_epi32(bytes, 3)};
    __mmask16 reach[4];
    if (bucketPerChunk) {
      if (kQ == 64) {
        bucket = chunk / 64;
      } else if (chunk == bucketEnd) {
        ++bucket;
        bucketEnd += q;
      }
      const __m512 unit = _mm512_set1_ps(units[bucket]), low = _mm512_set1_ps(lows[bucket]);
      for (uint32_t v = 0; v < 4; ++v) reach[v] = lanes.run(chunk + 16 * v, run[v], unit, low);
    } else {
      for (uint32_t v = 0; v < 4; ++v) {
        const uint32_t i = chunk + 16 * v;
        if (i == bucketEnd) {  // Q is a multiple of 16: a vector never straddles two buckets
          ++bucket;
          bucketEnd += q;
        }
        reach[v] = lanes.run(i, run[v], _mm512_set1_ps(units[bucket]), _mm512_set1_ps(lows[bucket]));
      }
    }
    // The four masks side by side in mask registers: one 64-bit mark word.
    const uint64_t word = _cvtmask64_u64(
        _mm512_kunpackd(_mm512_kunpackw(reach[3], reach[2]), _mm512_kunpackw(reach[1], reach[0])));
    marks[chunk / 64] = word;
    marked += uint32_t(__builtin_popcountll(word));
  }
  DequantizedBlock result{0, _mm512_reduce_max_epu32(lanes.maxMagnitude)};
  // The last, partial mark word, element by element.
  if (vectorEnd < count) {
    uint64_t word = 0;
    for (uint32_t i = vectorEnd; i < count; ++i) {
      const uint32_t b = i / q;
      a[i] = Element<G>::load(grads, i) + (float(readCode(codes, i)) * units[b] + lows[b]);
      const uint32_t magnitude = floatBits(a[i]) & 0x7FFFFFFFu;
      result.maxMagnitude = magnitude > result.maxMagnitude ? magnitude : result.maxMagnitude;
      word |= uint64_t(magnitude >= threshold) << (i - vectorEnd);
      if constexpr (kList) {
        candidates[lanes.listed] = i;
        lanes.listed += uint32_t(magnitude >= threshold);
      }
    }
    marks[vectorEnd / 64] = word;
    marked += uint32_t(__builtin_popcountll(word));
  }
  result.marked = threshold != 0 ? marked : 0;
  result.listed = kList && threshold != 0;
  return result;
}

// markMagnitudesReference, 64 elements (one mark word, four masks) at a time.
uint32_t markMagnitudesAvx512(const float* a, uint32_t count, uint32_t threshold, uint64_t* marks) {
  const __m512i magnitudeMask = _mm512_set1_epi32(0x7FFFFFFF), reach = _mm512_set1_epi32(int32_t(threshold));
  const uint32_t vectorEnd = count & ~63u;
  uint32_t marked = 0;
  for (uint32_t chunk = 0; chunk < vectorEnd; chunk += 64) {
    uint64_t word = 0;
    for (uint32_t v = 0; v < 4; ++v) {
      const __m512i magnitude = _mm512_and_si512(_mm512_load_si512(a + chunk + 16 * v), magnitudeMask);
      word |= uint64_t(_mm512_cmpge_epu32_mask(magnitude, reach)) << (16 * v);
    }
    marks[chunk / 64] = word;
    marked += uint32_t(__builtin_popcountll(word));
  }
  if (vectorEnd < count) marked += markMagnitudesReference(a + vectorEnd, count - vectorEnd, threshold, marks + vectorEnd / 64);
  return marked;
}

__m512 minOf16(__m512 x, __m512 y) { return _mm512_min_ps(x, y); }
__m512 maxOf16(__m512 x, __m512 y) { return _mm512_max_ps(x, y); }

// Lane j of the result: op over v[j]'s sixteen lanes (minOf16 or maxOf16). Within each 128-bit
// lane as reduceEach8 does, then across the four 128-bit lanes.
template <__m512 (*op)(__m512, __m512)>
__m512 reduceEach16(const __m512* v) {
  __m512 quads[4];
  for (uint32_t g = 0; g < 4; ++g) {
    const __m512* w = v + 4 * g;
    const __m512 a01 = op(_mm512_unpacklo_ps(w[0], w[1]), _mm512_unpackhi_ps(w[0], w[1]));
    const __m512 a23 = op(_mm512_unpacklo_ps(w[2], w[3]), _mm512_unpackhi_ps(w[2], w[3]));
    // 128-bit lane l, element j: op over w[j]'s elements in lane l.
    quads[g] = op(_mm512_shuffle_ps(a01, a23, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(a01, a23, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  const __m512 c0 = op(_mm512_shuffle_f32x4(quads[0], quads[1], _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_f32x4(quads[0], quads[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 c1 = op(_mm512_shuffle_f32x4(quads[2], quads[3], _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_f32x4(quads[2], quads[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return op(_mm512_shuffle_f32x4(c0, c1, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(c0, c1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// bf16RoundDown / bf16RoundUp (numeric.h) on sixteen float bit patterns (not NaN).
__m512i saturateBf16Avx512(__m512i r) {
  const __mmask16 isInf = _mm512_cmpeq_epi32_mask(_mm512_and_si512(r, _mm512_set1_epi32(0x7FFF)), _mm512_set1_epi32(0x7F80));
  const __m512i saturated = _mm512_or_si512(_mm512_and_si512(r, _mm512_set1_epi32(0x8000)), _mm512_set1_epi32(kBf16MaxFinite));
  return _mm512_mask_mov_epi32(r, isInf, saturated);
}

__m512i bf16RoundDownAvx512(__m512i x) {
  // Truncation rounds toward zero: a negative value with bits below bf16 goes one further down.
  const __mmask16 inexact = _mm512_test_epi32_mask(x, _mm512_set1_epi32(0xFFFF));
  const __mmask16 negative = _mm512_movepi32_mask(x);
  const __m512i truncated = _mm512_srli_epi32(x, 16);
  return saturateBf16Avx512(_mm512_mask_add_epi32(truncated, inexact & negative, truncated, _mm512_set1_epi32(1)));
}

__m512i bf16RoundUpAvx512(__m512i x) {
  const __mmask16 inexact = _mm512_test_epi32_mask(x, _mm512_set1_epi32(0xFFFF));
  const __mmask16 negative = _mm512_movepi32_mask(x);
  const __m512i truncated = _mm512_srli_epi32(x, 16);
  return saturateBf16Avx512(
      _mm512_mask_add_epi32(truncated, inexact & __mmask16(~negative), truncated, _mm512_set1_epi32(1)));
}

// Codes of 16 elements: clamp(floor((a - low) / unit + 0.5), 0, 15) as in clampedCode. Past
// min(15, x), truncation is floor for x >= 0; what truncates below 0 (a NaN x gives INT_MIN)
// becomes 0 like the reference's x > 0 test.
__m512i codesOf16(const float* values, __m512 low, __m512 unit) {
  const __m512 x = _mm512_add_ps(_mm512_div_ps(_mm512_sub_ps(_mm512_load_ps(values), low), unit), _mm512_set1_ps(0.5f));
  return _mm512_max_epi32(_mm512_cvttps_epi32(_mm512_min_ps(_mm512_set1_ps(15.0f), x)), _mm512_setzero_si512());
}

// 64 codes (four vectors of int32 in 0..15) packed two per byte, even elements high.
void storeCodes64(__m512i c0, __m512i c1, __m512i c2, __m512i c3, uint8_t* out) {
  const __m256i low = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(c0)), _mm512_cvtepi32_epi8(c1), 1);
  const __m256i high = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(c2)), _mm512_cvtepi32_epi8(c3), 1);
  const __m512i bytes = _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
  const __m512i pairs = _mm512_maddubs_epi16(bytes, _mm512_set1_epi16(0x0110));  // 16 * even + odd
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi16_epi8(pairs));
}

// quantizeBlockReference for Q a multiple of 16, in groups of 16 buckets: their minima and
// maxima side by side in one vector, so the ranges, units and the constant test are vector
// operations too. kQ as in dequantizeBlockAvx512. A bucket may hold NaNs only if `mayHaveNaN`;
// then (and for other Q) the AVX2 pass runs. Asks `ahead` for about `linesWanted` lines.
template <uint32_t kQ>
void quantizeBlockAvx512(const float* a, const BlockErrors& e, bool mayHaveNaN, uint8_t* codeScratch,
                         LinePrefetcher& ahead, uint32_t linesWanted) {
  if (e.q % 16 != 0 || mayHaveNaN) return quantizeBlockAvx2<kQ>(a, e, mayHaveNaN, codeScratch, ahead, linesWanted);
  const uint32_t q = kQ != 0 ? kQ : e.q;
  const uint32_t groupSize = 16 * q;
  const uint32_t groupEnd = e.count / groupSize * groupSize;
  const uint32_t groups = groupEnd / groupSize;
  const uint32_t linesPerGroup = groups != 0 ? (linesWanted + groups - 1) / groups : 0;
  if (groups == 0) ahead.ask(linesWanted);
  const __m512 fifteen = _mm512_set1_ps(15.0f);
  const __m512i exponent = _mm512_set1_epi32(0x7F800000);
  for (uint32_t group = 0; group < groupEnd; group += groupSize) {
    ahead.ask(linesPerGroup);
    const float* values = a + group;
    __m512 minima[16], maxima[16];
    for (uint32_t j = 0; j < 16; ++j) {
      const float* bucketValues = values + j * q;
      __m512 low = _mm512_load_ps(bucketValues), high = low;
      for (uint32_t i = 16; i < q; i += 16) {
        const __m512 x = _mm512_load_ps(bucketValues + i);
        low = _mm512_min_ps(x, low);
        high = _mm512_max_ps(x, high);
      }
      minima[j] = low;
      maxima[j] = high;
    }
    __m512 minimum = reduceEach16<minOf16>(minima);
    __m512 maximum = reduceEach16<maxOf16>(maxima);
    // Float min/max do not order -0 and +0; where a range ends at zero, look for the sign.
    const __m512 zero = _mm512_setzero_ps();
    const __mmask16 zeroEnds =
        _mm512_cmp_ps_mask(minimum, zero, _CMP_EQ_OQ) | _mm512_cmp_ps_mask(maximum, zero, _CMP_EQ_OQ);
    if (zeroEnds != 0) {
      alignas(64) float low[16], high[16];
      _mm512_store_ps(low, minimum);
      _mm512_store_ps(high, maximum);
      for (uint32_t j = 0; j < 16; ++j) {
        if (!(zeroEnds & (1u << j))) continue;
        bool negativeZero = false, positiveZero = false;
        for (uint32_t i = 0; i < q; ++i) {
          negativeZero |= floatBits(values[j * q + i]) == 0x80000000u;
          positiveZero |= floatBits(values[j * q + i]) == 0;
        }
        if (low[j] == 0.0f) low[j] = negativeZero ? -0.0f : 0.0f;
        if (high[j] == 0.0f) high[j] = positiveZero ? 0.0f : -0.0f;
      }
      minimum = _mm512_load_ps(low);
      maximum = _mm512_load_ps(high);
    }
    const __m512i lo = bf16RoundDownAvx512(_mm512_castps_si512(minimum));
    const __m512i hi = bf16RoundUpAvx512(_mm512_castps_si512(maximum));
    const uint32_t firstBucket = group / q;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(e.errorMin + firstBucket), _mm512_cvtepi32_epi16(lo));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(e.errorMax + firstBucket), _mm512_cvtepi32_epi16(hi));
    const __m512 low = _mm512_castsi512_ps(_mm512_slli_epi32(lo, 16));
    const __m512 high = _mm512_castsi512_ps(_mm512_slli_epi32(hi, 16));
    const __m512 unit = _mm512_div_ps(_mm512_sub_ps(high, low), fifteen);
    const __mmask16 notFinite = _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(unit), exponent), exponent);
    // A constant bucket divides by NaN instead: NaN codes become 0 like the reference's zeros.
    const __mmask16 constant = _mm512_cmp_ps_mask(high, low, _CMP_EQ_OQ) | notFinite;
    alignas(64) float lows[16], units[16];
    _mm512_store_ps(lows, low);
    _mm512_store_ps(units, _mm512_mask_mov_ps(unit, constant, _mm512_set1_ps(__builtin_nanf(""))));
    uint8_t* codes = e.codes + group / 2;
    if (q % 64 == 0) {
      for (uint32_t j = 0; j < 16; ++j) {
        const __m512 bucketLow = _mm512_set1_ps(lows[j]), bucketUnit = _mm512_set1_ps(units[j]);
        for (uint32_t i = j * q; i < (j + 1) * q; i += 64)
          storeCodes64(codesOf16(values + i, bucketLow, bucketUnit), codesOf16(values + i + 16, bucketLow, bucketUnit),
                       codesOf16(values + i + 32, bucketLow, bucketUnit), codesOf16(values + i + 48, bucketLow, bucketUnit),
                       codes + i / 2);
      }
    } else {
      // Four vectors at a time, each in one bucket (16 buckets of Q = 16k hold a multiple of 64).
      const uint32_t vectorsPerBucket = q / 16;
      uint32_t bucket = 0, left = vectorsPerBucket;
      auto codeOf = [&](uint32_t i) {
        if (left == 0) {
          ++bucket;
          left = vectorsPerBucket;
        }
        --left;
        return codesOf16(values + i, _mm512_set1_ps(lows[bucket]), _mm512_set1_ps(units[bucket]));
      };
      for (uint32_t i = 0; i < groupSize; i += 64) {
        const __m512i c0 = codeOf(i), c1 = codeOf(i + 16), c2 = codeOf(i + 32), c3 = codeOf(i + 48);
        storeCodes64(c0, c1, c2, c3, codes + i / 2);
      }
    }
  }
  // The buckets after the last group of 16.
  for (uint32_t offset = groupEnd, b = groupEnd / q; offset < e.count; offset += q, ++b) {
    const uint32_t size = e.count - offset < q ? e.count - offset : q;
    quantizeBucket(a + offset, size, e.codes + offset / 2, e.errorMin + b, e.errorMax + b, codeScratch);
  }
}


// The AVX-512 build's passes: Avx2Passes with the passes above where they apply (steps 1, 2's
// ranking and 3). Steps 4 to 7 are Avx2Passes's: AVX-512 versions of them by gather and scatter
// (window moments sixteen slots at a time, the sparse param write; commit d2ff55b) retired fewer
// instructions (5.67 per element against 9.89 on the benchmark's gradients) but made the
// 16M step about a quarter slower on the AMD EPYC (Zen-5-class) this was measured on, where
// vpscatterdd is microcoded: 22.4 ms against 17.7 ms, one thread, 2026-12-05, in the same run
// (docs/benchmarks.md, "What the AVX-512 path does").
struct Avx512Passes : Avx2Passes {
  // Step 1 for Q a multiple of 16 (else Avx2Passes's); asks for a quarter of the lines ahead
  // while it runs. With a threshold, also lists the candidates (scratch.candidates).
  template <Dtype G>
  static DequantizedBlock dequantize(const typename Element<G>::Storage* grads, const BlockErrors& e,
                                     uint32_t threshold, LinePrefetcher& ahead, BlockScratch& scratch) {
    if (e.q % 16 != 0) return Avx2Passes::dequantize<G>(grads, e, threshold, ahead, scratch);
    float* a = scratch.values.data();
    float* units = scratch.bucketUnits.data();
    float* lows = scratch.bucketLows.data();
    uint64_t* marks = scratch.marks.data();
    uint32_t* candidates = scratch.candidates.data();
    const uint32_t chunks = e.count / 64;
    const uint32_t linesPerChunk = chunks != 0 ? (ahead.left() / 4 + chunks - 1) / chunks : 0;
    if constexpr (G == Dtype::F16) {
      // f16 is widened element by element (the reference's conversion), then stepped as f32.
      for (uint32_t i = 0; i < e.count; ++i) a[i] = Element<G>::load(grads, i);
      return threshold != 0
                 ? dequantizeBlockAvx512<Dtype::F32, 0, true>(a, e, threshold, a, marks, units, lows, ahead, linesPerChunk, candidates)
                 : dequantizeBlockAvx512<Dtype::F32, 0>(a, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    } else if (e.q == 64) {
      return threshold != 0
                 ? dequantizeBlockAvx512<G, 64, true>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk, candidates)
                 : dequantizeBlockAvx512<G, 64>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    } else {
      return threshold != 0
                 ? dequantizeBlockAvx512<G, 0, true>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk, candidates)
                 : dequantizeBlockAvx512<G, 0>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    }
  }

  static uint32_t markMagnitudes(const float* a, uint32_t count, uint32_t threshold, uint64_t* marks) {
    return markMagnitudesAvx512(a, count, threshold, marks);
  }

  static void rankCandidates(const float* a, const uint32_t* candidates, uint32_t n, uint64_t* ranked) {
    rankCandidatesAvx512(a, candidates, n, ranked);
  }

  // Step 3; asks for half of the lines it has left.
  static void quantize(const float* a, const BlockErrors& e, bool mayHaveNaN, LinePrefetcher& ahead,
                       uint8_t* codeScratch) {
    const uint32_t lines = ahead.left() / 2;
    if (e.q == 64)
      quantizeBlockAvx512<64>(a, e, mayHaveNaN, codeScratch, ahead, lines);
    else
      quantizeBlockAvx512<0>(a, e, mayHaveNaN, codeScratch, ahead, lines);
  }
};

}  // namespace
}  // namespace microadam
