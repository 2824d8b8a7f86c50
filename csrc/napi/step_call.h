// step(states, params, grads, dtypes, hyper, policy) and its async twin: one native call for
// every tensor of an optimizer.
#pragma once

#include <napi.h>

namespace microadam::napi {

Napi::Value StepSync(const Napi::CallbackInfo& info);
Napi::Value StepAsync(const Napi::CallbackInfo& info);

}  // namespace microadam::napi
