// Block-wise Top-K (docs/algorithm.md, step 2): the `keep` largest magnitude keys of a block,
// ties to the smaller index, reported in ascending index order. CPU reference of the CUDA Top-K.
//
// One histogram pass over the top 11 bits of the keys (exponent and 3 mantissa bits) finds the
// bin holding the keep-th largest key; everything in higher bins is selected, and only that
// bin's members (a few dozen for real gradients) are ranked exactly. Every element is read
// about once, with no sort of the block.
#pragma once

#include <cstdint>

#include "numeric.h"

namespace microadam {

constexpr int kTopkBinShift = 20;
constexpr uint32_t kTopkBins = (kNanKey >> kTopkBinShift) + 1;
constexpr uint32_t kTopkNearBins = 63;  // 8 octaves below the largest key, 8 bins per octave
// Counters selectTopk needs: 4 near sub-histograms and one full histogram.
constexpr uint32_t kTopkHistogramSize = 4 * (kTopkNearBins + 1) + kTopkBins;

struct TopkScratch {
  uint32_t* histogram;   // kTopkHistogramSize
  uint16_t* candidates;  // block size
  uint64_t* ranked;      // block size
};

// Rank of an element inside its bin: larger key first, then smaller index first.
MA_HOST_DEVICE uint64_t topkRank(uint32_t key, uint32_t index) { return (uint64_t(key) << 32) | (0xFFFFFFFFu - index); }

// Moves the `nth` largest of values[0..count) to position nth (0-based), with every larger value
// before it (Hoare quickselect). Written here rather than std::nth_element so each compiled
// variant of the kernel keeps its own copy (see numeric.h).
MA_HOST_DEVICE void selectNthLargest(uint64_t* values, uint32_t count, uint32_t nth) {
  uint32_t left = 0, right = count - 1;
  while (right > left) {
    const uint32_t middle = left + (right - left) / 2;
    // Median of three as the pivot keeps sorted and equal inputs linear.
    uint64_t a = values[left], b = values[middle], c = values[right];
    const uint64_t pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
    uint32_t i = left, j = right;
    while (i <= j) {
      while (values[i] > pivot) ++i;
      while (values[j] < pivot) --j;
      if (i <= j) {
        const uint64_t t = values[i];
        values[i] = values[j];
        values[j] = t;
        ++i;
        if (j == 0) break;
        --j;
      }
    }
    if (nth <= j) {
      right = j;
    } else if (nth >= i) {
      left = i;
    } else {
      return;
    }
  }
}

// Writes the indices of the selected elements, ascending, to `selected`; returns how many
// (= keep). `maxKey` is the largest key of the block.
MA_HOST_DEVICE uint32_t selectTopk(const uint32_t* keys, uint32_t count, uint32_t keep, uint32_t maxKey,
                                   const TopkScratch& s, uint16_t* selected) {
  if (keep >= count) {
    for (uint32_t i = 0; i < count; ++i) selected[i] = uint16_t(i);
    return count;
  }
  // Histogram of the bins near the top only: the keep-th largest key of a real gradient block
  // lies within a few octaves of the largest, so keys further down are counted in one floor
  // bin. Four interleaved sub-histograms keep runs of keys in the same bin from serializing on
  // one counter. If the floor bin turns out to hold the keep-th key, count again in full.
  const uint32_t topBin = maxKey >> kTopkBinShift;
  const uint32_t floorBin = topBin > kTopkNearBins ? topBin - kTopkNearBins : 0;
  uint32_t* sub = s.histogram;  // 4 x (kTopkNearBins + 1) counters, indexed by bin - floorBin
  constexpr uint32_t kStride = kTopkNearBins + 1;
  for (uint32_t b = 0; b < 4 * kStride; ++b) sub[b] = 0;
  uint32_t h = 0;
  for (; h + 4 <= count; h += 4)
    for (uint32_t lane = 0; lane < 4; ++lane) {
      const uint32_t keyBin = keys[h + lane] >> kTopkBinShift;
      ++sub[lane * kStride + (keyBin > floorBin ? keyBin - floorBin : 0)];
    }
  for (; h < count; ++h) {
    const uint32_t keyBin = keys[h] >> kTopkBinShift;
    ++sub[keyBin > floorBin ? keyBin - floorBin : 0];
  }
  auto binCount = [&](uint32_t b) {
    const uint32_t r = b - floorBin;
    return sub[r] + sub[kStride + r] + sub[2 * kStride + r] + sub[3 * kStride + r];
  };
  uint32_t above = 0, bin = topBin;
  while (bin > floorBin && above + binCount(bin) < keep) above += binCount(bin--);
  if (bin == floorBin && floorBin > 0) {
    // The keep-th key is far below the largest: full histogram from the floor bin down.
    uint32_t* full = s.histogram + 4 * kStride;
    for (uint32_t b = 0; b <= floorBin; ++b) full[b] = 0;
    for (uint32_t j = 0; j < count; ++j) {
      const uint32_t keyBin = keys[j] >> kTopkBinShift;
      if (keyBin <= floorBin) ++full[keyBin];
    }
    while (above + full[bin] < keep) above += full[bin--];
  }
  const uint32_t needFromBin = keep - above;

  // Candidates: keys in the found bin or above. Most chunks of 16 hold none, and the test for
  // "any in this chunk" vectorizes.
  const uint32_t lowestCandidate = bin << kTopkBinShift;
  uint32_t candidateCount = 0, rankedCount = 0;
  auto visit = [&](uint32_t i) {
    const uint32_t keyBin = keys[i] >> kTopkBinShift;
    if (keyBin < bin) return;
    s.candidates[candidateCount++] = uint16_t(i);
    if (keyBin == bin) s.ranked[rankedCount++] = topkRank(keys[i], i);
  };
  constexpr uint32_t kChunk = 16;
  uint32_t i = 0;
  for (; i + kChunk <= count; i += kChunk) {
    uint32_t any = 0;
    for (uint32_t j = 0; j < kChunk; ++j) any |= uint32_t(keys[i + j] >= lowestCandidate);
    if (any)
      for (uint32_t j = 0; j < kChunk; ++j) visit(i + j);
  }
  for (; i < count; ++i) visit(i);
  selectNthLargest(s.ranked, rankedCount, needFromBin - 1);
  const uint64_t lowestTaken = s.ranked[needFromBin - 1];

  uint32_t written = 0;
  for (uint32_t c = 0; c < candidateCount; ++c) {
    const uint32_t i = s.candidates[c];
    if ((keys[i] >> kTopkBinShift) > bin || topkRank(keys[i], i) >= lowestTaken) selected[written++] = uint16_t(i);
  }
  return written;
}

}  // namespace microadam
