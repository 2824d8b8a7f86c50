// Block-wise Top-K (docs/algorithm.md, step 2): the `keep` largest magnitude keys of a block,
// ties to the smaller index, reported in ascending index order. CPU reference of the CUDA Top-K.
//
// Candidates are marked in a bit set (bit i of word w: element 64w + i): every element whose key
// reaches a threshold that at least `keep` keys reach, so the marks hold the whole top `keep`.
// The threshold is the block's hint (a key from its previous step), checked by counting the
// marks; when too few keys reach it, one histogram pass over the top 11 bits of the keys
// (exponent and 3 mantissa bits) finds the bin holding the keep-th largest key instead (the
// block kernel first marks again a little lower, block_kernel.h). Only the marked elements
// (2 to 3 keep with the hint) are ranked exactly, by a histogram of their keys (selectMarked).
// The block kernel marks the candidates in the same pass that computes a, so with the hint every
// element is read once.
#pragma once

#include <cstdint>

#include "numeric.h"

namespace microadam {

constexpr int kTopkBinShift = 20;
constexpr uint32_t kTopkBins = (kNanKey >> kTopkBinShift) + 1;
constexpr uint32_t kTopkNearBins = 63;  // 8 octaves below the largest key, 8 bins per octave
// Counters selectTopk needs: 4 near sub-histograms and one full histogram.
constexpr uint32_t kTopkHistogramSize = 4 * (kTopkNearBins + 1) + kTopkBins;
// Mark words for the largest block (B <= 65536).
constexpr uint32_t kTopkMaxMarkWords = 65536 / 64;

struct TopkScratch {
  uint32_t* histogram;      // kTopkHistogramSize
  uint64_t* ranked;         // block size
  uint64_t* marks = nullptr;  // (block size + 63) / 64 words; null: selectTopk uses its stack
};

// Rank of an element inside its bin: larger key first, then smaller index first.
MA_HOST_DEVICE uint64_t topkRank(uint32_t key, uint32_t index) { return (uint64_t(key) << 32) | (0xFFFFFFFFu - index); }

MA_HOST_DEVICE uint32_t markWords(uint32_t count) { return (count + 63) / 64; }

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

// Marks the elements with keys[i] >= lowestKey; returns how many.
MA_HOST_DEVICE uint32_t markAtLeast(const uint32_t* keys, uint32_t count, uint32_t lowestKey, uint64_t* marks) {
  uint32_t found = 0;
  for (uint32_t w = 0; w < markWords(count); ++w) {
    const uint32_t begin = 64 * w;
    const uint32_t end = count - begin < 64 ? count : begin + 64;
    uint64_t word = 0;
    for (uint32_t i = begin; i < end; ++i) word |= uint64_t(keys[i] >= lowestKey) << (i - begin);
    marks[w] = word;
    found += uint32_t(__builtin_popcountll(word));
  }
  return found;
}

// The hint a block keeps between steps (an engine cache, not state): a key, with its low 4
// bits replaced by the rank it aimed at, in quarters of keep. The marks of the next step are
// the keys that reach the key; how many there turn out to be, against how many were aimed at,
// says how far the top of the block moved, and the next aim corrects for it: error feedback
// lifts the keys that were not taken from step to step, so with a steady gradient the hint
// from last step's ranking admits twice the elements it aimed at.
constexpr uint32_t kTopkAimMin = 3, kTopkAimMax = 15, kTopkAimFirst = 8;

MA_HOST_DEVICE uint32_t hintThreshold(uint32_t hint) { return hint & ~15u; }
MA_HOST_DEVICE uint32_t hintAim(uint32_t hint) { return hint & 15u; }

// The aim for the next hint: about 1.5 keep candidates expected next time. `marked` is how many
// keys reached the threshold of a hint that aimed at `aim` (0: there was no hint).
MA_HOST_DEVICE uint32_t nextTopkAim(uint32_t aim, uint32_t marked, uint32_t keep) {
  if (aim == 0) return kTopkAimFirst;
  if (marked < keep) return aim + 2 < kTopkAimMax ? aim + 2 : kTopkAimMax;
  const uint64_t next = (3 * uint64_t(aim) * keep + marked) / (2 * uint64_t(marked));
  return next < kTopkAimMin ? kTopkAimMin : next > kTopkAimMax ? kTopkAimMax : uint32_t(next);
}

constexpr uint32_t kTopkRankBinBits = 6;  // 64 bins over the candidates' keys
constexpr uint32_t kTopkSmallBoundary = 32;

// The exact selection among marked candidates that include every element of the top `keep`
// (so at least `keep` are marked, and every mark has a key >= `threshold`; `maxKey` is the
// largest key of the block): writes the top `keep` (key, then smaller index) in ascending index
// order to `selected`. keyOf(i) gives the key of element i. Returns the next hint, at about
// rank aim * keep / 4 of this step's keys.
//
// No sort and few unpredictable branches: a histogram of the candidates' keys (64 bins between
// threshold and maxKey) finds the bin holding the keep-th key; everything above it is taken;
// inside it the candidates are ranked exactly (a finer histogram first if many share it). The
// last pass takes every candidate whose rank reaches the cut, in index order. In two parts:
// rankMarked, then selectRanked.
//
// The ranks (topkRank) of the marked elements, in index order, into `ranked`; returns how
// many. In a whole word, up to four without a branch (once the word runs out, the last element
// of the word is read and written one past the candidates, where the next candidate lands),
// the rest of a denser word in a loop.
template <class KeyOf>
MA_HOST_DEVICE uint32_t rankMarked(KeyOf keyOf, const uint64_t* marks, uint32_t count, uint64_t* ranked) {
  uint32_t n = 0;
  for (uint32_t w = 0; w < markWords(count); ++w) {
    uint64_t bits = marks[w];
    for (uint32_t j = 0; j < 4 && 64 * (w + 1) <= count; ++j) {
      const uint32_t i = 64 * w + uint32_t(__builtin_ctzll(bits | (uint64_t(1) << 63)));
      ranked[n] = topkRank(keyOf(i), i);
      n += uint32_t(bits != 0);
      bits &= bits - 1;
    }
    for (; bits != 0; bits &= bits - 1) {
      const uint32_t i = 64 * w + uint32_t(__builtin_ctzll(bits));
      ranked[n++] = topkRank(keyOf(i), i);
    }
  }
  return n;
}

// selectMarked once the candidates are ranked: ranked[0..n) in index order.
MA_HOST_DEVICE uint32_t selectRanked(uint64_t* ranked, uint32_t n, uint32_t keep, uint32_t threshold, uint32_t maxKey,
                                     uint32_t aim, uint32_t* bins, uint16_t* selected) {
  // Bins of width 2^shift from `low`: the keep-th key is in bin `bin`, `above` keys above it.
  const uint32_t low = threshold;
  auto shiftFor = [](uint32_t range) {
    const uint32_t bits = range == 0 ? 0 : 32 - uint32_t(__builtin_clz(range));
    return bits > kTopkRankBinBits ? bits - kTopkRankBinBits : 0;
  };
  uint32_t shift = shiftFor(maxKey - low);
  for (uint32_t b = 0; b < (1u << kTopkRankBinBits); ++b) bins[b] = 0;
  for (uint32_t c = 0; c < n; ++c) ++bins[(uint32_t(ranked[c] >> 32) - low) >> shift];
  uint32_t bin = (maxKey - low) >> shift, above = 0;
  while (above + bins[bin] < keep) above += bins[bin--];
  // The hint: where aim * keep / 4 keys are reached, interpolated inside its bin, or
  // extrapolated below the lowest candidate when there are fewer.
  const uint32_t target = (aim * keep + 3) / 4;
  uint32_t reached = above + bins[bin], hintBin = bin;
  while (reached < target && hintBin > 0) reached += bins[--hintBin];
  uint32_t hintKey;
  if (reached >= target) {
    const uint64_t spare = reached - target;  // keys of the bin below the target rank
    hintKey = low + (hintBin << shift) + uint32_t((spare << shift) / bins[hintBin]);
  } else {
    const uint64_t spread = uint64_t(maxKey - low) * (target - n) / n;
    const uint64_t down = spread < (1u << 23) ? spread : (1u << 23);
    hintKey = low > down ? uint32_t(low - down) : 0;
  }
  hintKey = hintThreshold(hintKey) == 0 ? 16 : hintThreshold(hintKey);

  // The cut: the smallest rank taken. Keys in bins above `bin` are all taken; in bin `bin`,
  // `need` of its `inBin` candidates.
  uint32_t binLow = low + (bin << shift);
  uint32_t need = keep - above, inBin = bins[bin];
  uint64_t cut = uint64_t(binLow) << 32;
  while (need < inBin) {
    const uint32_t binHigh = shift >= 32 ? 0xFFFFFFFFu : binLow + ((1u << shift) - 1);
    if (inBin <= kTopkSmallBoundary) {
      uint64_t boundary[kTopkSmallBoundary + 1];
      uint32_t m = 0;
      for (uint32_t c = 0; c < n; ++c) {
        const uint32_t key = uint32_t(ranked[c] >> 32);
        boundary[m] = ranked[c];
        m += uint32_t(key >= binLow) & uint32_t(key <= binHigh);
      }
      selectNthLargest(boundary, m, need - 1);
      cut = boundary[need - 1];
      break;
    }
    if (shift == 0) {
      // All of the bin's keys are equal: the smaller indices (earlier in `ranked`) win.
      uint32_t seen = 0;
      for (uint32_t c = 0; c < n && seen < need; ++c)
        if (uint32_t(ranked[c] >> 32) == binLow && ++seen == need) cut = ranked[c];
      break;
    }
    // Many keys share the bin: count them again in 64 finer bins.
    const uint32_t finer = shift > kTopkRankBinBits ? shift - kTopkRankBinBits : 0;
    for (uint32_t b = 0; b < (1u << kTopkRankBinBits); ++b) bins[b] = 0;
    for (uint32_t c = 0; c < n; ++c) {
      const uint32_t key = uint32_t(ranked[c] >> 32);
      const uint32_t inside = uint32_t(key >= binLow) & uint32_t(key <= binHigh);
      bins[((key - binLow) >> finer) & ((1u << kTopkRankBinBits) - 1) & (0u - inside)] += inside;
    }
    shift = finer;
    uint32_t sub = (binHigh - binLow) >> shift;
    above = 0;
    while (above + bins[sub] < need) above += bins[sub--];
    binLow = binLow + (sub << shift);
    need -= above;
    inBin = bins[sub];
    cut = uint64_t(binLow) << 32;
  }
  uint32_t written = 0;
  for (uint32_t c = 0; c < n; ++c) {
    selected[written] = uint16_t(0xFFFFFFFFu - uint32_t(ranked[c]));
    written += uint32_t(ranked[c] >= cut);
  }
  return hintKey | aim;
}

template <class KeyOf>
MA_HOST_DEVICE uint32_t selectMarked(KeyOf keyOf, const uint64_t* marks, uint32_t count, uint32_t keep,
                                     uint32_t threshold, uint32_t maxKey, uint32_t aim, uint64_t* ranked,
                                     uint32_t* bins, uint16_t* selected) {
  return selectRanked(ranked, rankMarked(keyOf, marks, count, ranked), keep, threshold, maxKey, aim, bins, selected);
}

// The lowest key of the histogram bin holding the keep-th largest key: at least `keep` keys
// reach it. Only bins near the top are counted: the keep-th largest key of a real gradient
// block lies within a few octaves of the largest, so keys further down are counted in one floor
// bin. Four interleaved sub-histograms keep runs of keys in the same bin from serializing on one
// counter. If the floor bin turns out to hold the keep-th key, counts again in full.
MA_HOST_DEVICE uint32_t topkThresholdByHistogram(const uint32_t* keys, uint32_t count, uint32_t keep, uint32_t maxKey,
                                                 uint32_t* histogram) {
  const uint32_t topBin = maxKey >> kTopkBinShift;
  const uint32_t floorBin = topBin > kTopkNearBins ? topBin - kTopkNearBins : 0;
  uint32_t* sub = histogram;  // 4 x (kTopkNearBins + 1) counters, indexed by bin - floorBin
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
    uint32_t* full = histogram + 4 * kStride;
    for (uint32_t b = 0; b <= floorBin; ++b) full[b] = 0;
    for (uint32_t j = 0; j < count; ++j) {
      const uint32_t keyBin = keys[j] >> kTopkBinShift;
      if (keyBin <= floorBin) ++full[keyBin];
    }
    while (above + full[bin] < keep) above += full[bin--];
  }
  return bin << kTopkBinShift;
}

