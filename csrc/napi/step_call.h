// The step entry points: step(states, params, grads, dtypes, hyper, policy) and its async twin,
// for MicroAdam, for the native AdamW, and for both kinds together (a MicroAdam whose denseBelow
// gave small tensors AdamW states). One native call covers every tensor of an optimizer.
#pragma once

#include <napi.h>

namespace microadam::napi {

Napi::Value StepSync(const Napi::CallbackInfo& info);
Napi::Value StepAsync(const Napi::CallbackInfo& info);
Napi::Value AdamWStepSync(const Napi::CallbackInfo& info);
Napi::Value AdamWStepAsync(const Napi::CallbackInfo& info);
// MicroAdam's states and the AdamW states of its small tensors (denseBelow) in one call.
Napi::Value MixedStepSync(const Napi::CallbackInfo& info);
Napi::Value MixedStepAsync(const Napi::CallbackInfo& info);

}  // namespace microadam::napi
