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

// Indices i (ascending) with keys[i] >= lowestKey, into `candidates`. Stops early and returns
// limit + 1 when there are more than `limit`. Most chunks of 16 hold none, and the test for "any
// in this chunk" vectorizes.
MA_HOST_DEVICE uint32_t collectCandidates(const uint32_t* keys, uint32_t count, uint32_t lowestKey, uint32_t limit,
                                          uint16_t* candidates) {
  constexpr uint32_t kChunk = 16;
  uint32_t found = 0, i = 0;
  for (; i + kChunk <= count; i += kChunk) {
    uint32_t any = 0;
    for (uint32_t j = 0; j < kChunk; ++j) any |= uint32_t(keys[i + j] >= lowestKey);
    if (!any) continue;
    for (uint32_t j = 0; j < kChunk; ++j)
      if (keys[i + j] >= lowestKey) candidates[found++] = uint16_t(i + j);
    if (found > limit) return limit + 1;
  }
  for (; i < count; ++i)
    if (keys[i] >= lowestKey) candidates[found++] = uint16_t(i);
  return found > limit ? limit + 1 : found;
}

// The exact selection among candidates that include every element of the top `keep`: ranks
// them (key, then smaller index), keeps those at or above the keep-th rank, in ascending index
// order. Returns a hint for the next step: the key about 2 keep down the ranking (or the lowest
// candidate), so that next time the elements at or above it are, most likely, at least `keep`
// again: error feedback moves the top of a block from step to step.
MA_HOST_DEVICE uint32_t selectAmongCandidates(const uint32_t* keys, const uint16_t* candidates, uint32_t candidateCount,
                                              uint32_t keep, uint64_t* ranked, uint16_t* selected) {
  for (uint32_t c = 0; c < candidateCount; ++c) ranked[c] = topkRank(keys[candidates[c]], candidates[c]);
  selectNthLargest(ranked, candidateCount, keep - 1);
  const uint64_t lowestTaken = ranked[keep - 1];
  uint32_t hintKey = uint32_t(lowestTaken >> 32);
  if (candidateCount > keep) {
    const uint32_t below = candidateCount - keep;
    const uint32_t hintRank = (keep < below ? keep : below - 1);
    selectNthLargest(ranked + keep, below, hintRank);
    hintKey = uint32_t(ranked[keep + hintRank] >> 32);
  }
  uint32_t written = 0;
  for (uint32_t c = 0; c < candidateCount; ++c) {
    const uint32_t i = candidates[c];
    if (topkRank(keys[i], i) >= lowestTaken) selected[written++] = uint16_t(i);
  }
  return hintKey;
}

// Writes the indices of the selected elements, ascending, to `selected`; returns how many
// (= keep). `maxKey` is the largest key of the block. `hint` (in/out, 0 = none) is a key below
// the keep-th largest on the block's previous step: when at least `keep` and not too many keys
// reach it, those are the only candidates and no histogram is needed. The result is exact
// either way; the hint only saves work.
MA_HOST_DEVICE uint32_t selectTopk(const uint32_t* keys, uint32_t count, uint32_t keep, uint32_t maxKey,
                                   const TopkScratch& s, uint16_t* selected, uint32_t* hint) {
  if (keep >= count) {
    for (uint32_t i = 0; i < count; ++i) selected[i] = uint16_t(i);
    return count;
  }
  if (*hint != 0 && *hint <= maxKey) {
    const uint32_t limit = 8 * keep + 64;
    const uint32_t found = collectCandidates(keys, count, *hint, limit, s.candidates);
    if (found >= keep && found <= limit) {
      *hint = selectAmongCandidates(keys, s.candidates, found, keep, s.ranked, selected);
      return keep;
    }
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
  const uint32_t found = collectCandidates(keys, count, bin << kTopkBinShift, count, s.candidates);
  *hint = selectAmongCandidates(keys, s.candidates, found, keep, s.ranked, selected);
  return keep;
}

}  // namespace microadam
