#include "step_entry.h"

#include <unordered_set>

#include "adamw_engine.h"
#include "batch_checks.h"
#include "hyper_params.h"

namespace microadam {

namespace {

std::string indexed(const char* what, size_t i) { return std::string(what) + "[" + std::to_string(i) + "]"; }

const char* describeDevice(Device d) { return d == Device::Cuda ? "CUDA" : "the CPU"; }
const char* stateKind(Device d) { return d == Device::Cuda ? "a CUDA state" : "a CPU state"; }

// Where the call's states live: states[0]'s backend and device.
struct CallDevice {
  Device device = Device::Cpu;
  int index = 0;
};

// Host states take host tensors only; a device state takes both, and memory this library
// allocated only from its own device (a raw device address cannot be checked: the caller's
// promise, docs/reliability.md).
void checkPlacement(const TensorView& t, const char* what, size_t i, const CallDevice& call) {
  const std::string name = indexed(what, i);
  if (call.device == Device::Cpu) {
    if (t.onDevice)
      throw TypeError("Expected a host tensor (a typed array) for " + name + " (" + indexed("states", i) +
                      " lives on the CPU) but received a CUDA device tensor");
    return;
  }
  if (t.onDevice && t.deviceIndex >= 0 && t.deviceIndex != call.index)
    throw RangeError("Expected a DeviceArray on CUDA device " + std::to_string(call.index) + " (where " +
                     indexed("states", i) + " lives) for " + name + " but received one on device " +
                     std::to_string(t.deviceIndex));
}

void checkStream(std::optional<uint64_t> stream, const CallDevice& call) {
  if (stream && call.device == Device::Cpu)
    throw TypeError(
        "Expected no stream for stream (a stream is for CUDA states; these live on the CPU) but received a bigint");
}

// What both optimizers' batches must satisfy; `deviceOf` says where a state lives, `call` where
// the call's states must (states[0]'s, unless the caller fixes it). Errors name entry i as
// `names[i]` (the index in the whole call; i itself when names is empty). Returns each entry's
// params and grads for the memory check, which the caller runs over the whole call.
template <typename State, typename DeviceOf>
std::vector<TensorPair> checkEntries(const std::vector<BatchEntry<State>>& steps, const CallDevice& call, DeviceOf deviceOf,
                                     const std::vector<size_t>& names, const char* firstName) {
  const auto name = [&](size_t i) { return names.empty() ? i : names[i]; };
  std::vector<TensorPair> pairs;
  pairs.reserve(steps.size());
  std::unordered_set<const State*> seen;
  seen.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const BatchEntry<State>& s = steps[i];
    const size_t n = name(i);
    if (s.state == nullptr) throw TypeError(indexed("states", n) + " is missing");
    const CallDevice here = deviceOf(*s.state);
    if (here.device != call.device)
      throw TypeError("Expected " + std::string(stateKind(call.device)) + " for " + indexed("states", n) + " (" + firstName +
                      " lives on " + (call.device == Device::Cuda ? "CUDA" : "the CPU") +
                      "; one call steps states of one device) but received " + stateKind(here.device));
    if (here.index != call.index)
      throw RangeError(indexed("states", n) + " is on " + describeDevice(here.device) + " device " +
                       std::to_string(here.index) + " but " + firstName + " is on device " + std::to_string(call.index) +
                       ": one call steps states of one device");
    checkPlacement(s.params, "params", n, call);
    checkPlacement(s.grads, "grads", n, call);
    const uint64_t numel = s.state->numel();
    if (s.params.numel != numel)
      throw RangeError(indexed("params", n) + " must have " + std::to_string(numel) + " elements, received " +
                       std::to_string(s.params.numel));
    if (s.grads.numel != numel)
      throw RangeError(indexed("grads", n) + " must have " + std::to_string(numel) + " elements, received " +
                       std::to_string(s.grads.numel));
    if (s.params.data == nullptr || s.grads.data == nullptr)
      throw TypeError(indexed("params", n) + " or its grads has no memory");
    validateHyperParams(s.hyper);
    // A hash set keeps this linear in the tensor count (a model has thousands); the earlier
    // index is looked for only to word the error.
    if (!seen.insert(s.state).second)
      for (size_t j = 0; j < i; ++j)
        if (steps[j].state == s.state)
          throw RangeError(indexed("states", n) + " is the same state as " + indexed("states", name(j)));
    pairs.push_back({s.params, s.grads});
  }
  return pairs;
}

template <typename State, typename DeviceOf>
void checkBatch(const std::vector<BatchEntry<State>>& steps, std::optional<uint64_t> stream, DeviceOf deviceOf) {
  CallDevice call;
  if (!steps.empty() && steps[0].state != nullptr) call = deviceOf(*steps[0].state);
  checkStream(stream, call);
  checkNoSharedParams(checkEntries(steps, call, deviceOf, {}, "states[0]"));
}

CallDevice microAdamDevice(const OptimizerState& s) { return CallDevice{s.device(), s.deviceIndex()}; }
CallDevice adamWDevice(const AdamWState&) { return CallDevice{Device::Cpu, 0}; }

}  // namespace

void checkMicroAdamBatch(const std::vector<StateStep>& steps, std::optional<uint64_t> stream) {
  checkBatch(steps, stream, microAdamDevice);
}

StepReport runMicroAdamBatch(const std::vector<StateStep>& steps, NonFinitePolicy policy, uint64_t stream) {
  if (steps.empty()) return StepReport{false};
  return backendOf(*steps[0].state).step(steps, policy, stream);
}

void checkAdamWBatch(const std::vector<AdamWTensorStep>& steps, std::optional<uint64_t> stream) {
  checkBatch(steps, stream, adamWDevice);
}

StepReport runAdamWBatch(const std::vector<AdamWTensorStep>& steps, NonFinitePolicy policy, uint64_t) {
  return adamWCpuStep(steps, policy);
}

void checkMixedBatch(const MixedBatch& batch, std::optional<uint64_t> stream) {
  // The AdamW states live on the CPU, so the whole call does: a CUDA MicroAdam state is refused.
  const CallDevice call{Device::Cpu, 0};
  checkStream(stream, call);
  const std::vector<TensorPair> micro = checkEntries(batch.micro, call, microAdamDevice, batch.microIndex, "every AdamW state");
  const std::vector<TensorPair> dense = checkEntries(batch.dense, call, adamWDevice, batch.denseIndex, "every AdamW state");
  // The memory rule over the whole call, each tensor at its index in it.
  std::vector<TensorPair> pairs(micro.size() + dense.size());
  for (size_t i = 0; i < micro.size(); ++i) pairs[batch.microIndex[i]] = micro[i];
  for (size_t i = 0; i < dense.size(); ++i) pairs[batch.denseIndex[i]] = dense[i];
  checkNoSharedParams(pairs);
}

StepReport runMixedBatch(const MixedBatch& batch, NonFinitePolicy policy, uint64_t stream) {
  // One scan of every gradient decides for both engines, so the step is all or nothing.
  std::vector<TensorView> grads = gradientsOf(batch.micro);
  for (const AdamWTensorStep& s : batch.dense) grads.push_back(s.grads);
  if (shouldSkipForNonFinite(grads, policy)) return StepReport{true};
  adamWCpuStep(batch.dense, NonFinitePolicy::Ignore);
  if (!batch.micro.empty()) backendOf(*batch.micro[0].state).step(batch.micro, NonFinitePolicy::Ignore, stream);
  return StepReport{false};
}

}  // namespace microadam
