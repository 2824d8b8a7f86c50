#include "device_state.h"

#include <string>

#include "core/errors.h"
#include "cuda_check.h"
#include "shared_layout.h"

namespace microadam::cuda {

namespace {

constexpr uint64_t kAlignment = 256;

uint64_t aligned(uint64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

struct BufferSizes {
  uint64_t codes, bounds, window, total;
  explicit BufferSizes(const StateLayout& l)
      : codes(aligned(l.codeBytes())),
        bounds(aligned(2 * l.bucketCount())),
        window(aligned(2 * uint64_t(l.config().window) * l.rowLength())),
        total(codes + 2 * bounds + 2 * window) {}
};

kernels::StateBuffers carve(void* memory, const BufferSizes& s) {
  auto* base = static_cast<uint8_t*>(memory);
  kernels::StateBuffers b;
  b.errorCodes = base;
  b.errorMin = reinterpret_cast<uint16_t*>(base + s.codes);
  b.errorMax = reinterpret_cast<uint16_t*>(base + s.codes + s.bounds);
  b.windowIndices = reinterpret_cast<uint16_t*>(base + s.codes + 2 * s.bounds);
  b.windowValues = reinterpret_cast<uint16_t*>(base + s.codes + 2 * s.bounds + s.window);
  return b;
}

// Copies the five buffers between host and device, in the direction `kind`.
void copyBuffers(const kernels::StateBuffers& device, const SnapshotTarget& host, const StateLayout& l,
                 cudaMemcpyKind kind) {
  const uint64_t windowBytes = 2 * uint64_t(l.config().window) * l.rowLength();
  auto copy = [&](void* deviceBuffer, void* hostBuffer, uint64_t bytes) {
    if (bytes == 0) return;
    if (kind == cudaMemcpyHostToDevice)
      checkCuda(cudaMemcpy(deviceBuffer, hostBuffer, bytes, kind), "cudaMemcpy (state upload)");
    else
      checkCuda(cudaMemcpy(hostBuffer, deviceBuffer, bytes, kind), "cudaMemcpy (state download)");
  };
  copy(device.errorCodes, host.errorCodes, l.codeBytes());
  copy(device.errorMin, host.errorMin, 2 * l.bucketCount());
  copy(device.errorMax, host.errorMax, 2 * l.bucketCount());
  copy(device.windowIndices, host.windowIndices, windowBytes);
  copy(device.windowValues, host.windowValues, windowBytes);
}

}  // namespace

uint32_t largestTopkBlockSize(int deviceIndex) {
  int limit = 0;
  checkCuda(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, deviceIndex),
            "cudaDeviceGetAttribute (shared memory per block)");
  const uint64_t fixed = kernels::sharedLayout(0).totalBytes;
  return uint64_t(limit) > fixed ? uint32_t((uint64_t(limit) - fixed) / 8) : 0;
}

DeviceState::DeviceState(const StateConfig& config, int deviceIndex)
    : OptimizerState(config), deviceIndex_(deviceIndex) {
  checkCuda(cudaSetDevice(deviceIndex), "cudaSetDevice");
  const uint32_t largest = largestTopkBlockSize(deviceIndex);
  if (config.topkBlockSize > largest)
    throw RangeError("options.topkBlockSize must be at most " + std::to_string(largest) +
                     " on CUDA device " + std::to_string(deviceIndex) +
                     " (a Top-K block lives in one thread block's shared memory), received " +
                     std::to_string(config.topkBlockSize));
  const BufferSizes sizes(layout());
  checkCuda(cudaMalloc(&memory_, sizes.total), "cudaMalloc (state)");
  buffers_ = carve(memory_, sizes);
  const cudaError_t zeroed = cudaMemset(memory_, 0, sizes.total);
  if (zeroed != cudaSuccess) {
    cudaFree(memory_);
    memory_ = nullptr;
    throwCudaError(zeroed, "cudaMemset (state)");
  }
}

DeviceState::~DeviceState() {
  if (!memory_) return;
  cudaSetDevice(deviceIndex_);
  cudaFree(memory_);
  cudaGetLastError();
}

void DeviceState::copyTo(const SnapshotTarget& target) const {
  checkCuda(cudaSetDevice(deviceIndex_), "cudaSetDevice");
  copyBuffers(buffers_, target, layout(), cudaMemcpyDeviceToHost);
}

void DeviceState::readBytes(StateBufferId which, uint64_t offset, void* to, uint64_t bytes) const {
  checkByteRange(which, offset, bytes);
  if (bytes == 0) return;
  const uint8_t* start = nullptr;
  switch (which) {
    case StateBufferId::ErrorCodes: start = buffers_.errorCodes; break;
    case StateBufferId::ErrorMin: start = reinterpret_cast<const uint8_t*>(buffers_.errorMin); break;
    case StateBufferId::ErrorMax: start = reinterpret_cast<const uint8_t*>(buffers_.errorMax); break;
    case StateBufferId::WindowIndices: start = reinterpret_cast<const uint8_t*>(buffers_.windowIndices); break;
    case StateBufferId::WindowValues: start = reinterpret_cast<const uint8_t*>(buffers_.windowValues); break;
  }
  checkCuda(cudaSetDevice(deviceIndex_), "cudaSetDevice");
  checkCuda(cudaMemcpy(to, start + offset, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy (state read)");
}

void DeviceState::restore(const SnapshotView& view) {
  validateSnapshot(view);
  // Upload into fresh memory and swap only when every copy succeeded: a CUDA failure halfway
  // leaves the live state as it was.
  checkCuda(cudaSetDevice(deviceIndex_), "cudaSetDevice");
  const BufferSizes sizes(layout());
  void* fresh = nullptr;
  checkCuda(cudaMalloc(&fresh, sizes.total), "cudaMalloc (state restore)");
  const kernels::StateBuffers freshBuffers = carve(fresh, sizes);
  try {
    SnapshotTarget source{const_cast<uint8_t*>(view.errorCodes), const_cast<uint16_t*>(view.errorMin),
                          const_cast<uint16_t*>(view.errorMax), const_cast<uint16_t*>(view.windowIndices),
                          const_cast<uint16_t*>(view.windowValues)};
    copyBuffers(freshBuffers, source, layout(), cudaMemcpyHostToDevice);
  } catch (...) {
    cudaFree(fresh);
    throw;
  }
  cudaFree(memory_);
  memory_ = fresh;
  buffers_ = freshBuffers;
  setStep(view.step);
}

}  // namespace microadam::cuda
