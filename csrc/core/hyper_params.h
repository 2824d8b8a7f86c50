// Per-step hyperparameters and the float32 scalars derived from them once on the host
// (docs/algorithm.md, "Numbers").
#pragma once

#include <cstdint>
#include <vector>

#include "call_format.h"  // HyperParams, NonFinitePolicy

namespace microadam {

// Throws RangeError naming the offending hyperparameter.
void validateHyperParams(const HyperParams& hp);

struct StepScalars {
  float lr, eps, alpha, oneMinusAlpha, decay, c1, c2;
  bool hasDecay, hasAlpha;
  std::vector<float> beta1Powers;  // p1[age], age = 0..m-1
  std::vector<float> beta2Powers;  // p2[age]
};

// beta^t the way docs/algorithm.md fixes it (math libraries' pow differ in the last bit).
double powerByBinaryExponentiation(double base, uint64_t exponent);

// Scalars for the step that makes the counter equal to `step` (t >= 1).
StepScalars makeStepScalars(const HyperParams& hp, uint64_t step, uint32_t window);

}  // namespace microadam
