// Loading and storing one element of a parameter or gradient tensor in float32, with the dtype
// known only at run time (the tensors of one launch may differ). The kernels' counterpart of
// core/tensor.h's loadElement/storeElement, built from the same numeric.h conversions.
#pragma once

#include <cstdint>

#include "core/call_format.h"
#include "core/numeric.h"

namespace microadam::kernels {

// The dtype codes of the packed call (core/call_format.h), as the plans carry them.
constexpr uint8_t kF32 = uint8_t(Dtype::F32);
constexpr uint8_t kBf16 = uint8_t(Dtype::BF16);
constexpr uint8_t kF16 = uint8_t(Dtype::F16);

MA_HOST_DEVICE float loadAsFloat(const void* data, uint8_t dtype, uint64_t i) {
  if (dtype == kF32) return static_cast<const float*>(data)[i];
  const uint16_t bits = static_cast<const uint16_t*>(data)[i];
  return dtype == kBf16 ? bf16ToFloat(bits) : f16ToFloat(bits);
}

// Rounds to nearest even in the tensor's dtype.
MA_HOST_DEVICE void storeFromFloat(void* data, uint8_t dtype, uint64_t i, float value) {
  if (dtype == kF32) {
    static_cast<float*>(data)[i] = canonicalNan(value);
    return;
  }
  static_cast<uint16_t*>(data)[i] = dtype == kBf16 ? floatToBf16(value) : floatToF16(value);
}

MA_HOST_DEVICE bool elementIsFinite(const void* data, uint8_t dtype, uint64_t i) {
  if (dtype == kF32) return isFiniteBits(floatBits(static_cast<const float*>(data)[i]));
  const uint16_t bits = static_cast<const uint16_t*>(data)[i];
  return dtype == kBf16 ? (bits & 0x7F80u) != 0x7F80u : (bits & 0x7C00u) != 0x7C00u;
}

}  // namespace microadam::kernels
