#include "adamw_state_wrap.h"

#include "../core/errors.h"
#include "js_args.h"
#include "js_errors.h"
#include "type_tags.h"

namespace microadam::napi {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;
}

Napi::Function AdamWStateWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<AdamWStateWrap>::DefineClass(env, "NativeAdamWState",
                                                 {
                                                     InstanceAccessor<&AdamWStateWrap::Numel>("numel"),
                                                     InstanceAccessor<&AdamWStateWrap::Step>("step"),
                                                     InstanceAccessor<&AdamWStateWrap::StateBytes>("stateBytes"),
                                                     InstanceAccessor<&AdamWStateWrap::Busy>("busy"),
                                                     InstanceMethod<&AdamWStateWrap::Snapshot>("snapshot"),
                                                     InstanceMethod<&AdamWStateWrap::Restore>("restore"),
                                                     InstanceMethod<&AdamWStateWrap::Dispose>("dispose"),
                                                 });
}

AdamWStateWrap::AdamWStateWrap(const Napi::CallbackInfo& info) : ObjectWrap<AdamWStateWrap>(info) {
  callGuarded(info, [&]() -> Napi::Value {
    Napi::Object options = requireObject(info[0], "options");
    state_ = std::make_shared<AdamWState>(requireInteger(options.Get("numel"), "options.numel", 1, kMaxSafeInteger));
    info.This().As<Napi::Object>().TypeTag(&kNativeAdamWStateTag);
    return info.Env().Undefined();
  });
}

std::shared_ptr<AdamWState> AdamWStateWrap::state() const {
  if (!state_) throw StateError("this AdamW state was disposed");
  return state_;
}

std::shared_ptr<AsyncBuffers> AdamWStateWrap::asyncBuffers() {
  if (!asyncBuffers_) asyncBuffers_ = std::make_shared<AsyncBuffers>();
  return asyncBuffers_;
}

Napi::Value AdamWStateWrap::Numel(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeAdamWStateTag, "NativeAdamWState");
    return Napi::Number::New(info.Env(), double(state()->numel()));
  });
}

Napi::Value AdamWStateWrap::Step(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeAdamWStateTag, "NativeAdamWState");
    return Napi::Number::New(info.Env(), double(state()->step()));
  });
}

Napi::Value AdamWStateWrap::StateBytes(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeAdamWStateTag, "NativeAdamWState");
    return Napi::Number::New(info.Env(), double(state()->stateBytes()));
  });
}

Napi::Value AdamWStateWrap::Busy(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeAdamWStateTag, "NativeAdamWState");
    return Napi::Boolean::New(info.Env(), state()->busy());
  });
}

Napi::Value AdamWStateWrap::Snapshot(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeAdamWStateTag, "NativeAdamWState");
    std::shared_ptr<AdamWState> s = state();
    if (s->busy()) throw StateError("cannot snapshot a state while a step on it is in flight");
    Napi::Env env = info.Env();
    auto expAvg = Napi::Float32Array::New(env, s->numel());
    auto expAvgSq = Napi::Float32Array::New(env, s->numel());
    s->copyTo(expAvg.Data(), expAvgSq.Data());
    Napi::Object o = Napi::Object::New(env);
    o.Set("step", double(s->step()));
    o.Set("expAvg", expAvg);
    o.Set("expAvgSq", expAvgSq);
    return o;
  });
}

Napi::Value AdamWStateWrap::Restore(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeAdamWStateTag, "NativeAdamWState");
    std::shared_ptr<AdamWState> s = state();
    Napi::Object o = requireObject(info[0], "snapshot");
    const uint64_t step = requireInteger(o.Get("step"), "snapshot.step", 0, kMaxSafeInteger);
    auto expAvg = requireTypedArray(o.Get("expAvg"), napi_float32_array, "snapshot.expAvg");
    auto expAvgSq = requireTypedArray(o.Get("expAvgSq"), napi_float32_array, "snapshot.expAvgSq");
    auto data = [](const Napi::TypedArray& t) {
      return reinterpret_cast<const float*>(static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
    };
    if (!s->tryAcquire()) throw StateError("cannot restore a state while a step on it is in flight");
    try {
      s->restore(step, data(expAvg), expAvg.ElementLength(), data(expAvgSq), expAvgSq.ElementLength());
    } catch (...) {
      s->release();
      throw;
    }
    s->release();
    return info.Env().Undefined();
  });
}

Napi::Value AdamWStateWrap::Dispose(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeAdamWStateTag, "NativeAdamWState");
    state_.reset();
    asyncBuffers_.reset();
    return info.Env().Undefined();
  });
}

}  // namespace microadam::napi
