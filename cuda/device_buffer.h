// A block of device memory owned by the host program: what DeviceArray wraps in JS, and what the
// native self-test uses for device tensors. Plain C++ (no CUDA headers).
#pragma once

#include <cstdint>

namespace microadam::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer(uint64_t bytes, int deviceIndex);  // throws DeviceError
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  uint64_t bytes() const { return bytes_; }
  int deviceIndex() const { return deviceIndex_; }
  bool freed() const { return data_ == nullptr; }

  // Synchronous copies; throw RangeError past the end, DeviceError on CUDA failure.
  void upload(const void* host, uint64_t bytes, uint64_t offset);
  void download(void* host, uint64_t bytes, uint64_t offset) const;
  // Frees the memory now (idempotent); the destructor frees it otherwise.
  void release() noexcept;

 private:
  void* data_ = nullptr;
  uint64_t bytes_ = 0;
  int deviceIndex_ = 0;
};

}  // namespace microadam::cuda
