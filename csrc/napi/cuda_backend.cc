#include "cuda_backend.h"

#include <mutex>
#include <optional>

#include "../core/errors.h"
#include "js_args.h"
#include "js_errors.h"

#if MICROADAM_WITH_CUDA
#include "cuda/cuda_engine.h"
#include "cuda/device_probe.h"
#include "cuda/device_state.h"
#endif

namespace microadam::napi {

namespace {
constexpr double kMaxDeviceIndex = 65535;
}

bool cudaCompiled() {
#if MICROADAM_WITH_CUDA
  return true;
#else
  return false;
#endif
}

#if MICROADAM_WITH_CUDA
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
}  // namespace
#endif

void requireCudaDevice(int deviceIndex, const std::string& what, const std::string& indexName) {
#if MICROADAM_WITH_CUDA
  const cuda::RuntimeProbe probe = probeOnce();
  if (!probe.usable)
    throw DeviceUnavailableError(what + " needs a usable CUDA device but the CUDA runtime reports " + probe.error +
                                 " (error " + std::to_string(probe.errorCode) + ")");
  for (const cuda::DeviceInfo& d : probe.devices)
    if (d.index == deviceIndex) return;
  throw RangeError("Expected the index of a CUDA device (" + std::to_string(probe.devices.size()) +
                   " found) for " + indexName + " but received " + std::to_string(deviceIndex));
#else
  (void)deviceIndex;
  (void)indexName;
  throw DeviceUnavailableError(what +
                               " needs a usable CUDA device but this build has no CUDA backend (no CUDA compiler "
                               "was found, or MICROADAM_CUDA=OFF)");
#endif
}

std::shared_ptr<OptimizerState> createOptimizerState(const StateConfig& config, const Napi::Object& options) {
  const Napi::Value deviceValue = options.Get("device");
  bool onCuda = false;
  if (!deviceValue.IsUndefined()) {
    const std::string device = deviceValue.IsString() ? deviceValue.As<Napi::String>().Utf8Value() : "";
    if (device != "cpu" && device != "cuda")
      throw TypeError("Expected 'cpu' or 'cuda' for options.device but received " + describeValue(deviceValue));
    onCuda = device == "cuda";
  }
  const Napi::Value indexValue = options.Get("deviceIndex");
  const int deviceIndex =
      indexValue.IsUndefined() ? 0 : int(requireInteger(indexValue, "options.deviceIndex", 0, kMaxDeviceIndex));
  if (!onCuda) return std::make_shared<HostState>(config);
  requireCudaDevice(deviceIndex, "options.device 'cuda'", "options.deviceIndex");
#if MICROADAM_WITH_CUDA
  return std::make_shared<cuda::DeviceState>(config, deviceIndex);
#else
  return nullptr;  // not reached: requireCudaDevice threw
#endif
}

int deviceIndexOf(const OptimizerState& state) {
#if MICROADAM_WITH_CUDA
  if (state.device() == Device::Cuda) return static_cast<const cuda::DeviceState&>(state).deviceIndex();
#endif
  (void)state;
  return 0;
}

void finishDeviceWork(const OptimizerState& state) {
#if MICROADAM_WITH_CUDA
  if (state.device() == Device::Cuda) cuda::synchronize(deviceIndexOf(state), 0);
#endif
  (void)state;
}

uint64_t readStream(const Napi::Value& value, const std::string& name) {
  if (value.IsUndefined()) return 0;
  if (!value.IsBigInt())
    throw TypeError("Expected a bigint (a cudaStream_t; 0n for the engine's own stream) for " + name +
                    " but received " + describeValue(value));
  bool lossless = false;
  const uint64_t stream = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless)
    throw RangeError("Expected a bigint in [0, 2^64 - 1] (a cudaStream_t) for " + name +
                     " but received one outside it");
  return stream;
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    const int deviceIndex = int(requireInteger(info[0], "deviceIndex", 0, kMaxDeviceIndex));
    const uint64_t stream = readStream(info[1], "stream");
    requireCudaDevice(deviceIndex, "synchronize()", "deviceIndex");
#if MICROADAM_WITH_CUDA
    cuda::synchronize(deviceIndex, stream);
#else
    (void)stream;
#endif
    return info.Env().Undefined();
  });
}

}  // namespace microadam::napi
