#include "adamw_state.h"

#include <algorithm>
#include <string>

#include "errors.h"

namespace microadam {

namespace {
uint64_t checkedNumel(uint64_t numel) {
  if (numel < 1 || numel > (uint64_t(1) << 53) - 1)
    throw RangeError("numel must be an integer in [1, 2^53-1], received " + std::to_string(numel));
  return numel;
}
}  // namespace

AdamWState::AdamWState(uint64_t numel) : numel_(checkedNumel(numel)), expAvg_(numel), expAvgSq_(numel) {}

void AdamWState::copyTo(float* expAvg, float* expAvgSq) const {
  std::copy(expAvg_.begin(), expAvg_.end(), expAvg);
  std::copy(expAvgSq_.begin(), expAvgSq_.end(), expAvgSq);
}

void AdamWState::restore(uint64_t step, const float* expAvg, uint64_t expAvgLength, const float* expAvgSq,
                         uint64_t expAvgSqLength) {
  if (expAvgLength != numel_ || expAvg == nullptr)
    throw RangeError("snapshot.expAvg must have length " + std::to_string(numel_) + ", received " +
                     std::to_string(expAvgLength));
  if (expAvgSqLength != numel_ || expAvgSq == nullptr)
    throw RangeError("snapshot.expAvgSq must have length " + std::to_string(numel_) + ", received " +
                     std::to_string(expAvgSqLength));
  std::copy_n(expAvg, numel_, expAvg_.begin());
  std::copy_n(expAvgSq, numel_, expAvgSq_.begin());
  setStep(step);
}

}  // namespace microadam
