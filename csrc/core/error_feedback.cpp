#include "error_feedback.h"

#include <cmath>

namespace microadam {

void dequantizeBucket(const uint8_t* codes, uint64_t first, uint32_t count, uint16_t lo, uint16_t hi,
                      float* out) {
  const float unit = bucketUnit(lo, hi);
  const float low = bf16ToFloat(lo);
  const uint8_t* bytes = codes + (first >> 1);
  const uint32_t pairs = count / 2;
  for (uint32_t p = 0; p < pairs; ++p) {
    const uint8_t byte = bytes[p];
    out[2 * p] = float(byte >> 4) * unit + low;
    out[2 * p + 1] = float(byte & 0x0Fu) * unit + low;
  }
  if (count & 1) out[count - 1] = float(bytes[pairs] >> 4) * unit + low;
}

namespace {
inline uint32_t codeOf(float value, float low, float unit) {
  const float scaled = std::floor((value - low) / unit + 0.5f);
  if (!(scaled >= 0.0f)) return 0;  // also NaN
  return scaled > 15.0f ? 15u : uint32_t(scaled);
}
}  // namespace

void quantizeBucket(const float* values, uint64_t first, uint32_t count, uint8_t* codes, uint16_t* lo,
                    uint16_t* hi) {
  // Range over non-NaN values in the total order of orderedBits (-0 below +0).
  uint32_t minKey = 0xFFFFFFFFu, maxKey = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t bits = floatBits(values[i]);
    if (isNanBits(bits)) continue;
    const uint32_t key = orderedBits(values[i]);
    minKey = key < minKey ? key : minKey;
    maxKey = key > maxKey ? key : maxKey;
  }
  uint8_t* bytes = codes + (first >> 1);
  const uint32_t byteCount = (count + 1) / 2;
  if (minKey > maxKey) {  // only NaNs
    *lo = *hi = 0;
    for (uint32_t b = 0; b < byteCount; ++b) bytes[b] = 0;
    return;
  }
  // orderedBits is its own inverse up to the sign flip: undo it to get the float back.
  auto fromKey = [](uint32_t key) { return bitsFloat((key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key); };
  *lo = bf16RoundDown(fromKey(minKey));
  *hi = bf16RoundUp(fromKey(maxKey));
  const float low = bf16ToFloat(*lo);
  const float high = bf16ToFloat(*hi);
  const float unit = (high - low) / 15.0f;
  if (high == low || !isFiniteBits(floatBits(unit))) {
    for (uint32_t b = 0; b < byteCount; ++b) bytes[b] = 0;
    return;
  }
  const uint32_t pairs = count / 2;
  for (uint32_t p = 0; p < pairs; ++p)
    bytes[p] = uint8_t((codeOf(values[2 * p], low, unit) << 4) | codeOf(values[2 * p + 1], low, unit));
  if (count & 1) bytes[pairs] = uint8_t(codeOf(values[count - 1], low, unit) << 4);
}

}  // namespace microadam
