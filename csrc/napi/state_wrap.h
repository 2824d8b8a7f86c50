// JS class NativeState: owns one core state through a shared_ptr, so an async step in flight
// keeps the memory alive even if the JS object is disposed or collected meanwhile.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/state.h"
#include "async_copies.h"
#include "type_tags.h"

namespace microadam::napi {

class StateWrap : public Napi::ObjectWrap<StateWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit StateWrap(const Napi::CallbackInfo& info);

  // The state, or a StateError if it was disposed.
  std::shared_ptr<OptimizerState> state() const;
  // The memory this state's async steps copy into, created by the first one.
  std::shared_ptr<AsyncBuffers> asyncBuffers();

 private:
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value StateBytes(const Napi::CallbackInfo& info);
  Napi::Value Layout(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Restore(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Acquire(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value ReadBytes(const Napi::CallbackInfo& info);
  Napi::Value WriteBytes(const Napi::CallbackInfo& info);
  Napi::Value CheckContents(const Napi::CallbackInfo& info);
  Napi::Value Adopt(const Napi::CallbackInfo& info);

  // The state as a HostState (a staging state of a checkpoint load), or a TypeError naming `what`.
  HostState& hostState(const std::string& what) const;

  std::shared_ptr<AsyncBuffers> asyncBuffers_;
  std::shared_ptr<OptimizerState> state_;
};

}  // namespace microadam::napi
