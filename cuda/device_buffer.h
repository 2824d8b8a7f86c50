// A block of device memory owned by the host program: the CUDA backend's DeviceMemory (what
// DeviceArray wraps in JS), and what the native self-test uses for device tensors. Plain C++ (no
// CUDA headers).
#pragma once

#include <cstdint>

#include "core/backend.h"

namespace microadam::cuda {

class DeviceBuffer final : public DeviceMemory {
 public:
  DeviceBuffer(uint64_t bytes, int deviceIndex);  // throws DeviceError
  ~DeviceBuffer() override;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const override { return data_; }
  uint64_t bytes() const override { return bytes_; }
  int deviceIndex() const override { return deviceIndex_; }
  bool freed() const { return data_ == nullptr; }

  // Synchronous copies; throw RangeError past the end, DeviceError on CUDA failure.
  void upload(const void* host, uint64_t bytes, uint64_t offset) override;
  void download(void* host, uint64_t bytes, uint64_t offset) const override;
  // Frees the memory now (idempotent); the destructor frees it otherwise.
  void release() noexcept;

 private:
  void* data_ = nullptr;
  uint64_t bytes_ = 0;
  int deviceIndex_ = 0;
};

}  // namespace microadam::cuda
