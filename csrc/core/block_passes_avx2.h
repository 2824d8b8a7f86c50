// The block passes of block_passes.h with AVX2 intrinsics, each beside the reference it matches,
// and Avx2Passes, the policy of the AVX2 build of the kernel (block_kernel_avx2.cpp: AVX2
// without FMA). Same operations in the same order on each element, eight at a time, so the bits
// are those of the reference; shapes the vectors do not cover (Q not a multiple of 8, a partial
// last bucket, f16 gradients, NaNs in a bucket) go to the reference code. Internal linkage, as
// everything the kernel builds include (see numeric.h).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "block_passes.h"
#include "block_prefetch.h"

namespace microadam {
namespace {

// u_b and lo_b (as float) for buckets [0, buckets), eight at a time: bucketUnit in vectors.
void bucketUnitsAvx2(const BlockErrors& e, uint32_t buckets, float* units, float* lows) {
  const __m256 fifteen = _mm256_set1_ps(15.0f);
  const __m256i exponent = _mm256_set1_epi32(0x7F800000);
  uint32_t b = 0;
  for (; b + 8 <= buckets; b += 8) {
    const __m256i lo = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(e.errorMin + b)));
    const __m256i hi = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(e.errorMax + b)));
    const __m256 low = _mm256_castsi256_ps(_mm256_slli_epi32(lo, 16));
    const __m256 high = _mm256_castsi256_ps(_mm256_slli_epi32(hi, 16));
    const __m256 unit = _mm256_div_ps(_mm256_sub_ps(high, low), fifteen);
    const __m256i notFinite = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(unit), exponent), exponent);
    _mm256_storeu_ps(units + b, _mm256_andnot_ps(_mm256_castsi256_ps(notFinite), unit));
    _mm256_storeu_ps(lows + b, low);
  }
  for (; b < buckets; ++b) {
    units[b] = bucketUnit(e.errorMin[b], e.errorMax[b]);
    lows[b] = bf16ToFloat(e.errorMin[b]);
  }
}

template <Dtype G>
__m256 loadGrads8(const typename Element<G>::Storage* grads, uint32_t i);

template <>
__m256 loadGrads8<Dtype::F32>(const float* grads, uint32_t i) {
  return _mm256_loadu_ps(grads + i);
}

template <>
__m256 loadGrads8<Dtype::BF16>(const uint16_t* grads, uint32_t i) {
  const __m256i bits = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(grads + i)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(bits, 16));
}

// Eight elements of step 1 (a = g + code * unit + low); returns their candidate marks.
template <Dtype G>
struct DequantizeLanes {
  const typename Element<G>::Storage* __restrict__ grads;
  float* __restrict__ a;
  __m256i magnitudeMask, below, maxMagnitude;

  uint64_t run(uint32_t i, __m256i code, __m256 unit, __m256 low) {
    const __m256 deq = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(code), unit), low);
    const __m256 x = _mm256_add_ps(loadGrads8<G>(grads, i), deq);
    _mm256_store_ps(a + i, x);
    const __m256i magnitude = _mm256_and_si256(_mm256_castps_si256(x), magnitudeMask);
    maxMagnitude = _mm256_max_epi32(maxMagnitude, magnitude);
    return uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(magnitude, below))));
  }
};

