// The CPU engine: one step over any number of tensors, each with its own state and
// hyperparameters, all blocks of all tensors spread over the shared thread pool.
#pragma once

#include <vector>

#include "batch_checks.h"
#include "hyper_params.h"
#include "state.h"
#include "tensor.h"

namespace microadam {

using TensorStep = BatchEntry<HostState>;

struct StepReport {
  bool skipped = false;
};

// Checks everything first (sizes, hyperparameters, distinct states, no param memory shared
// with another tensor) and throws before anything changes. With Skip/Error policies, a
// non-finite gradient anywhere leaves every tensor and state as it was.
// The caller holds each state (tryAcquire) for the duration of the call.
StepReport cpuStep(const std::vector<TensorStep>& steps, NonFinitePolicy policy);

// Throws if the batch cannot be stepped (used by the N-API layer before it starts async work).
void validateSteps(const std::vector<TensorStep>& steps);

}  // namespace microadam
