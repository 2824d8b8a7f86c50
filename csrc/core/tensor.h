// Host tensor views: the core never owns parameter or gradient memory.
#pragma once

#include <cstdint>

#include "numeric.h"

namespace microadam {

enum class Dtype : uint8_t { F32 = 0, BF16 = 1, F16 = 2 };

inline const char* dtypeName(Dtype d) {
  switch (d) {
    case Dtype::F32: return "f32";
    case Dtype::BF16: return "bf16";
    case Dtype::F16: return "f16";
  }
  return "?";
}

inline uint32_t dtypeBytes(Dtype d) { return d == Dtype::F32 ? 4 : 2; }

// `data` is host memory, or device memory when `onDevice` (only the CUDA engine accepts that).
struct TensorView {
  void* data = nullptr;
  uint64_t numel = 0;
  Dtype dtype = Dtype::F32;
  bool onDevice = false;
};

inline float loadElement(const void* data, Dtype dtype, uint64_t i) {
  switch (dtype) {
    case Dtype::F32: return static_cast<const float*>(data)[i];
    case Dtype::BF16: return bf16ToFloat(static_cast<const uint16_t*>(data)[i]);
    case Dtype::F16: return f16ToFloat(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.0f;
}

inline void storeElement(void* data, Dtype dtype, uint64_t i, float value) {
  switch (dtype) {
    case Dtype::F32: static_cast<float*>(data)[i] = canonicalNan(value); return;
    case Dtype::BF16: static_cast<uint16_t*>(data)[i] = floatToBf16(value); return;
    case Dtype::F16: static_cast<uint16_t*>(data)[i] = floatToF16(value); return;
  }
}

// True when every element in [begin, end) is finite (checked on the bits, so it is exact).
bool rangeIsFinite(const TensorView& t, uint64_t begin, uint64_t end);

}  // namespace microadam
