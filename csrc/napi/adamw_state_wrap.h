// JS class NativeAdamWState: one native AdamW state (two float32 moments), owned through a
// shared_ptr like NativeState.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/adamw_state.h"
#include "async_copies.h"

namespace microadam::napi {

class AdamWStateWrap : public Napi::ObjectWrap<AdamWStateWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit AdamWStateWrap(const Napi::CallbackInfo& info);

  // The state, or a StateError if it was disposed.
  std::shared_ptr<AdamWState> state() const;
  // The memory this state's async steps copy into, created by the first one.
  std::shared_ptr<AsyncBuffers> asyncBuffers();

 private:
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value StateBytes(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Restore(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<AsyncBuffers> asyncBuffers_;
  std::shared_ptr<AdamWState> state_;
};

}  // namespace microadam::napi
