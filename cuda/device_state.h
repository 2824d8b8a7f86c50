// MicroAdam state in device memory, stepped by the CUDA engine. Same layout, same snapshot bytes
// as HostState, so a state moves between backends through copyTo/restore. Plain C++: the N-API
// layer and other hosts include this without CUDA headers.
#pragma once

#include <cstdint>

#include "core/state.h"
#include "step_plan.h"

namespace microadam::cuda {

class DeviceState final : public OptimizerState {
 public:
  // Allocates and zeroes the five buffers on device `deviceIndex`. Throws RangeError when the
  // Top-K block needs more shared memory than the device gives one thread block, DeviceError
  // when CUDA fails (no device, out of memory).
  DeviceState(const StateConfig& config, int deviceIndex);
  ~DeviceState() override;

  Device device() const override { return Device::Cuda; }
  void copyTo(const SnapshotTarget& target) const override;
  void restore(const SnapshotView& view) override;
  void readBytes(StateBufferId which, uint64_t offset, void* to, uint64_t bytes) const override;

  int deviceIndex() const override { return deviceIndex_; }
  // Device addresses of the five buffers.
  const kernels::StateBuffers& buffers() const { return buffers_; }

 private:
  int deviceIndex_;
  void* memory_ = nullptr;  // one allocation holding all five buffers
  kernels::StateBuffers buffers_{};
};

// The largest Top-K block a thread block of the fused kernel can hold on this device.
uint32_t largestTopkBlockSize(int deviceIndex);

}  // namespace microadam::cuda
