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

// What both optimizers' batches must satisfy; `deviceOf` says where a state lives.
template <typename State, typename DeviceOf>
void checkBatch(const std::vector<BatchEntry<State>>& steps, std::optional<uint64_t> stream, DeviceOf deviceOf) {
  CallDevice call;
  if (!steps.empty() && steps[0].state != nullptr) call = deviceOf(*steps[0].state);
  checkStream(stream, call);
  std::vector<TensorPair> pairs;
  pairs.reserve(steps.size());
  std::unordered_set<const State*> seen;
  seen.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const BatchEntry<State>& s = steps[i];
    if (s.state == nullptr) throw TypeError(indexed("states", i) + " is missing");
    const CallDevice here = deviceOf(*s.state);
    if (here.device != call.device)
      throw TypeError("Expected " + std::string(stateKind(call.device)) + " for " + indexed("states", i) +
                      " (states[0] lives on " + (call.device == Device::Cuda ? "CUDA" : "the CPU") +
                      "; one call steps states of one device) but received " + stateKind(here.device));
    if (here.index != call.index)
      throw RangeError(indexed("states", i) + " is on " + describeDevice(here.device) + " device " +
                       std::to_string(here.index) + " but states[0] is on device " + std::to_string(call.index) +
                       ": one call steps states of one device");
    checkPlacement(s.params, "params", i, call);
    checkPlacement(s.grads, "grads", i, call);
    const uint64_t n = s.state->numel();
    if (s.params.numel != n)
      throw RangeError(indexed("params", i) + " must have " + std::to_string(n) + " elements, received " +
                       std::to_string(s.params.numel));
    if (s.grads.numel != n)
      throw RangeError(indexed("grads", i) + " must have " + std::to_string(n) + " elements, received " +
                       std::to_string(s.grads.numel));
    if (s.params.data == nullptr || s.grads.data == nullptr)
      throw TypeError(indexed("params", i) + " or its grads has no memory");
    validateHyperParams(s.hyper);
    // A hash set keeps this linear in the tensor count (a model has thousands); the earlier
    // index is looked for only to word the error.
    if (!seen.insert(s.state).second)
      for (size_t j = 0; j < i; ++j)
        if (steps[j].state == s.state) throw RangeError(indexed("states", i) + " is the same state as " + indexed("states", j));
    pairs.push_back({s.params, s.grads});
  }
  checkNoSharedParams(pairs);
}

}  // namespace

void checkMicroAdamBatch(const std::vector<StateStep>& steps, std::optional<uint64_t> stream) {
  checkBatch(steps, stream, [](const OptimizerState& s) { return CallDevice{s.device(), s.deviceIndex()}; });
}

StepReport runMicroAdamBatch(const std::vector<StateStep>& steps, NonFinitePolicy policy, uint64_t stream) {
  if (steps.empty()) return StepReport{false};
  return backendOf(*steps[0].state).step(steps, policy, stream);
}

void checkAdamWBatch(const std::vector<AdamWTensorStep>& steps, std::optional<uint64_t> stream) {
  checkBatch(steps, stream, [](const AdamWState&) { return CallDevice{Device::Cpu, 0}; });
}

StepReport runAdamWBatch(const std::vector<AdamWTensorStep>& steps, NonFinitePolicy policy, uint64_t) {
  return adamWCpuStep(steps, policy);
}

}  // namespace microadam
