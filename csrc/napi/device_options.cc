#include "device_options.h"

#include "../core/backend.h"
#include "../core/errors.h"
#include "js_args.h"
#include "js_errors.h"

namespace microadam::napi {

namespace {
constexpr double kMaxDeviceIndex = 65535;
}

int readDeviceIndex(const Napi::Value& value, const std::string& name) {
  return value.IsUndefined() ? 0 : int(requireInteger(value, name, 0, kMaxDeviceIndex));
}

std::shared_ptr<OptimizerState> createOptimizerState(const StateConfig& config, const Napi::Object& options) {
  const Napi::Value deviceValue = options.Get("device");
  Device device = Device::Cpu;
  if (!deviceValue.IsUndefined()) {
    const std::string name = deviceValue.IsString() ? deviceValue.As<Napi::String>().Utf8Value() : "";
    if (name != "cpu" && name != "cuda")
      throw TypeError("Expected 'cpu' or 'cuda' for options.device but received " + describeValue(deviceValue));
    if (name == "cuda") device = Device::Cuda;
  }
  const int deviceIndex = readDeviceIndex(options.Get("deviceIndex"), "options.deviceIndex");
  return backendFor(device).createState(config, deviceIndex);
}

std::optional<uint64_t> readStream(const Napi::Value& value, const std::string& name) {
  if (value.IsUndefined()) return std::nullopt;
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
    const uint64_t stream = readStream(info[1], "stream").value_or(0);
    const Backend& cuda = backendFor(Device::Cuda);
    cuda.requireDevice(deviceIndex, "synchronize()", "deviceIndex");
    cuda.synchronize(deviceIndex, stream);
    return info.Env().Undefined();
  });
}

}  // namespace microadam::napi
