// The packed step call: the one definition of how a batch of tensors crosses into the core, for
// every host. The N-API layer (csrc/napi/step_batch.h) and the C ABI (cuda/c_api.h) read this
// form, the engines and kernels use its codes, and the TypeScript facade packs it (lib/hyper.ts,
// lib/tensor.ts; test/call-format.test.ts compares their constants with callFormatDescription(),
// which the addon exports from this header).
//
// Per tensor i of a call of `count` tensors:
//   dtypes[2 i], dtypes[2 i + 1]   the dtype codes of params and grads (Dtype below)
//   hyper[6 i .. 6 i + 5]          lr, beta1, beta2, eps, weightDecay, alpha (HyperParams order)
// and for the whole call one NonFinitePolicy code.
//
// C++17 (nvcc compiles it for the kernels' dtype codes).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "errors.h"

namespace microadam {

// Element type of a params or grads tensor; the value is its code in `dtypes`.
enum class Dtype : uint8_t { F32 = 0, BF16 = 1, F16 = 2 };
inline constexpr std::array<const char*, 3> kDtypeNames = {"f32", "bf16", "f16"};

// What a step does with a gradient that holds NaN or Inf; the value is its code.
enum class NonFinitePolicy : uint8_t { Skip = 0, Error = 1, Ignore = 2 };
inline constexpr std::array<const char*, 3> kNonFinitePolicyNames = {"skip", "error", "ignore"};

// One tensor's hyperparameters, in the packed order.
struct HyperParams {
  double lr = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weightDecay = 0.0;
  double alpha = 0.0;
};
inline constexpr std::array<const char*, 6> kHyperFieldNames = {"lr", "beta1", "beta2", "eps", "weightDecay", "alpha"};
inline constexpr uint32_t kHyperFieldsPerTensor = uint32_t(kHyperFieldNames.size());
inline constexpr uint32_t kDtypesPerTensor = 2;  // params, grads

inline const char* dtypeName(Dtype d) {
  const auto code = size_t(d);
  return code < kDtypeNames.size() ? kDtypeNames[code] : "?";
}

// The per-tensor arrays of one packed call, as a host hands them over (not owned).
struct PackedTensors {
  uint32_t count = 0;
  const uint8_t* dtypes = nullptr;  // kDtypesPerTensor per tensor
  const double* hyper = nullptr;    // kHyperFieldsPerTensor per tensor

  // Tensor i's params (which = 0) or grads (which = 1) dtype; RangeError for an unknown code.
  Dtype dtype(uint32_t i, uint32_t which) const {
    const uint8_t code = dtypes[kDtypesPerTensor * i + which];
    if (code >= kDtypeNames.size()) throw RangeError("dtypes[" + std::to_string(i) + "] is not a known dtype code");
    return Dtype(code);
  }
  // Tensor i's hyperparameters, unchecked (the core's entry checks them, step_entry.h).
  HyperParams hyperParams(uint32_t i) const {
    const double* h = hyper + size_t(kHyperFieldsPerTensor) * i;
    return HyperParams{h[0], h[1], h[2], h[3], h[4], h[5]};
  }
};

// A policy code as a host passes it; RangeError naming `name` for an unknown one.
inline NonFinitePolicy nonFinitePolicyFromCode(int64_t code, const std::string& name) {
  if (code < 0 || code >= int64_t(kNonFinitePolicyNames.size()))
    throw RangeError(name + " must be 0 (skip), 1 (error) or 2 (ignore), received " + std::to_string(code));
  return NonFinitePolicy(code);
}

}  // namespace microadam