// Writes the indices of the selected elements, ascending, to `selected`; returns how many
// (= keep). `maxKey` is the largest key of the block. `hint` (in/out, 0 = none) is the block's
// hint from its previous step: when at least `keep` keys reach it, those are the only
// candidates and no histogram of the block is needed. The result is exact either way; the hint
// only saves work.
MA_HOST_DEVICE uint32_t selectTopk(const uint32_t* keys, uint32_t count, uint32_t keep, uint32_t maxKey,
                                   const TopkScratch& s, uint16_t* selected, uint32_t* hint) {
  if (keep >= count) {
    for (uint32_t i = 0; i < count; ++i) selected[i] = uint16_t(i);
    return count;
  }
  uint64_t stackMarks[kTopkMaxMarkWords];
  uint64_t* marks = s.marks ? s.marks : stackMarks;
  auto keyOf = [keys](uint32_t i) { return keys[i]; };
  const uint32_t threshold = hintThreshold(*hint);
  uint32_t found = 0;
  if (threshold != 0 && threshold <= maxKey) found = markAtLeast(keys, count, threshold, marks);
  const uint32_t aim = nextTopkAim(threshold != 0 ? hintAim(*hint) : 0, found, keep);
  if (found >= keep) {
    *hint = selectMarked(keyOf, marks, count, keep, threshold, maxKey, aim, s.ranked, s.histogram, selected);
    return keep;
  }
  const uint32_t lowestKey = topkThresholdByHistogram(keys, count, keep, maxKey, s.histogram);
  markAtLeast(keys, count, lowestKey, marks);
  *hint = selectMarked(keyOf, marks, count, keep, lowestKey, maxKey, aim, s.ranked, s.histogram, selected);
  return keep;
}

}  // namespace microadam
