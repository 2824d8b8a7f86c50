#include "state_wrap.h"

#include "../core/backend.h"
#include "../core/errors.h"
#include "addon_data.h"
#include "device_options.h"
#include "js_args.h"
#include "js_errors.h"
#include "type_tags.h"

namespace microadam::napi {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;

StateConfig readConfig(const Napi::Object& o) {
  StateConfig c;
  c.numel = requireInteger(o.Get("numel"), "options.numel", 1, kMaxSafeInteger);
  c.window = uint32_t(requireInteger(o.Get("window"), "options.window", 1, 1024));
  c.density = requireNumber(o.Get("density"), "options.density");
  c.topkBlockSize = uint32_t(requireInteger(o.Get("topkBlockSize"), "options.topkBlockSize", 1, 65536));
  c.quantBlockSize = uint32_t(requireInteger(o.Get("quantBlockSize"), "options.quantBlockSize", 2, 65536));
  return c;
}

StateBufferId readBufferId(const Napi::Value& value) {
  return StateBufferId(requireInteger(value, "buffer", 0, kStateBufferCount - 1));
}

uint8_t* bytesOf(const Napi::TypedArray& t) { return static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset(); }

template <typename T>
const T* typedData(const Napi::TypedArray& t) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
}
}  // namespace

Napi::Function StateWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<StateWrap>::DefineClass(
      env, "NativeState",
      {
          InstanceAccessor<&StateWrap::Numel>("numel"),
          InstanceAccessor<&StateWrap::Step>("step"),
          InstanceAccessor<&StateWrap::StateBytes>("stateBytes"),
          InstanceAccessor<&StateWrap::Busy>("busy"),
          InstanceAccessor<&StateWrap::Device>("device"),
          InstanceMethod<&StateWrap::Layout>("layout"),
          InstanceMethod<&StateWrap::Snapshot>("snapshot"),
          InstanceMethod<&StateWrap::Restore>("restore"),
          InstanceMethod<&StateWrap::Dispose>("dispose"),
          InstanceMethod<&StateWrap::Acquire>("acquire"),
          InstanceMethod<&StateWrap::Release>("release"),
          InstanceMethod<&StateWrap::ReadBytes>("readBytes"),
          InstanceMethod<&StateWrap::WriteBytes>("writeBytes"),
          InstanceMethod<&StateWrap::CheckContents>("checkContents"),
          InstanceMethod<&StateWrap::Adopt>("adopt"),
      });
}

StateWrap::StateWrap(const Napi::CallbackInfo& info) : ObjectWrap<StateWrap>(info) {
  callGuarded(info, [&]() -> Napi::Value {
    Napi::Object options = requireObject(info[0], "options");
    state_ = createOptimizerState(readConfig(options), options);  // options.device, options.deviceIndex
    info.This().As<Napi::Object>().TypeTag(&kNativeStateTag);
    return info.Env().Undefined();
  });
}

std::shared_ptr<OptimizerState> StateWrap::state() const {
  if (!state_) throw StateError("this MicroAdam state was disposed");
  return state_;
}

std::shared_ptr<AsyncBuffers> StateWrap::asyncBuffers() {
  if (!asyncBuffers_) asyncBuffers_ = std::make_shared<AsyncBuffers>();
  return asyncBuffers_;
}

Napi::Value StateWrap::Numel(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    return Napi::Number::New(info.Env(), double(state()->numel()));
  });
}

Napi::Value StateWrap::Step(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    return Napi::Number::New(info.Env(), double(state()->step()));
  });
}

Napi::Value StateWrap::StateBytes(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    return Napi::Number::New(info.Env(), double(state()->layout().stateBytes()));
  });
}

Napi::Value StateWrap::Busy(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    return Napi::Boolean::New(info.Env(), state()->busy());
  });
}

Napi::Value StateWrap::Device(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    return Napi::String::New(info.Env(), state()->device() == Device::Cuda ? "cuda" : "cpu");
  });
}

Napi::Value StateWrap::Layout(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    const StateLayout& l = state()->layout();
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("numel", double(l.numel()));
    o.Set("window", double(l.config().window));
    o.Set("density", l.config().density);
    o.Set("topkBlockSize", double(l.config().topkBlockSize));
    o.Set("quantBlockSize", double(l.config().quantBlockSize));
    o.Set("blockCount", double(l.blockCount()));
    o.Set("bucketCount", double(l.bucketCount()));
    o.Set("rowLength", double(l.rowLength()));
    o.Set("stateBytes", double(l.stateBytes()));
    return o;
  });
}

Napi::Value StateWrap::Snapshot(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    std::shared_ptr<OptimizerState> s = state();
    if (s->busy()) throw StateError("cannot snapshot a state while a step on it is in flight");
    const StateLayout& l = s->layout();
    const size_t windowSize = size_t(l.config().window) * l.rowLength();
    Napi::Env env = info.Env();
    auto codes = Napi::Uint8Array::New(env, l.codeBytes());
    auto mins = Napi::Uint16Array::New(env, l.bucketCount());
    auto maxs = Napi::Uint16Array::New(env, l.bucketCount());
    auto indices = Napi::Uint16Array::New(env, windowSize);
    auto values = Napi::Uint16Array::New(env, windowSize);
    backendOf(*s).snapshot(*s, SnapshotTarget{codes.Data(), mins.Data(), maxs.Data(), indices.Data(), values.Data()});
    Napi::Object o = Napi::Object::New(env);
    o.Set("step", double(s->step()));
    o.Set("errorCodes", codes);
    o.Set("errorMin", mins);
    o.Set("errorMax", maxs);
    o.Set("windowIndices", indices);
    o.Set("windowValues", values);
    return o;
  });
}

