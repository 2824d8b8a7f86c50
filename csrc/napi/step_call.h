// The step entry points: step(states, params, grads, dtypes, hyper, policy) and its async twin,
// for MicroAdam and for the native AdamW. One native call covers every tensor of an optimizer.
#pragma once

#include <napi.h>

namespace microadam::napi {

Napi::Value StepSync(const Napi::CallbackInfo& info);
Napi::Value StepAsync(const Napi::CallbackInfo& info);
Napi::Value AdamWStepSync(const Napi::CallbackInfo& info);
Napi::Value AdamWStepAsync(const Napi::CallbackInfo& info);

}  // namespace microadam::napi
