// One tensor of a batched step (and what the step reports), as the engines take it: its state, params (updated in place),
// grads (read only) and hyperparameters. Built by a host from the packed call (call_format.h)
// and checked once by the core's entry (step_entry.h).
#pragma once

#include "call_format.h"
#include "tensor.h"

namespace microadam {

template <typename State>
struct BatchEntry {
  State* state = nullptr;
  TensorView params;
  TensorView grads;
  HyperParams hyper;
};

// What a batched step reports: skipped when a gradient held NaN or Inf under the 'skip' policy.
struct StepReport {
  bool skipped = false;
};

}  // namespace microadam
