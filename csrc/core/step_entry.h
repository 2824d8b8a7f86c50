// The core's entry: every host (the N-API layer, the C ABI) steps through these functions. A
// batch is checked here once, completely, before anything changes (the engines behind
// backend.h trust it), then run by the backend its states live on.
//
// A host that must do work between the check and the run (an async step copies params and grads
// into native memory on the JS thread, then runs on a worker) calls check* and run* apart; it
// may repoint a checked entry only at a copy of the same numel and dtype.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "adamw_engine.h"
#include "backend.h"
#include "errors.h"

namespace microadam {

// Sizes, memory, hyperparameters, distinct states, one device for the whole call (the states of
// states[0]'s backend and device), tensors where that device can read them, a stream only for a
// device backend. Throws TypeError or RangeError naming the argument (states[i], params[i],
// grads[i], stream) before anything changes.
void checkMicroAdamBatch(const std::vector<StateStep>& steps, std::optional<uint64_t> stream);
// A checked batch on its backend; `stream` is a cudaStream_t for CUDA states, 0 for the engine's own.
StepReport runMicroAdamBatch(const std::vector<StateStep>& steps, NonFinitePolicy policy, uint64_t stream);
inline StepReport stepMicroAdam(const std::vector<StateStep>& steps, NonFinitePolicy policy,
                                std::optional<uint64_t> stream = std::nullopt) {
  checkMicroAdamBatch(steps, stream);
  return runMicroAdamBatch(steps, policy, stream.value_or(0));
}

// The native AdamW baseline (CPU only): the same checks, host tensors only, no stream.
void checkAdamWBatch(const std::vector<AdamWTensorStep>& steps, std::optional<uint64_t> stream);
StepReport runAdamWBatch(const std::vector<AdamWTensorStep>& steps, NonFinitePolicy policy, uint64_t stream);
inline StepReport stepAdamW(const std::vector<AdamWTensorStep>& steps, NonFinitePolicy policy) {
  checkAdamWBatch(steps, std::nullopt);
  return runAdamWBatch(steps, policy, 0);
}

// A step over MicroAdam states and native AdamW states together (MicroAdam's denseBelow gives its
// small tensors AdamW states): every entry checked, the memory rule over the whole call, one scan
// of every gradient for the policy, then each engine. All on the CPU. `microIndex[i]` and
// `denseIndex[i]` are entry i's index in the whole call, which errors name (states[7]).
struct MixedBatch {
  std::vector<StateStep> micro;
  std::vector<AdamWTensorStep> dense;
  std::vector<size_t> microIndex;
  std::vector<size_t> denseIndex;
};
void checkMixedBatch(const MixedBatch& batch, std::optional<uint64_t> stream);
StepReport runMixedBatch(const MixedBatch& batch, NonFinitePolicy policy, uint64_t stream);

// One step at a time per state: marks every state busy, or none (and throws StateError naming
// the busy one) if one already is. `states` holds pointers or shared_ptrs.
template <typename States>
void acquireAll(const States& states) {
  for (size_t i = 0; i < states.size(); ++i)
    if (!states[i]->tryAcquire()) {
      for (size_t j = 0; j < i; ++j) states[j]->release();
      throw StateError("states[" + std::to_string(i) +
                       "] is busy: a step on it is in flight (await it before stepping again)");
    }
}
template <typename States>
void releaseAll(const States& states) {
  for (const auto& s : states) s->release();
}

}  // namespace microadam
