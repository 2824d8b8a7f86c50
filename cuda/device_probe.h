// What the CUDA runtime can see on this machine. Plain C++ (no CUDA headers), so the N-API
// layer and other hosts can call it without nvcc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace microadam::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  uint64_t totalMemoryBytes = 0;
  int computeMajor = 0;
  int computeMinor = 0;
};

struct RuntimeProbe {
  bool usable = false;      // at least one device answered
  int errorCode = 0;        // cudaError_t of cudaGetDeviceCount when not usable
  std::string error;        // its name and description
  int runtimeVersion = 0;   // the statically linked cudart
  std::vector<DeviceInfo> devices;
};

// Never throws and never aborts: a machine without a driver reports error 35
// (cudaErrorInsufficientDriver) or 100 (cudaErrorNoDevice) as "not usable".
RuntimeProbe probeRuntime() noexcept;

}  // namespace microadam::cuda
