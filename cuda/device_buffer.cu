#include "device_buffer.h"

#include <string>

#include "core/errors.h"
#include "cuda_check.h"

namespace microadam::cuda {

DeviceBuffer::DeviceBuffer(uint64_t bytes, int deviceIndex) : bytes_(bytes), deviceIndex_(deviceIndex) {
  checkCuda(cudaSetDevice(deviceIndex), "cudaSetDevice");
  checkCuda(cudaMalloc(&data_, bytes == 0 ? 1 : bytes), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() { release(); }

void DeviceBuffer::release() noexcept {
  if (!data_) return;
  cudaSetDevice(deviceIndex_);
  cudaFree(data_);  // a failure here leaves nothing to recover
  cudaGetLastError();
  data_ = nullptr;
}

namespace {
void checkRange(const DeviceBuffer& b, uint64_t bytes, uint64_t offset) {
  if (b.freed()) throw StateError("this DeviceArray was freed");
  if (offset > b.bytes() || bytes > b.bytes() - offset)
    throw RangeError("a copy of " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                     " does not fit a device buffer of " + std::to_string(b.bytes()) + " bytes");
}
}  // namespace

void DeviceBuffer::upload(const void* host, uint64_t bytes, uint64_t offset) {
  checkRange(*this, bytes, offset);
  checkCuda(cudaSetDevice(deviceIndex_), "cudaSetDevice");
  checkCuda(cudaMemcpy(static_cast<char*>(data_) + offset, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (upload)");
}

void DeviceBuffer::download(void* host, uint64_t bytes, uint64_t offset) const {
  checkRange(*this, bytes, offset);
  checkCuda(cudaSetDevice(deviceIndex_), "cudaSetDevice");
  checkCuda(cudaMemcpy(host, static_cast<const char*>(data_) + offset, bytes, cudaMemcpyDeviceToHost),
            "cudaMemcpy (download)");
}

}  // namespace microadam::cuda
