#include "step_call.h"

#include "../core/adamw_engine.h"
#include "adamw_state_wrap.h"
#include "state_wrap.h"
#include "step_batch.h"
#include "type_tags.h"

#if MICROADAM_WITH_CUDA
#include "cuda_step_traits.h"
#endif

namespace microadam::napi {

namespace {

struct MicroAdamTraits : NativeStateTraits {
  using Entry = TensorStep;
  static constexpr Device kDevice = Device::Cpu;
  static HostState* engineState(State* state, const std::string& index) {
    if (state->device() != Device::Cpu)
      throw TypeError("Expected a CPU state for states" + index +
                      " (states[0] lives on the CPU; one call steps states of one device) but received a CUDA state");
    return static_cast<HostState*>(state);
  }
  static StepReport run(const std::vector<Entry>& steps, NonFinitePolicy policy, uint64_t) {
    return cpuStep(steps, policy);
  }
  // The five buffers of docs/algorithm.md, "State" (the Top-K hint is a cache, not state).
  static void backup(const Entry& step, StateBackup& b) {
    HostState& s = *step.state;
    const StateLayout& l = s.layout();
    const uint64_t windowBytes = 2 * uint64_t(l.config().window) * l.rowLength();
    b.begin(s.step());
    b.add(s.errorCodes(), l.codeBytes());
    b.add(s.errorMin(), 2 * l.bucketCount());
    b.add(s.errorMax(), 2 * l.bucketCount());
    b.add(s.windowIndices(), windowBytes);
    b.add(s.windowValues(), windowBytes);
  }
  static void undo(State& state, StateBackup& b) { state.setStep(b.copyBack()); }
};

struct AdamWTraits {
  using State = AdamWState;
  using Entry = AdamWTensorStep;
  static constexpr Device kDevice = Device::Cpu;
  static constexpr const char* stateClassName = "NativeAdamWState";
  static constexpr const napi_type_tag* typeTag = &kNativeAdamWStateTag;
  static std::shared_ptr<State> unwrap(const Napi::Object& o) { return AdamWStateWrap::Unwrap(o)->state(); }
  static std::shared_ptr<AsyncBuffers> asyncBuffers(const Napi::Object& o) {
    return AdamWStateWrap::Unwrap(o)->asyncBuffers();
  }
  static AdamWState* engineState(State* state, const std::string&) { return state; }
  static StepReport run(const std::vector<Entry>& steps, NonFinitePolicy policy, uint64_t) {
    return adamWCpuStep(steps, policy);
  }
  static void backup(const Entry& step, StateBackup& b) {
    AdamWState& s = *step.state;
    b.begin(s.step());
    b.add(s.expAvg(), 4 * s.numel());
    b.add(s.expAvgSq(), 4 * s.numel());
  }
  static void undo(State& state, StateBackup& b) { state.setStep(b.copyBack()); }
};

}  // namespace

// MicroAdam calls go to the engine of states[0]'s device; the traits refuse any other state.
Napi::Value StepSync(const Napi::CallbackInfo& info) {
#if MICROADAM_WITH_CUDA
  if (firstStateOnCuda(info)) return stepSync<CudaMicroAdamTraits>(info);
#endif
  return stepSync<MicroAdamTraits>(info);
}
Napi::Value StepAsync(const Napi::CallbackInfo& info) {
#if MICROADAM_WITH_CUDA
  if (firstStateOnCuda(info)) return stepAsync<CudaMicroAdamTraits>(info);
#endif
  return stepAsync<MicroAdamTraits>(info);
}
Napi::Value AdamWStepSync(const Napi::CallbackInfo& info) { return stepSync<AdamWTraits>(info); }
Napi::Value AdamWStepAsync(const Napi::CallbackInfo& info) { return stepAsync<AdamWTraits>(info); }

}  // namespace microadam::napi