// dequantizeBlockReference, 64 elements (one mark word, 32 code bytes) at a time. kQ is Q when
// known at compile time (64, the default), else 0. Asks `ahead` for `linesPerChunk` lines per
// 64 elements.
template <Dtype G, uint32_t kQ>
DequantizedBlock dequantizeBlockAvx2(const typename Element<G>::Storage* grads, const BlockErrors& e,
                                     uint32_t threshold, float* a, uint64_t* __restrict__ marks, float* units,
                                     float* lows, LinePrefetcher& ahead, uint32_t linesPerChunk) {
  const uint32_t count = e.count, q = kQ != 0 ? kQ : e.q;
  const uint8_t* __restrict__ codes = e.codes;
  const uint32_t buckets = (count + q - 1) / q;
  bucketUnitsAvx2(e, buckets, units, lows);
  DequantizeLanes<G> lanes{grads, a, _mm256_set1_epi32(0x7FFFFFFF), _mm256_set1_epi32(int32_t(threshold) - 1),
                           _mm256_setzero_si256()};
  const __m256i lowNibble = _mm256_set1_epi8(0x0F);
  const uint32_t vectorEnd = count & ~63u;
  const bool bucketPerChunk = q % 64 == 0;
  uint32_t bucket = 0, bucketEnd = q, marked = 0;
  for (uint32_t chunk = 0; chunk < vectorEnd; chunk += 64) {
    ahead.ask(linesPerChunk);
    // Codes 0-15 and 32-47 in `first`, 16-31 and 48-63 in `second` (unpack works per 128 bits).
    const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + chunk / 2));
    const __m256i low = _mm256_and_si256(packed, lowNibble);
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), lowNibble);
    const __m256i first = _mm256_unpacklo_epi8(high, low);
    const __m256i second = _mm256_unpackhi_epi8(high, low);
    const __m128i run[8] = {_mm256_castsi256_si128(first),
                            _mm_srli_si128(_mm256_castsi256_si128(first), 8),
                            _mm256_castsi256_si128(second),
                            _mm_srli_si128(_mm256_castsi256_si128(second), 8),
                            _mm256_extracti128_si256(first, 1),
                            _mm_srli_si128(_mm256_extracti128_si256(first, 1), 8),
                            _mm256_extracti128_si256(second, 1),
                            _mm_srli_si128(_mm256_extracti128_si256(second, 1), 8)};
    uint64_t word = 0;
    if (bucketPerChunk) {
      if (kQ == 64) {
        bucket = chunk / 64;
      } else if (chunk == bucketEnd) {
        ++bucket;
        bucketEnd += q;
      }
      const __m256 unit = _mm256_set1_ps(units[bucket]), low = _mm256_set1_ps(lows[bucket]);
      for (uint32_t v = 0; v < 8; ++v) word |= lanes.run(chunk + 8 * v, _mm256_cvtepu8_epi32(run[v]), unit, low) << (8 * v);
    } else {
      for (uint32_t v = 0; v < 8; ++v) {
        const uint32_t i = chunk + 8 * v;
        if (i == bucketEnd) {  // Q is a multiple of 8: a vector never straddles two buckets
          ++bucket;
          bucketEnd += q;
        }
        word |= lanes.run(i, _mm256_cvtepu8_epi32(run[v]), _mm256_set1_ps(units[bucket]), _mm256_set1_ps(lows[bucket]))
                << (8 * v);
      }
    }
    marks[chunk / 64] = word;
    marked += uint32_t(__builtin_popcountll(word));
  }
  alignas(32) uint32_t maxLanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(maxLanes), lanes.maxMagnitude);
  DequantizedBlock result{0, 0};
  for (uint32_t lane : maxLanes) result.maxMagnitude = lane > result.maxMagnitude ? lane : result.maxMagnitude;
  // The last, partial mark word, element by element.
  if (vectorEnd < count) {
    uint64_t word = 0;
    for (uint32_t i = vectorEnd; i < count; ++i) {
      const uint32_t b = i / q;
      a[i] = Element<G>::load(grads, i) + (float(readCode(codes, i)) * units[b] + lows[b]);
      const uint32_t magnitude = floatBits(a[i]) & 0x7FFFFFFFu;
      result.maxMagnitude = magnitude > result.maxMagnitude ? magnitude : result.maxMagnitude;
      word |= uint64_t(magnitude >= threshold) << (i - vectorEnd);
    }
    marks[vectorEnd / 64] = word;
    marked += uint32_t(__builtin_popcountll(word));
  }
  result.marked = threshold != 0 ? marked : 0;
  return result;
}

