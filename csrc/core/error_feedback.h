// 4-bit error feedback (docs/algorithm.md, steps 1, 3 and 6): dequantize a bucket into the
// accumulator and quantize it back. CPU reference of the CUDA error-feedback code; written as
// branch-free loops over one bucket so the compiler vectorizes them.
#pragma once

#include <cstdint>

#include "numeric.h"

namespace microadam {

// u_b = (hi - lo) / 15, or 0 when the range overflowed float32.
MA_HOST_DEVICE float bucketUnit(uint16_t lo, uint16_t hi) {
  const float unit = (bf16ToFloat(hi) - bf16ToFloat(lo)) / 15.0f;
  return isFiniteBits(floatBits(unit)) ? unit : 0.0f;
}

// The 4-bit code of element `e` (global index): even elements in the high nibble.
MA_HOST_DEVICE uint32_t readCode(const uint8_t* codes, uint64_t e) {
  const uint8_t byte = codes[e >> 1];
  return (e & 1) ? (byte & 0x0Fu) : (byte >> 4);
}

// out[i] = base[i] + (code_i * u_b + lo_b) over one bucket of `count` elements whose codes start
// at the high nibble of bytes[0]; `base` may be null (then out[i] is the dequantized value).
// Codes are unpacked into `codeScratch` (count + 1 bytes) first, so both loops vectorize.
MA_HOST_DEVICE void dequantizeAddBucket(const uint8_t* bytes, uint32_t count, uint16_t lo, uint16_t hi,
                                        const float* base, float* out, uint8_t* codeScratch) {
  const float unit = bucketUnit(lo, hi);
  const float low = bf16ToFloat(lo);
  const uint32_t byteCount = (count + 1) / 2;
  for (uint32_t b = 0; b < byteCount; ++b) {
    codeScratch[2 * b] = uint8_t(bytes[b] >> 4);
    codeScratch[2 * b + 1] = uint8_t(bytes[b] & 0x0Fu);
  }
  if (base) {
    for (uint32_t i = 0; i < count; ++i) out[i] = base[i] + (float(codeScratch[i]) * unit + low);
  } else {
    for (uint32_t i = 0; i < count; ++i) out[i] = float(codeScratch[i]) * unit + low;
  }
}

// clamp(floor(x), 0, 15) with NaN -> 0, for x = (a - lo)/u + 0.5. Past the clamps, x is in
// (0, 15), where truncation is floor; so this needs no floor instruction.
MA_HOST_DEVICE uint32_t clampedCode(float x) {
  x = x > 0.0f ? x : 0.0f;  // also NaN -> 0
  x = x < 15.0f ? x : 15.0f;
  return uint32_t(int32_t(x));
}

// Step 3 over one bucket: writes lo/hi and the codes (nibble-packed from bytes[0]'s high nibble;
// the unused low nibble of an odd-sized last bucket is 0). `codeScratch` holds `count` bytes.
MA_HOST_DEVICE void quantizeBucket(const float* values, uint32_t count, uint8_t* bytes, uint16_t* lo, uint16_t* hi,
                                   uint8_t* codeScratch) {
  // Range over non-NaN values in the total order of orderedBits (-0 below +0).
  uint32_t minKey = 0xFFFFFFFFu, maxKey = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t bits = floatBits(values[i]);
    const uint32_t nanMask = 0u - uint32_t((bits & 0x7FFFFFFFu) > 0x7F800000u);  // all ones for NaN
    const uint32_t key = bits ^ (uint32_t(int32_t(bits) >> 31) | 0x80000000u);  // orderedBits
    const uint32_t forMin = key | nanMask;
    const uint32_t forMax = key & ~nanMask;
    minKey = forMin < minKey ? forMin : minKey;
    maxKey = forMax > maxKey ? forMax : maxKey;
  }
  const uint32_t byteCount = (count + 1) / 2;
  if (minKey > maxKey) {  // only NaNs
    *lo = *hi = 0;
    for (uint32_t b = 0; b < byteCount; ++b) bytes[b] = 0;
    return;
  }
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
  for (uint32_t i = 0; i < count; ++i) codeScratch[i] = uint8_t(clampedCode((values[i] - low) / unit + 0.5f));
  if (count & 1) codeScratch[count] = 0;
  for (uint32_t b = 0; b < byteCount; ++b) bytes[b] = uint8_t((codeScratch[2 * b] << 4) | codeScratch[2 * b + 1]);
}

}  // namespace microadam
