// The step traits (step_batch.h) of MicroAdam states in CUDA device memory: the same batch,
// busy-flag, async and error machinery as the CPU path, with cuda::cudaStep as the engine.
// Included by step_call.cc only when the addon is built with the CUDA backend.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "../core/errors.h"
#include "async_copies.h"
#include "cuda/cuda_engine.h"
#include "cuda/device_state.h"
#include "state_wrap.h"
#include "type_tags.h"

namespace microadam::napi {

struct CudaMicroAdamTraits : NativeStateTraits {
  using Entry = cuda::DeviceTensorStep;
  static constexpr Device kDevice = Device::Cuda;
  static cuda::DeviceState* engineState(State* state, const std::string& index) {
    if (state->device() != Device::Cuda)
      throw TypeError("Expected a CUDA state for states" + index +
                      " (states[0] lives on CUDA; one call steps states of one device) but received a CPU state");
    return static_cast<cuda::DeviceState*>(state);
  }
  static StepReport run(const std::vector<Entry>& steps, NonFinitePolicy policy, uint64_t stream) {
    return cuda::cudaStep(steps, policy, stream);
  }

  // The state's buffers in host memory, laid out 16-bit arrays first (so each is aligned), codes last.
  struct HostLayout {
    uint64_t bounds, window, codes;
    explicit HostLayout(const StateLayout& l)
        : bounds(l.bucketCount()), window(uint64_t(l.config().window) * l.rowLength()), codes(l.codeBytes()) {}
    uint64_t bytes() const { return 2 * (2 * bounds + 2 * window) + codes; }
    SnapshotTarget target(uint8_t* base) const {
      auto* u16 = reinterpret_cast<uint16_t*>(base);
      return SnapshotTarget{base + 2 * (2 * bounds + 2 * window), u16, u16 + bounds, u16 + 2 * bounds,
                            u16 + 2 * bounds + window};
    }
  };

  // An async step on host params may be undone (step_batch.h): the device state is copied to host
  // memory first, and put back with restore() if it is.
  static void backup(const Entry& step, StateBackup& b) {
    const cuda::DeviceState& s = *step.state;
    const HostLayout host(s.layout());
    b.begin(s.step());
    std::vector<uint8_t>& bytes = b.hostSnapshot();
    bytes.resize(host.bytes());
    s.copyTo(host.target(bytes.data()));
  }
  static void undo(State& state, StateBackup& b) {
    const HostLayout host(state.layout());
    const SnapshotTarget t = host.target(b.hostSnapshot().data());
    SnapshotView v;
    v.step = b.copyBack();  // no regions were added: only the step counter
    v.errorCodes = t.errorCodes;
    v.errorCodesLength = host.codes;
    v.errorMin = t.errorMin;
    v.errorMinLength = host.bounds;
    v.errorMax = t.errorMax;
    v.errorMaxLength = host.bounds;
    v.windowIndices = t.windowIndices;
    v.windowIndicesLength = host.window;
    v.windowValues = t.windowValues;
    v.windowValuesLength = host.window;
    state.restore(v);
  }
};

// Whether a MicroAdam step call's states[0] lives on CUDA. Anything odd (not an array, not a
// state, disposed) answers false: the CPU path's checks then report it.
inline bool firstStateOnCuda(const Napi::CallbackInfo& info) {
  try {
    if (!info[0].IsArray()) return false;
    const Napi::Value first = info[0].As<Napi::Array>().Get(uint32_t(0));
    if (!hasTypeTag(first, kNativeStateTag)) return false;
    return StateWrap::Unwrap(first.As<Napi::Object>())->state()->device() == Device::Cuda;
  } catch (...) {
    return false;
  }
}

}  // namespace microadam::napi