// markMagnitudesReference, 64 elements (one mark word) at a time.
uint32_t markMagnitudesAvx2(const float* a, uint32_t count, uint32_t threshold, uint64_t* marks) {
  const __m256i magnitudeMask = _mm256_set1_epi32(0x7FFFFFFF), below = _mm256_set1_epi32(int32_t(threshold) - 1);
  const uint32_t vectorEnd = count & ~63u;
  uint32_t marked = 0;
  for (uint32_t chunk = 0; chunk < vectorEnd; chunk += 64) {
    uint64_t word = 0;
    for (uint32_t v = 0; v < 8; ++v) {
      const __m256i magnitude = _mm256_and_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(a + chunk + 8 * v)), magnitudeMask);
      word |= uint64_t(uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(magnitude, below))))) << (8 * v);
    }
    marks[chunk / 64] = word;
    marked += uint32_t(__builtin_popcountll(word));
  }
  if (vectorEnd < count) marked += markMagnitudesReference(a + vectorEnd, count - vectorEnd, threshold, marks + vectorEnd / 64);
  return marked;
}

__m256 minOf(__m256 x, __m256 y) { return _mm256_min_ps(x, y); }
__m256 maxOf(__m256 x, __m256 y) { return _mm256_max_ps(x, y); }

// Lane j of the result: op over v[j]'s eight lanes (minOf or maxOf).
template <__m256 (*op)(__m256, __m256)>
__m256 reduceEach8(const __m256* v) {
  const __m256 a01 = op(_mm256_unpacklo_ps(v[0], v[1]), _mm256_unpackhi_ps(v[0], v[1]));
  const __m256 a23 = op(_mm256_unpacklo_ps(v[2], v[3]), _mm256_unpackhi_ps(v[2], v[3]));
  const __m256 a45 = op(_mm256_unpacklo_ps(v[4], v[5]), _mm256_unpackhi_ps(v[4], v[5]));
  const __m256 a67 = op(_mm256_unpacklo_ps(v[6], v[7]), _mm256_unpackhi_ps(v[6], v[7]));
  const __m256 b0123 = op(_mm256_shuffle_ps(a01, a23, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(a01, a23, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 b4567 = op(_mm256_shuffle_ps(a45, a67, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(a45, a67, _MM_SHUFFLE(3, 2, 3, 2)));
  return op(_mm256_permute2f128_ps(b0123, b4567, 0x20), _mm256_permute2f128_ps(b0123, b4567, 0x31));
}

// bf16RoundDown / bf16RoundUp (numeric.h) on eight float bit patterns (not NaN).
__m256i saturateBf16Avx2(__m256i r) {
  const __m256i isInf = _mm256_cmpeq_epi32(_mm256_and_si256(r, _mm256_set1_epi32(0x7FFF)), _mm256_set1_epi32(0x7F80));
  const __m256i saturated = _mm256_or_si256(_mm256_and_si256(r, _mm256_set1_epi32(0x8000)), _mm256_set1_epi32(kBf16MaxFinite));
  return _mm256_blendv_epi8(r, saturated, isInf);
}

__m256i bf16RoundDownAvx2(__m256i x) {
  const __m256i exact = _mm256_cmpeq_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0xFFFF)), _mm256_setzero_si256());
  const __m256i negative = _mm256_srai_epi32(x, 31);
  return saturateBf16Avx2(_mm256_sub_epi32(_mm256_srli_epi32(x, 16), _mm256_andnot_si256(exact, negative)));
}

__m256i bf16RoundUpAvx2(__m256i x) {
  const __m256i exact = _mm256_cmpeq_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0xFFFF)), _mm256_setzero_si256());
  const __m256i negative = _mm256_srai_epi32(x, 31);
  const __m256i up = _mm256_andnot_si256(_mm256_or_si256(exact, negative), _mm256_set1_epi32(-1));
  return saturateBf16Avx2(_mm256_sub_epi32(_mm256_srli_epi32(x, 16), up));
}

