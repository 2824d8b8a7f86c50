#include "hyper_params.h"

#include <cmath>
#include <sstream>

#include "errors.h"

namespace microadam {

namespace {
std::string describe(double v) {
  std::ostringstream out;
  out.precision(17);
  out << v;
  return out.str();
}

void require(bool ok, const char* name, const char* expected, double value) {
  if (!ok) throw RangeError(std::string(name) + " must be " + expected + ", received " + describe(value));
}
}  // namespace

double powerByBinaryExponentiation(double base, uint64_t exponent) {
  double result = 1.0;
  for (; exponent != 0; exponent >>= 1) {
    if (exponent & 1) result = result * base;
    base = base * base;
  }
  return result;
}

void validateHyperParams(const HyperParams& hp) {
  require(std::isfinite(hp.lr) && hp.lr >= 0, "lr", "a finite number >= 0", hp.lr);
  require(hp.beta1 >= 0 && hp.beta1 < 1, "beta1", "in [0, 1)", hp.beta1);
  require(hp.beta2 >= 0 && hp.beta2 < 1, "beta2", "in [0, 1)", hp.beta2);
  require(std::isfinite(hp.eps) && hp.eps > 0, "eps", "a finite number > 0", hp.eps);
  require(std::isfinite(hp.weightDecay) && hp.weightDecay >= 0, "weightDecay", "a finite number >= 0",
          hp.weightDecay);
  require(hp.alpha >= 0 && hp.alpha < 1, "alpha", "in [0, 1)", hp.alpha);
}

StepScalars makeStepScalars(const HyperParams& hp, uint64_t step, uint32_t window) {
  StepScalars s;
  s.lr = float(hp.lr);
  s.eps = float(hp.eps);
  s.alpha = float(hp.alpha);
  s.oneMinusAlpha = float(1.0 - hp.alpha);
  s.decay = float(1.0 - hp.lr * hp.weightDecay);
  s.hasDecay = hp.weightDecay != 0.0;
  s.hasAlpha = hp.alpha > 0.0;
  s.c1 = float((1.0 - hp.beta1) / (1.0 - powerByBinaryExponentiation(hp.beta1, step)));
  s.c2 = float((1.0 - hp.beta2) / (1.0 - powerByBinaryExponentiation(hp.beta2, step)));
  const float beta1 = float(hp.beta1);
  const float beta2 = float(hp.beta2);
  s.beta1Powers.resize(window);
  s.beta2Powers.resize(window);
  s.beta1Powers[0] = 1.0f;
  s.beta2Powers[0] = 1.0f;
  for (uint32_t age = 1; age < window; ++age) {
    s.beta1Powers[age] = s.beta1Powers[age - 1] * beta1;
    s.beta2Powers[age] = s.beta2Powers[age - 1] * beta2;
  }
  return s;
}

}  // namespace microadam
