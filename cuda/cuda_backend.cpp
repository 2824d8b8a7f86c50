// The CUDA engine behind the backend seam (core/backend.h): states and DeviceArrays in device
// memory, steps through cudaStep, devices as the runtime reports them. Plain C++ (no CUDA
// headers); linked instead of csrc/no_cuda/cuda_unavailable.cpp when the build has nvcc.
#include <mutex>
#include <optional>
#include <string>

#include "core/backend.h"
#include "core/errors.h"
#include "cuda_engine.h"
#include "device_buffer.h"
#include "device_probe.h"
#include "device_state.h"
#include "nccl_communicator.h"
#include "nccl_library.h"

namespace microadam {

namespace {

// The runtime's answer, kept once it found devices (they do not go away while the process runs;
// creating many states should not ask the driver each time). A failed probe is asked again.
cuda::RuntimeProbe probeOnce() {
  static std::mutex mutex;
  static std::optional<cuda::RuntimeProbe> usable;
  std::lock_guard<std::mutex> lock(mutex);
  if (usable) return *usable;
  cuda::RuntimeProbe probe = cuda::probeRuntime();
  if (probe.usable) usable = probe;
  return probe;
}

class CudaBackend final : public Backend {
 public:
  Device device() const override { return Device::Cuda; }

  BackendDescription describe() const override {
    const cuda::RuntimeProbe probe = cuda::probeRuntime();
    BackendDescription d;
    d.compiled = true;
    d.usable = probe.usable;
    d.runtimeVersion = probe.runtimeVersion;
    d.errorCode = probe.errorCode;
    d.error = probe.error;
    for (const cuda::DeviceInfo& info : probe.devices) {
      DeviceDescription device;
      device.index = info.index;
      device.name = info.name;
      device.totalMemoryBytes = info.totalMemoryBytes;
      device.computeCapability = std::to_string(info.computeMajor) + "." + std::to_string(info.computeMinor);
      try {
        device.largestTopkBlockSize = cuda::largestTopkBlockSize(info.index);
      } catch (...) {  // a device that does not answer this takes no state: 0
      }
      d.devices.push_back(device);
    }
    return d;
  }

  void requireDevice(int deviceIndex, const std::string& what, const std::string& indexName) const override {
    const cuda::RuntimeProbe probe = probeOnce();
    if (!probe.usable)
      throw DeviceUnavailableError(what + " needs a usable CUDA device but the CUDA runtime reports " + probe.error +
                                   " (error " + std::to_string(probe.errorCode) + ")");
    for (const cuda::DeviceInfo& d : probe.devices)
      if (d.index == deviceIndex) return;
    throw RangeError("Expected the index of a CUDA device (" + std::to_string(probe.devices.size()) +
                     " found) for " + indexName + " but received " + std::to_string(deviceIndex));
  }

  std::shared_ptr<OptimizerState> createState(const StateConfig& config, int deviceIndex) const override {
    requireDevice(deviceIndex, "options.device 'cuda'", "options.deviceIndex");
    return std::make_shared<cuda::DeviceState>(config, deviceIndex);
  }

  std::shared_ptr<DeviceMemory> allocate(uint64_t bytes, int deviceIndex) const override {
    requireDevice(deviceIndex, "DeviceArray", "options.deviceIndex");
    return std::make_shared<cuda::DeviceBuffer>(bytes, deviceIndex);
  }

  StepReport step(const std::vector<StateStep>& steps, NonFinitePolicy policy, uint64_t stream) const override {
    // The entry checked that every state is this backend's, so each is a DeviceState.
    std::vector<cuda::DeviceTensorStep> deviceSteps;
    deviceSteps.reserve(steps.size());
    for (const StateStep& s : steps)
      deviceSteps.push_back(cuda::DeviceTensorStep{static_cast<cuda::DeviceState*>(s.state), s.params, s.grads, s.hyper});
    return cuda::cudaStep(deviceSteps, policy, stream);
  }

  void synchronize(int deviceIndex, uint64_t stream) const override { cuda::synchronize(deviceIndex, stream); }

  CollectiveLibraryDescription describeCollectives() const override { return cuda::nccl::describeLibrary(); }

  std::vector<uint8_t> newCommunicatorId() const override { return cuda::NcclCommunicator::newId(); }

  std::shared_ptr<DeviceCommunicator> createCommunicator(const std::vector<uint8_t>& id, int size, int rank, int deviceIndex,
                                                         double timeoutSeconds) const override {
    requireDevice(deviceIndex, "an NCCL communicator", "deviceIndex");
    return std::make_shared<cuda::NcclCommunicator>(id, size, rank, deviceIndex, timeoutSeconds);
  }
};

}  // namespace

const Backend& cudaBackend() {
  static const CudaBackend backend;
  return backend;
}

}  // namespace microadam
