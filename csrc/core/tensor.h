// Host tensor views: the core never owns parameter or gradient memory.
#pragma once

#include <cstdint>

#include "call_format.h"
#include "numeric.h"

namespace microadam {

inline uint32_t dtypeBytes(Dtype d) { return d == Dtype::F32 ? 4 : 2; }

// `data` is host memory, or device memory when `onDevice` (only states of a device backend take
// that; step_entry.h checks).
struct TensorView {
  void* data = nullptr;
  uint64_t numel = 0;
  Dtype dtype = Dtype::F32;
  bool onDevice = false;
  // The device of device memory when the host knows it (memory this library allocated), else -1.
  int deviceIndex = -1;
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
