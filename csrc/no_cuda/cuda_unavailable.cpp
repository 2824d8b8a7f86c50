// The CUDA entry of the backend registry in a build without the CUDA backend (binding.gyp, the
// prebuilds, CMake without nvcc or with MICROADAM_CUDA=OFF): every request for a CUDA device is
// refused with the reason, and describe() says the backend was not compiled.
#include "core/backend.h"
#include "core/errors.h"

namespace microadam {

namespace {

const char* const kReason = "this build has no CUDA backend (no CUDA compiler was found, or MICROADAM_CUDA=OFF)";

class CudaUnavailable final : public Backend {
 public:
  Device device() const override { return Device::Cuda; }

  BackendDescription describe() const override {
    BackendDescription d;
    d.error = kReason;
    return d;
  }

  [[noreturn]] void requireDevice(int, const std::string& what, const std::string&) const override {
    throw DeviceUnavailableError(what + " needs a usable CUDA device but " + kReason);
  }

  std::shared_ptr<OptimizerState> createState(const StateConfig&, int deviceIndex) const override {
    requireDevice(deviceIndex, "options.device 'cuda'", "options.deviceIndex");
  }

  std::shared_ptr<DeviceMemory> allocate(uint64_t, int deviceIndex) const override {
    requireDevice(deviceIndex, "DeviceArray", "options.deviceIndex");
  }

  // Not reached: no CUDA state can exist in this build.
  StepReport step(const std::vector<StateStep>&, NonFinitePolicy, uint64_t) const override {
    requireDevice(0, "a CUDA step", "deviceIndex");
  }

  void synchronize(int deviceIndex, uint64_t) const override {
    requireDevice(deviceIndex, "synchronize()", "deviceIndex");
  }

  CollectiveLibraryDescription describeCollectives() const override {
    CollectiveLibraryDescription d;
    d.name = "NCCL";
    d.error = std::string("NCCL needs the CUDA backend, but ") + kReason;
    return d;
  }
};

}  // namespace

const Backend& cudaBackend() {
  static const CudaUnavailable backend;
  return backend;
}

}  // namespace microadam