Napi::Value StateWrap::Restore(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    std::shared_ptr<OptimizerState> s = state();
    Napi::Object o = requireObject(info[0], "snapshot");
    SnapshotView v;
    v.step = requireInteger(o.Get("step"), "snapshot.step", 0, kMaxSafeInteger);
    auto codes = requireTypedArray(o.Get("errorCodes"), napi_uint8_array, "snapshot.errorCodes");
    auto mins = requireTypedArray(o.Get("errorMin"), napi_uint16_array, "snapshot.errorMin");
    auto maxs = requireTypedArray(o.Get("errorMax"), napi_uint16_array, "snapshot.errorMax");
    auto indices = requireTypedArray(o.Get("windowIndices"), napi_uint16_array, "snapshot.windowIndices");
    auto values = requireTypedArray(o.Get("windowValues"), napi_uint16_array, "snapshot.windowValues");
    v.errorCodes = typedData<uint8_t>(codes);
    v.errorCodesLength = codes.ElementLength();
    v.errorMin = typedData<uint16_t>(mins);
    v.errorMinLength = mins.ElementLength();
    v.errorMax = typedData<uint16_t>(maxs);
    v.errorMaxLength = maxs.ElementLength();
    v.windowIndices = typedData<uint16_t>(indices);
    v.windowIndicesLength = indices.ElementLength();
    v.windowValues = typedData<uint16_t>(values);
    v.windowValuesLength = values.ElementLength();
    if (!s->tryAcquire()) throw StateError("cannot restore a state while a step on it is in flight");
    try {
      backendOf(*s).restore(*s, v);
    } catch (...) {
      s->release();
      throw;
    }
    s->release();
    return info.Env().Undefined();
  });
}

Napi::Value StateWrap::Dispose(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    // A step in flight holds its own reference; the memory goes when the last holder lets go.
    state_.reset();
    asyncBuffers_.reset();
    return info.Env().Undefined();
  });
}

}  // namespace microadam::napi

namespace microadam::napi {

// Checkpoint streaming (lib/checkpoint/stream.ts): a save holds the state (acquire, so that no step
// runs meanwhile) and reads its buffers a chunk at a time; a load fills a fresh CPU staging state a
// chunk at a time, checks it, and the target adopts it.

HostState& StateWrap::hostState(const std::string& what) const {
  std::shared_ptr<OptimizerState> s = state();
  if (s->device() != Device::Cpu) throw TypeError(what + " takes a CPU state, received a CUDA state");
  return static_cast<HostState&>(*s);
}

Napi::Value StateWrap::Acquire(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    if (!state()->tryAcquire()) throw StateError("the state is busy: a step on it is in flight (await it first)");
    return info.Env().Undefined();
  });
}

Napi::Value StateWrap::Release(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    state()->release();
    return info.Env().Undefined();
  });
}

// readBytes(buffer, byteOffset, destination): destination.byteLength bytes of buffer 0-4 (errorCodes,
// errorMin, errorMax, windowIndices, windowValues) from byteOffset, once the device is idle.
Napi::Value StateWrap::ReadBytes(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    std::shared_ptr<OptimizerState> s = state();
    const StateBufferId which = readBufferId(info[0]);
    const uint64_t offset = requireInteger(info[1], "byteOffset", 0, kMaxSafeInteger);
    Napi::TypedArray destination = requireTypedArray(info[2], napi_uint8_array, "destination");
    backendOf(*s).synchronize(s->deviceIndex(), 0);
    s->readBytes(which, offset, bytesOf(destination), destination.ByteLength());
    return info.Env().Undefined();
  });
}

// writeBytes(buffer, byteOffset, source): a CPU state's bytes, from a checkpoint being loaded.
Napi::Value StateWrap::WriteBytes(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    HostState& s = hostState("writeBytes");
    const StateBufferId which = readBufferId(info[0]);
    const uint64_t offset = requireInteger(info[1], "byteOffset", 0, kMaxSafeInteger);
    Napi::TypedArray source = requireTypedArray(info[2], napi_uint8_array, "source");
    if (s.busy()) throw StateError("cannot write a state while a step on it is in flight");
    s.writeBytes(which, offset, bytesOf(source), source.ByteLength());
    return info.Env().Undefined();
  });
}

// checkContents(step): sets the step counter and runs restore()'s checks on the buffers.
Napi::Value StateWrap::CheckContents(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    HostState& s = hostState("checkContents");
    const uint64_t step = requireInteger(info[0], "step", 0, kMaxSafeInteger);
    s.checkContents();
    s.setStep(step);
    return info.Env().Undefined();
  });
}

// adopt(staging): this state takes a checked staging state's contents and step. A CPU state
// exchanges buffers with it (no copy, no failure; adopting again undoes it); a device state
// restores from it.
Napi::Value StateWrap::Adopt(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeStateTag, "NativeState");
    if (!hasTypeTag(info[0], kNativeStateTag))
      throw TypeError("Expected a NativeState for staging but received " + describeValue(info[0]));
    HostState& staging = StateWrap::Unwrap(info[0].As<Napi::Object>())->hostState("adopt's staging");
    std::shared_ptr<OptimizerState> target = state();
    if (target.get() == &staging) throw RangeError("a state cannot adopt itself");
    if (!target->tryAcquire()) throw StateError("cannot replace a state while a step on it is in flight");
    try {
      if (target->device() == Device::Cpu) {
        if (!staging.contentsChecked()) staging.checkContents();  // a load checked it as its STAT section ended
        static_cast<HostState&>(*target).swapContents(staging);
      } else {
        backendOf(*target).restore(*target, staging.view());
      }
    } catch (...) {
      target->release();
      throw;
    }
    target->release();
    return info.Env().Undefined();
  });
}

}  // namespace microadam::napi
