// The CPU engine behind the backend seam (backend.h): states in host memory, stepped by cpuStep on
// the shared thread pool. There is nothing to wait for and no device memory.
#include <memory>

#include "backend.h"
#include "cpu_engine.h"
#include "errors.h"

namespace microadam {

namespace {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::Cpu; }

  BackendDescription describe() const override {
    BackendDescription d;
    d.compiled = true;
    d.usable = true;
    return d;
  }

  void requireDevice(int, const std::string&, const std::string&) const override {}

  std::shared_ptr<OptimizerState> createState(const StateConfig& config, int) const override {
    return std::make_shared<HostState>(config);
  }

  std::shared_ptr<DeviceMemory> allocate(uint64_t, int) const override {
    throw TypeError("the CPU backend has no device memory: host tensors are typed arrays");
  }

  StepReport step(const std::vector<StateStep>& steps, NonFinitePolicy policy, uint64_t) const override {
    // The entry checked that every state is this backend's, so each is a HostState.
    std::vector<TensorStep> hostSteps;
    hostSteps.reserve(steps.size());
    for (const StateStep& s : steps)
      hostSteps.push_back(TensorStep{static_cast<HostState*>(s.state), s.params, s.grads, s.hyper});
    return cpuStep(hostSteps, policy);
  }

  void synchronize(int, uint64_t) const override {}
};

}  // namespace

const Backend& cpuBackend() {
  static const CpuBackend backend;
  return backend;
}

}  // namespace microadam
