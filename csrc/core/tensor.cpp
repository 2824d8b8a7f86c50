#include "tensor.h"

namespace microadam {

bool rangeIsFinite(const TensorView& t, uint64_t begin, uint64_t end) {
  if (t.dtype == Dtype::F32) {
    const uint32_t* bits = static_cast<const uint32_t*>(t.data);
    uint32_t any = 0;
    // Accumulate without branching so the loop vectorizes: a value is non-finite when its
    // exponent bits are all ones.
    for (uint64_t i = begin; i < end; ++i) any |= uint32_t((bits[i] & 0x7F800000u) == 0x7F800000u);
    return any == 0;
  }
  const uint16_t* bits = static_cast<const uint16_t*>(t.data);
  const uint16_t exponentMask = t.dtype == Dtype::BF16 ? 0x7F80u : 0x7C00u;
  uint32_t any = 0;
  for (uint64_t i = begin; i < end; ++i) any |= uint32_t((bits[i] & exponentMask) == exponentMask);
  return any == 0;
}

}  // namespace microadam
