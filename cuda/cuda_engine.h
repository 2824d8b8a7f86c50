// The CUDA engine: one step over any number of tensors whose states live on one device, as one
// launch of the fused kernel (plus a light non-finite scan for the skip/error policies). Same
// contract as core/cpu_engine.h: the batch was checked by the core's entry (core/step_entry.h;
// hosts step through it, cuda_backend.cpp is the seam), and the result equals the CPU engine's bit
// for bit. Plain C++ (no CUDA headers).
#pragma once

#include <cstdint>
#include <vector>

#include "core/batch_entry.h"
#include "device_state.h"

namespace microadam::cuda {

using DeviceTensorStep = BatchEntry<DeviceState>;

// Params and grads may be device memory (TensorView::onDevice, on the states' device) or host
// memory (copied in and, for params, back out). `stream` is a cudaStream_t, 0 for the engine's
// own per-thread stream. With host tensors or stream 0 the call returns when the step is done;
// with device tensors on a caller's stream it returns once the step is enqueued (the skip/error
// scan still waits for its one flag).
StepReport cudaStep(const std::vector<DeviceTensorStep>& steps, NonFinitePolicy policy, uint64_t stream);

// Waits for `stream` (0: the whole device) on device `deviceIndex`; throws DeviceError with the
// first asynchronous error.
void synchronize(int deviceIndex, uint64_t stream);

}  // namespace microadam::cuda
