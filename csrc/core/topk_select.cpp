#include "topk_select.h"

#include "numeric.h"

namespace microadam {

TopkThreshold findTopkThreshold(const uint32_t* keys, uint32_t count, uint32_t keep) {
  // Radix select, most significant byte first: each pass histograms the next byte of the keys
  // that still match the prefix found so far and picks the bucket holding the keep-th largest.
  uint32_t prefix = 0, prefixMask = 0, remaining = keep;
  for (int shift = 24; shift >= 0; shift -= 8) {
    uint32_t histogram[256] = {0};
    for (uint32_t i = 0; i < count; ++i)
      if ((keys[i] & prefixMask) == prefix) ++histogram[(keys[i] >> shift) & 0xFFu];
    uint32_t digit = 255;
    for (;; --digit) {
      if (histogram[digit] >= remaining) break;
      remaining -= histogram[digit];
    }
    prefix |= digit << shift;
    prefixMask |= 0xFFu << shift;
  }
  return {prefix, remaining};
}

void selectTopk(float* values, uint32_t count, uint32_t keep, uint16_t* indicesOut, uint16_t* valuesOut,
                TopkScratch scratch) {
  uint32_t* keys = scratch.keys;
  for (uint32_t i = 0; i < count; ++i) keys[i] = magnitudeKey(values[i]);
  const TopkThreshold threshold = findTopkThreshold(keys, count, keep);
  uint32_t written = 0, equalLeft = threshold.takeEqual;
  for (uint32_t i = 0; i < count && written < keep; ++i) {
    const bool take = keys[i] > threshold.key || (keys[i] == threshold.key && equalLeft > 0);
    if (!take) continue;
    if (keys[i] == threshold.key) --equalLeft;
    indicesOut[written] = uint16_t(i);
    valuesOut[written] = floatToBf16(values[i]);
    values[i] = 0.0f;
    ++written;
  }
}

}  // namespace microadam