// Codes of 32 elements (four vectors of int32 codes, any int32 outside 0..15 already clamped
// to 15 above, negative or INT_MIN below) packed two per byte, even elements high.
void storeCodes32(__m256i c0, __m256i c1, __m256i c2, __m256i c3, uint8_t* out) {
  // Signed then unsigned saturation turns everything below 0 into 0.
  const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(c0, c1), _mm256_packs_epi32(c2, c3));
  const __m256i ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  const __m256i pairs = _mm256_maddubs_epi16(ordered, _mm256_set1_epi16(0x0110));  // 16 * even + odd
  const __m128i packed = _mm_packus_epi16(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), packed);
}

// Codes of one vector: clamp(floor((a - low) / unit + 0.5), 0, 15) as in clampedCode, but
// only clamped above: what falls below 0 (NaN included) is sent to 0 by storeCodes32.
__m256i codesOf8(const float* values, __m256 low, __m256 unit) {
  const __m256 x = _mm256_add_ps(_mm256_div_ps(_mm256_sub_ps(_mm256_load_ps(values), low), unit), _mm256_set1_ps(0.5f));
  // min(15, x) keeps a NaN x (the reference's x > 0 test sends it to 0, as the packing does).
  return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_set1_ps(15.0f), x));
}

// quantizeBlockReference in groups of 8 buckets: their minima and maxima side by side in one
// vector, so the ranges, units and the constant test are vector operations too. kQ as in
// dequantizeBlockAvx2. A bucket may hold NaNs only if `mayHaveNaN`; then (and for the other
// shapes) the reference runs. Asks `ahead` for about `linesWanted` lines, spread over the groups.
template <uint32_t kQ>
void quantizeBlockAvx2(const float* a, const BlockErrors& e, bool mayHaveNaN, uint8_t* codeScratch,
                       LinePrefetcher& ahead, uint32_t linesWanted) {
  if (e.q % 8 != 0 || mayHaveNaN) {
    ahead.ask(linesWanted);
    return quantizeBlockReference(a, e, codeScratch);
  }
  const uint32_t q = kQ != 0 ? kQ : e.q;
  const uint32_t groupSize = 8 * q;
  const uint32_t groupEnd = e.count / groupSize * groupSize;
  const uint32_t groups = groupEnd / groupSize;
  const uint32_t linesPerGroup = groups != 0 ? (linesWanted + groups - 1) / groups : 0;
  if (groups == 0) ahead.ask(linesWanted);
  const uint32_t vectorsPerBucket = q / 8;
  const bool wholeChunks = q % 64 == 0;
  const __m256 fifteen = _mm256_set1_ps(15.0f);
  const __m256i exponent = _mm256_set1_epi32(0x7F800000);
  for (uint32_t group = 0; group < groupEnd; group += groupSize) {
    ahead.ask(linesPerGroup);
    const float* values = a + group;
    __m256 minima[8], maxima[8];
    for (uint32_t j = 0; j < 8; ++j) {
      const float* bucketValues = values + j * q;
      __m256 low = _mm256_set1_ps(__builtin_inff()), high = _mm256_set1_ps(-__builtin_inff());
      if (wholeChunks) {
        __m256 low2 = low, high2 = high;
        for (uint32_t i = 0; i < q; i += 64)
          for (uint32_t v = 0; v < 8; v += 2) {
            const __m256 x = _mm256_load_ps(bucketValues + i + 8 * v), y = _mm256_load_ps(bucketValues + i + 8 * v + 8);
            low = _mm256_min_ps(x, low);
            high = _mm256_max_ps(x, high);
            low2 = _mm256_min_ps(y, low2);
            high2 = _mm256_max_ps(y, high2);
          }
        low = _mm256_min_ps(low2, low);
        high = _mm256_max_ps(high2, high);
      } else {
        for (uint32_t v = 0; v < vectorsPerBucket; ++v) {
          const __m256 x = _mm256_load_ps(bucketValues + 8 * v);
          low = _mm256_min_ps(x, low);
          high = _mm256_max_ps(x, high);
        }
      }
      minima[j] = low;
      maxima[j] = high;
    }
    __m256 minimum = reduceEach8<minOf>(minima);
    __m256 maximum = reduceEach8<maxOf>(maxima);
    // Float min/max do not order -0 and +0; where a range ends at zero, look for the sign.
    const __m256 zero = _mm256_setzero_ps();
    const int zeroEnds = _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(minimum, zero, _CMP_EQ_OQ), _mm256_cmp_ps(maximum, zero, _CMP_EQ_OQ)));
    if (zeroEnds != 0) {
      alignas(32) float low[8], high[8];
      _mm256_store_ps(low, minimum);
      _mm256_store_ps(high, maximum);
      for (uint32_t j = 0; j < 8; ++j) {
        if (!(zeroEnds & (1 << j))) continue;
        bool negativeZero = false, positiveZero = false;
        for (uint32_t i = 0; i < q; ++i) {
          negativeZero |= floatBits(values[j * q + i]) == 0x80000000u;
          positiveZero |= floatBits(values[j * q + i]) == 0;
        }
        if (low[j] == 0.0f) low[j] = negativeZero ? -0.0f : 0.0f;
        if (high[j] == 0.0f) high[j] = positiveZero ? 0.0f : -0.0f;
      }
      minimum = _mm256_load_ps(low);
      maximum = _mm256_load_ps(high);
    }
    const __m256i lo = bf16RoundDownAvx2(_mm256_castps_si256(minimum));
    const __m256i hi = bf16RoundUpAvx2(_mm256_castps_si256(maximum));
    const uint32_t firstBucket = group / q;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(e.errorMin + firstBucket),
                     _mm_packus_epi32(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(e.errorMax + firstBucket),
                     _mm_packus_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1)));
    const __m256 low = _mm256_castsi256_ps(_mm256_slli_epi32(lo, 16));
    const __m256 high = _mm256_castsi256_ps(_mm256_slli_epi32(hi, 16));
    const __m256 unit = _mm256_div_ps(_mm256_sub_ps(high, low), fifteen);
    const __m256i notFinite = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(unit), exponent), exponent);
    // A constant bucket divides by NaN instead: NaN codes become 0 like the reference's zeros.
    const __m256 constant = _mm256_or_ps(_mm256_cmp_ps(high, low, _CMP_EQ_OQ), _mm256_castsi256_ps(notFinite));
    alignas(32) float lows[8], units[8];
    _mm256_store_ps(lows, low);
    _mm256_store_ps(units, _mm256_blendv_ps(unit, _mm256_set1_ps(__builtin_nanf("")), constant));
    uint8_t* codes = e.codes + group / 2;
    if (wholeChunks) {
      for (uint32_t j = 0; j < 8; ++j) {
        const __m256 bucketLow = _mm256_set1_ps(lows[j]), bucketUnit = _mm256_set1_ps(units[j]);
        for (uint32_t i = j * q; i < (j + 1) * q; i += 32)
          storeCodes32(codesOf8(values + i, bucketLow, bucketUnit), codesOf8(values + i + 8, bucketLow, bucketUnit),
                       codesOf8(values + i + 16, bucketLow, bucketUnit), codesOf8(values + i + 24, bucketLow, bucketUnit),
                       codes + i / 2);
      }
    } else {
      // Four vectors at a time, each in one bucket.
      uint32_t bucket = 0, left = vectorsPerBucket;
      auto codeOf = [&](uint32_t i) {
        if (left == 0) {
          ++bucket;
          left = vectorsPerBucket;
        }
        --left;
        return codesOf8(values + i, _mm256_set1_ps(lows[bucket]), _mm256_set1_ps(units[bucket]));
      };
      for (uint32_t i = 0; i < groupSize; i += 32) {
        const __m256i c0 = codeOf(i), c1 = codeOf(i + 8), c2 = codeOf(i + 16), c3 = codeOf(i + 24);
        storeCodes32(c0, c1, c2, c3, codes + i / 2);
      }
    }
  }
  // The buckets after the last group of 8.
  for (uint32_t offset = groupEnd, b = groupEnd / q; offset < e.count; offset += q, ++b) {
    const uint32_t size = e.count - offset < q ? e.count - offset : q;
    quantizeBucket(a + offset, size, e.codes + offset / 2, e.errorMin + b, e.errorMax + b, codeScratch);
  }
}

