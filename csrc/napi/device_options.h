// The JavaScript options that say where state and work go: options.device / options.deviceIndex
// of a new state, the stream argument of a step, synchronize(). Converted here, handed to the
// backend registry (core/backend.h); nothing here knows which backends the build has.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "../core/state.h"

namespace microadam::napi {

// A device index as JavaScript passes it: an integer in [0, 65535].
int readDeviceIndex(const Napi::Value& value, const std::string& name);

// A new zeroed state for `config` where options.device says ('cpu' or absent: host memory;
// 'cuda': device options.deviceIndex, default 0). Reads and checks both options.
std::shared_ptr<OptimizerState> createOptimizerState(const StateConfig& config, const Napi::Object& options);

// A cudaStream_t given as a BigInt, read losslessly; nullopt when the argument is undefined.
std::optional<uint64_t> readStream(const Napi::Value& value, const std::string& name);

// JS synchronize(deviceIndex, stream): waits for `stream` (0n: every stream) on the CUDA device.
Napi::Value Synchronize(const Napi::CallbackInfo& info);

}  // namespace microadam::napi
