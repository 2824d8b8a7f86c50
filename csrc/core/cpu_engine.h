// The CPU engine: one step over any number of tensors, each with its own state and
// hyperparameters, all blocks of all tensors spread over the shared thread pool.
#pragma once

#include <vector>

#include "batch_entry.h"
#include "hyper_params.h"
#include "state.h"
#include "tensor.h"

namespace microadam {

using TensorStep = BatchEntry<HostState>;

// The batch was checked by the core's entry (step_entry.h: sizes, hyperparameters, distinct
// states, host memory, no param memory shared with another tensor); hosts step through that entry,
// and only tests and benchmarks that build valid batches call this directly. With Skip/Error
// policies, a non-finite gradient anywhere leaves every tensor and state as it was. The caller
// holds each state (tryAcquire) for the duration of the call.
StepReport cpuStep(const std::vector<TensorStep>& steps, NonFinitePolicy policy);

}  // namespace microadam
