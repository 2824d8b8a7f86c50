// The params and grads arguments of a step: host memory (a Float32Array or Uint16Array) or
// CUDA device memory, given as a NativeDeviceArray or as a record { ptr: bigint, numel, dtype,
// device: 'cuda' } for memory another framework owns. Which states may take which is decided by
// the core's entry (core/step_entry.h); this file only converts the values.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "../core/backend.h"
#include "../core/tensor.h"

namespace microadam::napi {

// The fields of a { ptr, numel, dtype, device } record, read and checked.
struct DeviceTensorRecord {
  uint64_t address = 0;
  uint64_t numel = 0;
  Dtype dtype = Dtype::F32;
};

// Reads a device tensor record's fields if `value` is one (an object with a `ptr` or `device`
// property that is neither a typed array nor a NativeDeviceArray), else nullopt. Reading may run
// JavaScript (getters), so a step calls it before it takes any pointer into JS memory. `ptr` is
// read from a BigInt losslessly; it cannot be checked further (docs/reliability.md, "What the
// caller promises").
std::optional<DeviceTensorRecord> readDeviceTensorRecord(const Napi::Value& value, const std::string& name);

// A dtype given by name ('f32', 'bf16', 'f16'); TypeError naming `name` otherwise.
Dtype readDtype(const Napi::Value& value, const std::string& name);

// One tensor of a step, ready for the engine (a NativeDeviceArray's view carries its device).
struct TensorArg {
  TensorView view;
  // A NativeDeviceArray's memory, held by the step so that free() or collection meanwhile cannot
  // release it; empty for host memory and device tensor records.
  std::shared_ptr<DeviceMemory> memory;
};

// The tensor `value` with dtype `dtype` (from the dtypes argument): `record` if it was one, a
// NativeDeviceArray, or a typed array of the dtype's type. Runs no JavaScript.
TensorArg readTensor(const Napi::Value& value, const std::optional<DeviceTensorRecord>& record, Dtype dtype,
                     const std::string& name);

}  // namespace microadam::napi
