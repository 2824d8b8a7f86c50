// What the N-API layer needs of the CUDA backend, behind plain declarations: this file and
// cuda_backend.cc hold the `#if MICROADAM_WITH_CUDA` switches, so that the rest of csrc/napi
// compiles unchanged in the CPU-only build (binding.gyp) and the CUDA build (CMake with nvcc).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "../core/state.h"

namespace microadam::napi {

// A CUDA device was asked for where none is usable: the build has no CUDA backend, the runtime
// found no driver or device, or the index is past the devices found. Becomes an Error with code
// ERR_MICROADAM_DEVICE; the message names the option and carries the CUDA runtime's reason.
class DeviceUnavailableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True when the addon was compiled with the CUDA backend.
bool cudaCompiled();

// Throws DeviceUnavailableError ("<what> needs a usable CUDA device but <reason>") unless the CUDA
// runtime answers (never crashes on a machine without a driver), and RangeError naming
// `indexName` unless device `deviceIndex` is one it found.
void requireCudaDevice(int deviceIndex, const std::string& what, const std::string& indexName);

// A new zeroed state for `config` where options.device says ('cpu' or absent: host memory;
// 'cuda': device options.deviceIndex, default 0). Reads and checks both options.
std::shared_ptr<OptimizerState> createOptimizerState(const StateConfig& config, const Napi::Object& options);

// The CUDA device a state lives on (0 for a CPU state).
int deviceIndexOf(const OptimizerState& state);

// Before the host reads or replaces a CUDA state's buffers (snapshot, restore): waits for every
// stream of its device, so a step enqueued on a caller's stream has finished. No-op for CPU.
void finishDeviceWork(const OptimizerState& state);

// A cudaStream_t given as a BigInt (undefined: 0, the engine's own stream), read losslessly.
uint64_t readStream(const Napi::Value& value, const std::string& name);

// JS synchronize(deviceIndex, stream): waits for `stream` (0n: every stream) on the device.
Napi::Value Synchronize(const Napi::CallbackInfo& info);

}  // namespace microadam::napi
