// Checks both engines run on a batch of tensors before anything is written.
#pragma once

#include <string>
#include <vector>

#include "errors.h"
#include "hyper_params.h"
#include "tensor.h"

namespace microadam {

// One tensor of a batched step: its state, params (updated in place), grads (read only) and
// hyperparameters.
template <typename State>
struct BatchEntry {
  State* state = nullptr;
  TensorView params;
  TensorView grads;
  HyperParams hyper;
};

struct TensorPair {
  TensorView params;
  TensorView grads;
};

// Param memory written by one tensor must not be read or written by another; a tensor's own
// gradient may alias its params (each element's gradient is read before its param is written).
// Throws RangeError naming the pair.
void checkNoSharedParams(const std::vector<TensorPair>& pairs);

// True when every gradient element of every tensor is finite (parallel scan).
bool gradientsAreFinite(const std::vector<TensorView>& grads);

// The policy's answer once the scan is done (the CUDA engine scans on the device): true when the
// step must be skipped; throws NonFiniteGradientError for 'error'.
bool skipForNonFinite(bool finite, NonFinitePolicy policy);

// Skip/Error policy before a step: returns true when the step must be skipped, throws
// NonFiniteGradientError for 'error'. 'ignore' never scans.
bool shouldSkipForNonFinite(const std::vector<TensorView>& grads, NonFinitePolicy policy);

inline std::string indexed(const char* what, size_t i) { return std::string(what) + "[" + std::to_string(i) + "]"; }

// Sizes, memory, hyperparameters and distinct states: throws before anything changes. Only a
// device engine (`deviceEngine`) accepts tensors in device memory.
template <typename State>
void validateBatch(const std::vector<BatchEntry<State>>& steps, bool deviceEngine = false) {
  std::vector<TensorPair> pairs;
  pairs.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const BatchEntry<State>& s = steps[i];
    if (s.state == nullptr) throw TypeError(indexed("states", i) + " is missing");
    const uint64_t n = s.state->numel();
    if (s.params.numel != n)
      throw RangeError(indexed("params", i) + " must have " + std::to_string(n) + " elements, received " +
                       std::to_string(s.params.numel));
    if (s.grads.numel != n)
      throw RangeError(indexed("grads", i) + " must have " + std::to_string(n) + " elements, received " +
                       std::to_string(s.grads.numel));
    if (s.params.data == nullptr || s.grads.data == nullptr)
      throw TypeError(indexed("params", i) + " or its grads has no memory");
    if (!deviceEngine && (s.params.onDevice || s.grads.onDevice))
      throw TypeError(indexed(s.params.onDevice ? "params" : "grads", i) +
                      " is in CUDA device memory but " + indexed("states", i) + " lives on the CPU");
    validateHyperParams(s.hyper);
    for (size_t j = 0; j < i; ++j)
      if (steps[j].state == s.state)
        throw RangeError(indexed("states", i) + " is the same state as " + indexed("states", j));
    pairs.push_back({s.params, s.grads});
  }
  checkNoSharedParams(pairs);
}

template <typename State>
std::vector<TensorView> gradientsOf(const std::vector<BatchEntry<State>>& steps) {
  std::vector<TensorView> grads;
  grads.reserve(steps.size());
  for (const BatchEntry<State>& s : steps) grads.push_back(s.grads);
  return grads;
}

}  // namespace microadam