// accumulateWindowCompact (window_moments.h) with each row's terms p1 * v and p2 * (v * v)
// computed eight slots at a time, side by side like M and W, into `terms` (2 * keep floats,
// rounded up to whole vectors): each slot is then one 8-byte add into `moments`. Asks `ahead`
// for what it has left, spread over the rows.
uint32_t accumulateWindowCompactAvx2(const WindowBlock& block, uint64_t step, uint32_t window, const float* beta1Powers,
                                     const float* beta2Powers, float* momentsOut, uint16_t* slotOfOut,
                                     uint16_t* namedOut, float* termsOut, LinePrefetcher& ahead) {
  // Local restrict copies: the scatter loop then keeps every pointer in a register.
  float* __restrict__ moments = momentsOut;
  uint16_t* __restrict__ slotOf = slotOfOut;
  uint16_t* __restrict__ named = namedOut;
  float* __restrict__ terms = termsOut;
  const uint32_t keep = block.keep;
  const uint64_t rows = step < window ? step : window;
  const uint32_t linesPerRow = uint32_t((ahead.left() + rows - 1) / rows);
  size_t listed = 0;
  uint32_t age = uint32_t((step - 1) % window);  // of row 0; one less for each later row
  for (uint64_t s = 0; s < rows; ++s, age = age == 0 ? window - 1 : age - 1) {
    const float p1 = beta1Powers[age];
    const float p2 = beta2Powers[age];
    const __m256 p1v = _mm256_set1_ps(p1), p2v = _mm256_set1_ps(p2);
    ahead.ask(linesPerRow);
    const uint16_t* __restrict__ indices = block.indices + s * block.rowStride;
    const uint16_t* __restrict__ values = block.values + s * block.rowStride;
    uint32_t slot = 0;
    for (; slot + 8 <= keep; slot += 8) {
      const __m256i bits = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values + slot)));
      const __m256 v = _mm256_castsi256_ps(_mm256_slli_epi32(bits, 16));
      const __m256 term1 = _mm256_mul_ps(p1v, v), term2 = _mm256_mul_ps(p2v, _mm256_mul_ps(v, v));
      const __m256 low = _mm256_unpacklo_ps(term1, term2), high = _mm256_unpackhi_ps(term1, term2);
      _mm256_store_ps(terms + 2 * slot, _mm256_permute2f128_ps(low, high, 0x20));
      _mm256_store_ps(terms + 2 * slot + 8, _mm256_permute2f128_ps(low, high, 0x31));
    }
    for (; slot < keep; ++slot) {
      const float v = bf16ToFloat(values[slot]);
      terms[2 * slot] = p1 * v;
      terms[2 * slot + 1] = p2 * (v * v);
    }
    const float* term = terms;
    for (const uint16_t* index = indices; index != indices + keep; ++index, term += 2) {
      const size_t idx = *index;
      const size_t known = slotOf[idx];
      const size_t n = known != 0 ? known - 1 : listed;
      slotOf[idx] = uint16_t(n + 1);
      named[listed] = uint16_t(idx);
      listed += size_t(known == 0);
      auto* pair = reinterpret_cast<__m128i*>(moments + 2 * n);
      const __m128 sum = _mm_add_ps(_mm_castsi128_ps(_mm_loadl_epi64(pair)),
                                    _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(term))));
      _mm_storel_epi64(pair, _mm_castps_si128(sum));
    }
  }
  return uint32_t(listed);
}

