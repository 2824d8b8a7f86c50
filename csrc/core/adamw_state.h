// The uncompressed baseline: AdamW's two float32 moments per parameter (8 bytes/param).
#pragma once

#include <cstdint>
#include <vector>

#include "stepped_state.h"
#include "zeroed_array.h"

namespace microadam {

class AdamWState final : public SteppedState {
 public:
  // Throws RangeError for numel outside [1, 2^53-1].
  explicit AdamWState(uint64_t numel);

  uint64_t numel() const { return numel_; }
  uint64_t stateBytes() const { return 8 * numel_; }
  float* expAvg() { return expAvg_.data(); }
  float* expAvgSq() { return expAvgSq_.data(); }

  void copyTo(float* expAvg, float* expAvgSq) const;
  // Lengths must equal numel; throws RangeError naming the field otherwise.
  void restore(uint64_t step, const float* expAvg, uint64_t expAvgLength, const float* expAvgSq,
               uint64_t expAvgSqLength);

 private:
  uint64_t numel_;
  // Zeros from the allocator: creation touches no page (zeroed_array.h).
  ZeroedArray<float> expAvg_;
  ZeroedArray<float> expAvgSq_;
};

}  // namespace microadam
