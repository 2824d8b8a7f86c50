// Host side of the CUDA engine: checks, staging of host tensors, the launch plan, the non-finite
// scan and the one launch of the fused kernel (fused_step_kernel.cuh) for all tensors.
#include "cuda_engine.h"

#include <climits>
#include <cstring>
#include <map>
#include <string>

#include "core/batch_checks.h"
#include "core/errors.h"
#include "cuda_check.h"
#include "fused_step_kernel.cuh"
#include "step_plan.h"

namespace microadam::cuda {

namespace {

// Stream-ordered device memory, freed in stream order when it goes out of scope, so nothing
// here waits for the GPU unless it must.
class StreamMemory {
 public:
  StreamMemory(uint64_t bytes, cudaStream_t stream) : stream_(stream) {
    checkCuda(cudaMallocAsync(&data_, bytes == 0 ? 1 : bytes, stream), "cudaMallocAsync");
  }
  ~StreamMemory() {
    if (data_) cudaFreeAsync(data_, stream_);
  }
  StreamMemory(StreamMemory&& other) noexcept : data_(other.data_), stream_(other.stream_) { other.data_ = nullptr; }
  StreamMemory(const StreamMemory&) = delete;
  StreamMemory& operator=(const StreamMemory&) = delete;
  template <typename T>
  T* as(uint64_t byteOffset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(data_) + byteOffset);
  }

 private:
  void* data_ = nullptr;
  cudaStream_t stream_;
};

// Pinned host memory for each step's plan upload: a copy from pageable memory makes the CUDA
// runtime wait for the stream before it starts, which would serialize every step with the
// host. One buffer per device and host thread; an event says when its last copy was done.
class PinnedStaging {
 public:
  ~PinnedStaging() {
    if (!data_) return;
    cudaEventSynchronize(done_);  // errors ignored: at exit the runtime may be gone already
    cudaFreeHost(data_);
    cudaEventDestroy(done_);
  }
  void* acquire(uint64_t bytes) {
    if (data_) checkCuda(cudaEventSynchronize(done_), "cudaEventSynchronize (staging)");
    if (bytes > capacity_) {
      if (data_) cudaFreeHost(data_);
      data_ = nullptr;
      capacity_ = 0;
      const uint64_t grown = bytes < 4096 ? 4096 : 2 * bytes;
      checkCuda(cudaHostAlloc(&data_, grown, cudaHostAllocDefault), "cudaHostAlloc (staging)");
      capacity_ = grown;
      if (!eventCreated_) {
        checkCuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate (staging)");
        eventCreated_ = true;
      }
    }
    return data_;
  }
  void copied(cudaStream_t stream) { checkCuda(cudaEventRecord(done_, stream), "cudaEventRecord (staging)"); }

 private:
  void* data_ = nullptr;
  uint64_t capacity_ = 0;
  cudaEvent_t done_{};
  bool eventCreated_ = false;
};

PinnedStaging& stagingFor(int device) {
  thread_local std::map<int, PinnedStaging> staging;
  return staging[device];
}

uint64_t tensorBytes(const TensorView& t) { return t.numel * dtypeBytes(t.dtype); }

}  // namespace

