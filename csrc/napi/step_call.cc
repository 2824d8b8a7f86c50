#include "step_call.h"

#include "../core/step_entry.h"
#include "adamw_state_wrap.h"
#include "state_wrap.h"
#include "step_batch.h"
#include "type_tags.h"

namespace microadam::napi {

namespace {

// MicroAdam states on any backend: the core's entry sends the batch to the backend of states[0]
// and refuses states of another.
struct MicroAdamTraits {
  using State = OptimizerState;
  using Entry = StateStep;
  static constexpr const char* stateClassName = "NativeState";
  static constexpr const napi_type_tag* typeTag = &kNativeStateTag;
  static std::shared_ptr<State> unwrap(const Napi::Object& o) { return StateWrap::Unwrap(o)->state(); }
  static std::shared_ptr<AsyncBuffers> asyncBuffers(const Napi::Object& o) { return StateWrap::Unwrap(o)->asyncBuffers(); }
  static void check(const std::vector<Entry>& steps, std::optional<uint64_t> stream) { checkMicroAdamBatch(steps, stream); }
  static StepReport run(const std::vector<Entry>& steps, NonFinitePolicy policy, uint64_t stream) {
    return runMicroAdamBatch(steps, policy, stream);
  }
  // Host buffers are copied region by region (on the engine's threads when large); a device
  // state is copied into host memory through its snapshot, and put back with restore().
  static void backup(const Entry& step, StateBackup& b) {
    OptimizerState& s = *step.state;
    b.begin(s.step());
    const std::vector<HostRegion> regions = s.hostRegions();
    for (const HostRegion& r : regions) b.add(r.data, r.bytes);
    if (regions.empty()) s.copyTo(b.hostSnapshot().target(s.layout()));
  }
  static void undo(State& state, StateBackup& b) {
    const uint64_t step = b.copyBack();  // the regions, if any
    if (state.hostRegions().empty())
      state.restore(b.hostSnapshot().view(state.layout(), step));
    else
      state.setStep(step);
  }
};

struct AdamWTraits {
  using State = AdamWState;
  using Entry = AdamWTensorStep;
  static constexpr const char* stateClassName = "NativeAdamWState";
  static constexpr const napi_type_tag* typeTag = &kNativeAdamWStateTag;
  static std::shared_ptr<State> unwrap(const Napi::Object& o) { return AdamWStateWrap::Unwrap(o)->state(); }
  static std::shared_ptr<AsyncBuffers> asyncBuffers(const Napi::Object& o) {
    return AdamWStateWrap::Unwrap(o)->asyncBuffers();
  }
  static void check(const std::vector<Entry>& steps, std::optional<uint64_t> stream) { checkAdamWBatch(steps, stream); }
  static StepReport run(const std::vector<Entry>& steps, NonFinitePolicy policy, uint64_t stream) {
    return runAdamWBatch(steps, policy, stream);
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

Napi::Value StepSync(const Napi::CallbackInfo& info) { return stepSync<MicroAdamTraits>(info); }
Napi::Value StepAsync(const Napi::CallbackInfo& info) { return stepAsync<MicroAdamTraits>(info); }
Napi::Value AdamWStepSync(const Napi::CallbackInfo& info) { return stepSync<AdamWTraits>(info); }
Napi::Value AdamWStepAsync(const Napi::CallbackInfo& info) { return stepAsync<AdamWTraits>(info); }

}  // namespace microadam::napi
