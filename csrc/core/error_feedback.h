// 4-bit error feedback: dequantize a bucket into the accumulator and quantize it back
// (docs/algorithm.md, steps 1, 3 and 6). CPU reference of cuda/error_feedback.cuh.
#pragma once

#include <cstdint>

#include "numeric.h"

namespace microadam {

// u_b = (hi - lo) / 15, or 0 when the range overflowed float32.
inline float bucketUnit(uint16_t lo, uint16_t hi) {
  const float unit = (bf16ToFloat(hi) - bf16ToFloat(lo)) / 15.0f;
  return isFiniteBits(floatBits(unit)) ? unit : 0.0f;
}

// The 4-bit code of element `e` (global element index) from the nibble-packed buffer.
inline uint32_t readCode(const uint8_t* codes, uint64_t e) {
  const uint8_t byte = codes[e >> 1];
  return (e & 1) ? (byte & 0x0Fu) : (byte >> 4);
}

// out[i] = code_i * u_b + lo_b for the `count` elements of one bucket starting at element
// `first` (first is even: buckets start at multiples of an even Q).
void dequantizeBucket(const uint8_t* codes, uint64_t first, uint32_t count, uint16_t lo, uint16_t hi,
                      float* out);

// Step 3 over one bucket: writes lo/hi and the codes of elements [first, first+count).
void quantizeBucket(const float* values, uint64_t first, uint32_t count, uint8_t* codes, uint16_t* lo,
                    uint16_t* hi);

}  // namespace microadam