StepReport cudaStep(const std::vector<DeviceTensorStep>& steps, NonFinitePolicy policy, uint64_t streamHandle) {
  if (steps.empty()) return StepReport{false};
  const int device = steps[0].state->deviceIndex();
  checkCuda(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t stream = streamHandle ? reinterpret_cast<cudaStream_t>(streamHandle) : cudaStreamPerThread;

  // Host tensors are copied to the device (params back again after the step).
  std::vector<StreamMemory> staging;
  std::vector<std::pair<TensorView, void*>> paramsToCopyBack;
  bool waitAtEnd = streamHandle == 0;
  auto onDevice = [&](const TensorView& t, bool isParams) {
    if (t.onDevice) return t;
    waitAtEnd = true;
    staging.emplace_back(tensorBytes(t), stream);
    void* copy = staging.back().as<void>();
    checkCuda(cudaMemcpyAsync(copy, t.data, tensorBytes(t), cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync (upload)");
    if (isParams) paramsToCopyBack.push_back({t, copy});
    return TensorView{copy, t.numel, t.dtype, true};
  };

  std::vector<kernels::PlanInput> inputs;
  inputs.reserve(steps.size());
  for (const DeviceTensorStep& s : steps)
    inputs.push_back(kernels::PlanInput{&s.state->layout(), s.state->step() + 1, s.hyper, s.state->buffers(),
                                        onDevice(s.params, true), onDevice(s.grads, false)});
  kernels::LaunchPlan launch = kernels::buildLaunchPlan(inputs);
  if (launch.gridBlocks > uint64_t(INT_MAX))
    throw RangeError("one step covers " + std::to_string(launch.gridBlocks) +
                     " Top-K blocks; a CUDA launch takes at most 2^31 - 1");

  // Workspace: the plans, every tensor's beta powers, the non-finite flag.
  const uint64_t plansBytes = launch.plans.size() * sizeof(kernels::TensorPlan);
  const uint64_t powersOffset = (plansBytes + 15) / 16 * 16;
  const uint64_t flagOffset = powersOffset + (launch.betaPowers.size() * sizeof(float) + 15) / 16 * 16;
  StreamMemory workspace(flagOffset + sizeof(uint32_t), stream);
  launch.bindPowers(workspace.as<float>(powersOffset));
  const auto* plans = workspace.as<kernels::TensorPlan>();
  const uint32_t planCount = uint32_t(launch.plans.size());
  {
    PinnedStaging& staging = stagingFor(device);
    auto* image = static_cast<char*>(staging.acquire(flagOffset));
    std::memcpy(image, launch.plans.data(), plansBytes);
    std::memcpy(image + powersOffset, launch.betaPowers.data(), launch.betaPowers.size() * sizeof(float));
    checkCuda(cudaMemcpyAsync(workspace.as<void>(), image, flagOffset, cudaMemcpyHostToDevice, stream),
              "cudaMemcpyAsync (plans)");
    staging.copied(stream);
  }

  if (policy != NonFinitePolicy::Ignore) {
    uint32_t* flag = workspace.as<uint32_t>(flagOffset);
    checkCuda(cudaMemsetAsync(flag, 0, sizeof(uint32_t), stream), "cudaMemsetAsync (flag)");
    const uint64_t scanBlocks = launch.gridBlocks < 4096 ? launch.gridBlocks : 4096;
    kernels::nonFiniteKernel<<<unsigned(scanBlocks), 256, 0, stream>>>(plans, planCount, flag);
    checkCuda(cudaGetLastError(), "non-finite scan launch");
    uint32_t found = 0;
    checkCuda(cudaMemcpyAsync(&found, flag, sizeof found, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync (flag)");
    checkCuda(cudaStreamSynchronize(stream), "non-finite scan");
    if (skipForNonFinite(found == 0, policy)) return StepReport{true};
  }

  const uint64_t sharedBytes = kernels::stepSharedBytes(launch.largestTopkBlock);
  if (sharedBytes > 48 * 1024)
    checkCuda(cudaFuncSetAttribute(kernels::fusedStepKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(sharedBytes)),
              "cudaFuncSetAttribute (shared memory)");
  kernels::fusedStepKernel<<<unsigned(launch.gridBlocks), kernels::kStepThreads, sharedBytes, stream>>>(
      plans, planCount, launch.largestTopkBlock);
  checkCuda(cudaGetLastError(), "fused step launch");
  // The launch is in the stream: the counters advance with it.
  for (const DeviceTensorStep& s : steps) s.state->setStep(s.state->step() + 1);

  for (const auto& [host, copy] : paramsToCopyBack)
    checkCuda(cudaMemcpyAsync(host.data, copy, tensorBytes(host), cudaMemcpyDeviceToHost, stream),
              "cudaMemcpyAsync (params download)");
  if (waitAtEnd) checkCuda(cudaStreamSynchronize(stream), "fused step");
  return StepReport{false};
}

void synchronize(int deviceIndex, uint64_t stream) {
  checkCuda(cudaSetDevice(deviceIndex), "cudaSetDevice");
  if (stream)
    checkCuda(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
  else
    checkCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace microadam::cuda