// namedDirectionsReference, eight slots at a time.
void namedDirectionsAvx2(uint32_t count, const float* moments, float c1, float c2, float eps, float* direction) {
  const __m256 c1v = _mm256_set1_ps(c1), c2v = _mm256_set1_ps(c2), epsv = _mm256_set1_ps(eps);
  uint32_t n = 0;
  for (; n + 8 <= count; n += 8) {
    // [M0 W0 M1 W1 | M2 W2 M3 W3] and [M4 W4 M5 W5 | M6 W6 M7 W7] unzipped.
    const __m256 front = _mm256_loadu_ps(moments + 2 * n), back = _mm256_loadu_ps(moments + 2 * n + 8);
    const __m256 moment1 = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(front, back, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    const __m256 moment2 = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(front, back, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
    _mm256_storeu_ps(direction + n, _mm256_div_ps(_mm256_mul_ps(c1v, moment1),
                                                  _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(c2v, moment2)), epsv)));
  }
  namedDirectionsReference(count - n, moments + 2 * n, c1, c2, eps, direction + n);
}

// The AVX2 build's passes: BaselinePasses with the passes above where they apply.
struct Avx2Passes : BaselinePasses {
  // Step 1 for Q a multiple of 8; asks for a quarter of the lines ahead while it runs.
  template <Dtype G>
  static DequantizedBlock dequantize(const typename Element<G>::Storage* grads, const BlockErrors& e,
                                     uint32_t threshold, LinePrefetcher& ahead, BlockScratch& scratch) {
    if (e.q % 8 != 0) return BaselinePasses::dequantize<G>(grads, e, threshold, ahead, scratch);
    float* a = scratch.values.data();
    float* units = scratch.bucketUnits.data();
    float* lows = scratch.bucketLows.data();
    uint64_t* marks = scratch.marks.data();
    const uint32_t chunks = e.count / 64;
    const uint32_t linesPerChunk = chunks != 0 ? (ahead.left() / 4 + chunks - 1) / chunks : 0;
    if constexpr (G == Dtype::F16) {
      // No F16C in this build: the gradient is widened element by element, then stepped as f32.
      for (uint32_t i = 0; i < e.count; ++i) a[i] = Element<G>::load(grads, i);
      return dequantizeBlockAvx2<Dtype::F32, 0>(a, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    } else if (e.q == 64) {
      return dequantizeBlockAvx2<G, 64>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    } else {
      return dequantizeBlockAvx2<G, 0>(grads, e, threshold, a, marks, units, lows, ahead, linesPerChunk);
    }
  }

  static uint32_t markMagnitudes(const float* a, uint32_t count, uint32_t threshold, uint64_t* marks) {
    return markMagnitudesAvx2(a, count, threshold, marks);
  }

  // Step 3; asks for half of the lines it has left.
  static void quantize(const float* a, const BlockErrors& e, bool mayHaveNaN, LinePrefetcher& ahead,
                       uint8_t* codeScratch) {
    const uint32_t lines = ahead.left() / 2;
    if (e.q == 64)
      quantizeBlockAvx2<64>(a, e, mayHaveNaN, codeScratch, ahead, lines);
    else
      quantizeBlockAvx2<0>(a, e, mayHaveNaN, codeScratch, ahead, lines);
  }

  // Step 4; asks for the rest of the lines, spread over the rows. Not inlined: inside
  // stepBlockWith the scatter loop lost registers, and the AVX2 step took 1.6% more
  // instructions (callgrind, 16K elements, 2 steps).
  [[gnu::noinline]] static uint32_t accumulateNamed(const WindowBlock& block, uint64_t step, uint32_t window, const StepScalars& s,
                                  LinePrefetcher& ahead, BlockScratch& scratch) {
    clearMomentSlots(block, step, window, scratch);
    return accumulateWindowCompactAvx2(block, step, window, s.beta1Powers.data(), s.beta2Powers.data(),
                                       scratch.moments.data(), scratch.slotOf.data(), scratch.named.data(),
                                       scratch.windowTerms.data(), ahead);
  }

  static void namedDirections(uint32_t count, const float* moments, const StepScalars& s, float* direction) {
    namedDirectionsAvx2(count, moments, s.c1, s.c2, s.eps, direction);
  }

  // As BaselinePasses's, with this policy's namedDirections.
  template <Dtype P>
  static void updateNamedParams(uint32_t count, const uint16_t* named, const float* moments, const StepScalars& s,
                                typename Element<P>::Storage* params, BlockScratch& scratch) {
    updateNamedParamsBy<Avx2Passes, P>(count, named, moments, s, params, scratch);
  }
};

}  // namespace
}  // namespace microadam
