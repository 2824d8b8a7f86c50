// Checks on a batch of tensors: the memory check of the core's entry (step_entry.cpp) and the
// non-finite scan every engine runs before anything is written.
#pragma once

#include <string>
#include <vector>

#include "batch_entry.h"
#include "errors.h"
#include "hyper_params.h"
#include "tensor.h"

namespace microadam {

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

template <typename State>
std::vector<TensorView> gradientsOf(const std::vector<BatchEntry<State>>& steps) {
  std::vector<TensorView> grads;
  grads.reserve(steps.size());
  for (const BatchEntry<State>& s : steps) grads.push_back(s.grads);
  return grads;
}

}  // namespace microadam
