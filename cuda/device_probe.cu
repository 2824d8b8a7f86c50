#include <cuda_runtime.h>

#include "device_probe.h"

namespace microadam::cuda {

namespace {
std::string describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}
}  // namespace

RuntimeProbe probeRuntime() noexcept {
  RuntimeProbe probe;
  try {
    cudaRuntimeGetVersion(&probe.runtimeVersion);
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      probe.errorCode = int(status);
      probe.error = describe(status);
      cudaGetLastError();  // clear the sticky-free error so later calls start clean
      return probe;
    }
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
      probe.devices.push_back(DeviceInfo{i, prop.name, uint64_t(prop.totalGlobalMem), prop.major, prop.minor});
    }
    probe.usable = !probe.devices.empty();
    if (!probe.usable && probe.error.empty()) probe.error = "no CUDA device found";
  } catch (...) {
    probe.usable = false;
    probe.error = "CUDA probe failed (out of memory)";
  }
  return probe;
}

}  // namespace microadam::cuda
