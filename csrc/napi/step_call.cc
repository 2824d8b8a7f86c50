#include "step_call.h"

#include "../core/step_entry.h"
#include "adamw_state_wrap.h"
#include "state_wrap.h"
#include "step_batch.h"
#include "type_tags.h"

namespace microadam::napi {

namespace {

// What an async step keeps of a state to undo it. A MicroAdam state's host buffers are copied
// region by region (on the engine's threads when large); a device state is copied into host
// memory through its snapshot, and put back with restore().
void backupMicroAdam(OptimizerState& s, StateBackup& b) {
  b.begin(s.step());
  const std::vector<HostRegion> regions = s.hostRegions();
  for (const HostRegion& r : regions) b.add(r.data, r.bytes);
  if (regions.empty()) s.copyTo(b.hostSnapshot().target(s.layout()));
}
void undoMicroAdam(OptimizerState& state, StateBackup& b) {
  const uint64_t step = b.copyBack();  // the regions, if any
  if (state.hostRegions().empty())
    state.restore(b.hostSnapshot().view(state.layout(), step));
  else
    state.setStep(step);
}
void backupAdamW(AdamWState& s, StateBackup& b) {
  b.begin(s.step());
  b.add(s.expAvg(), 4 * s.numel());
  b.add(s.expAvgSq(), 4 * s.numel());
}
void undoAdamW(AdamWState& state, StateBackup& b) { state.setStep(b.copyBack()); }

std::shared_ptr<OptimizerState> microAdamOf(const Napi::Object& o) { return StateWrap::Unwrap(o)->state(); }
std::shared_ptr<AdamWState> adamWOf(const Napi::Object& o) { return AdamWStateWrap::Unwrap(o)->state(); }

// MicroAdam states on any backend: the core's entry sends the batch to the backend of states[0]
// and refuses states of another.
struct MicroAdamTraits {
  using State = OptimizerState;
  using Entry = StateStep;
  static constexpr const char* stateClassName = "a NativeState";
  static bool accepts(const Napi::Value& v) { return hasTypeTag(v, kNativeStateTag); }
  static std::shared_ptr<State> unwrap(const Napi::Object& o, Entry& step) {
    auto state = microAdamOf(o);
    step.state = state.get();
    return state;
  }
  static std::shared_ptr<AsyncBuffers> asyncBuffers(const Napi::Object& o) { return StateWrap::Unwrap(o)->asyncBuffers(); }
  static void check(const std::vector<Entry>& steps, std::optional<uint64_t> stream) { checkMicroAdamBatch(steps, stream); }
  static StepReport run(const std::vector<Entry>& steps, NonFinitePolicy policy, uint64_t stream) {
    return runMicroAdamBatch(steps, policy, stream);
  }
  static void backup(const Entry& step, StateBackup& b) { backupMicroAdam(*step.state, b); }
  static void undo(const Entry& step, StateBackup& b) { undoMicroAdam(*step.state, b); }
};

struct AdamWTraits {
  using State = AdamWState;
  using Entry = AdamWTensorStep;
  static constexpr const char* stateClassName = "a NativeAdamWState";
  static bool accepts(const Napi::Value& v) { return hasTypeTag(v, kNativeAdamWStateTag); }
  static std::shared_ptr<State> unwrap(const Napi::Object& o, Entry& step) {
    auto state = adamWOf(o);
    step.state = state.get();
    return state;
  }
  static std::shared_ptr<AsyncBuffers> asyncBuffers(const Napi::Object& o) {
    return AdamWStateWrap::Unwrap(o)->asyncBuffers();
  }
  static void check(const std::vector<Entry>& steps, std::optional<uint64_t> stream) { checkAdamWBatch(steps, stream); }
  static StepReport run(const std::vector<Entry>& steps, NonFinitePolicy policy, uint64_t stream) {
    return runAdamWBatch(steps, policy, stream);
  }
  static void backup(const Entry& step, StateBackup& b) { backupAdamW(*step.state, b); }
  static void undo(const Entry& step, StateBackup& b) { undoAdamW(*step.state, b); }
};

// One entry of a mixed call: exactly one of micro and dense is set (no RTTI: node-gyp builds
// without it), and `state` is that one, for what every state shares (busy flag, step counter).
struct MixedEntry {
  SteppedState* state = nullptr;
  OptimizerState* micro = nullptr;
  AdamWState* dense = nullptr;
  TensorView params;
  TensorView grads;
  HyperParams hyper;
};

// MicroAdam's states and the AdamW states of its small tensors in one call (csrc/core/step_entry.h,
// MixedBatch): checked together, one non-finite scan, all or nothing.
struct MixedTraits {
  using State = SteppedState;
  using Entry = MixedEntry;
  static constexpr const char* stateClassName = "a NativeState or a NativeAdamWState";
  static bool accepts(const Napi::Value& v) { return hasTypeTag(v, kNativeStateTag) || hasTypeTag(v, kNativeAdamWStateTag); }
  static std::shared_ptr<State> unwrap(const Napi::Object& o, Entry& step) {
    if (hasTypeTag(o, kNativeStateTag)) {
      auto state = microAdamOf(o);
      step.micro = state.get();
      step.state = state.get();
      return state;
    }
    auto state = adamWOf(o);
    step.dense = state.get();
    step.state = state.get();
    return state;
  }
  static std::shared_ptr<AsyncBuffers> asyncBuffers(const Napi::Object& o) {
    return hasTypeTag(o, kNativeStateTag) ? StateWrap::Unwrap(o)->asyncBuffers() : AdamWStateWrap::Unwrap(o)->asyncBuffers();
  }
  static MixedBatch split(const std::vector<Entry>& steps) {
    MixedBatch batch;
    for (size_t i = 0; i < steps.size(); ++i) {
      const Entry& e = steps[i];
      if (e.micro != nullptr) {
        batch.micro.push_back(StateStep{e.micro, e.params, e.grads, e.hyper});
        batch.microIndex.push_back(i);
      } else {
        batch.dense.push_back(AdamWTensorStep{e.dense, e.params, e.grads, e.hyper});
        batch.denseIndex.push_back(i);
      }
    }
    return batch;
  }
  static void check(const std::vector<Entry>& steps, std::optional<uint64_t> stream) { checkMixedBatch(split(steps), stream); }
  static StepReport run(const std::vector<Entry>& steps, NonFinitePolicy policy, uint64_t stream) {
    return runMixedBatch(split(steps), policy, stream);
  }
  static void backup(const Entry& step, StateBackup& b) {
    if (step.micro != nullptr)
      backupMicroAdam(*step.micro, b);
    else
      backupAdamW(*step.dense, b);
  }
  static void undo(const Entry& step, StateBackup& b) {
    if (step.micro != nullptr)
      undoMicroAdam(*step.micro, b);
    else
      undoAdamW(*step.dense, b);
  }
};

}  // namespace

Napi::Value StepSync(const Napi::CallbackInfo& info) { return stepSync<MicroAdamTraits>(info); }
Napi::Value StepAsync(const Napi::CallbackInfo& info) { return stepAsync<MicroAdamTraits>(info); }
Napi::Value AdamWStepSync(const Napi::CallbackInfo& info) { return stepSync<AdamWTraits>(info); }
Napi::Value AdamWStepAsync(const Napi::CallbackInfo& info) { return stepAsync<AdamWTraits>(info); }
Napi::Value MixedStepSync(const Napi::CallbackInfo& info) { return stepSync<MixedTraits>(info); }
Napi::Value MixedStepAsync(const Napi::CallbackInfo& info) { return stepAsync<MixedTraits>(info); }

}  // namespace microadam::napi
