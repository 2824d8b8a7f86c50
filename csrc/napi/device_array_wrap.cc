#include "device_array_wrap.h"

#include "../core/errors.h"
#include "cuda_backend.h"
#include "js_args.h"
#include "js_errors.h"
#include "type_tags.h"

#if MICROADAM_WITH_CUDA
#include "cuda/cuda_engine.h"
#endif

namespace microadam::napi {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;

Dtype readDtype(const Napi::Value& value, const std::string& name) {
  const std::string s = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (s == "f32") return Dtype::F32;
  if (s == "bf16") return Dtype::BF16;
  if (s == "f16") return Dtype::F16;
  throw TypeError("Expected one of 'f32', 'bf16', 'f16' for " + name + " but received " + describeValue(value));
}
}  // namespace

Napi::Function DeviceArrayWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<DeviceArrayWrap>::DefineClass(env, "NativeDeviceArray",
                                                  {
                                                      InstanceAccessor<&DeviceArrayWrap::Ptr>("ptr"),
                                                      InstanceAccessor<&DeviceArrayWrap::Numel>("numel"),
                                                      InstanceAccessor<&DeviceArrayWrap::DtypeName>("dtype"),
                                                      InstanceAccessor<&DeviceArrayWrap::DeviceIndex>("deviceIndex"),
                                                      InstanceAccessor<&DeviceArrayWrap::ByteLength>("byteLength"),
                                                      InstanceAccessor<&DeviceArrayWrap::Freed>("freed"),
                                                      InstanceMethod<&DeviceArrayWrap::Upload>("upload"),
                                                      InstanceMethod<&DeviceArrayWrap::Download>("download"),
                                                      InstanceMethod<&DeviceArrayWrap::Free>("free"),
                                                  });
}

DeviceArrayWrap::DeviceArrayWrap(const Napi::CallbackInfo& info) : ObjectWrap<DeviceArrayWrap>(info) {
  callGuarded(info, [&]() -> Napi::Value {
    numel_ = requireInteger(info[0], "numel", 1, kMaxSafeInteger);
    dtype_ = readDtype(info[1], "dtype");
    deviceIndex_ = info[2].IsUndefined() ? 0 : int(requireInteger(info[2], "options.deviceIndex", 0, 65535));
    requireCudaDevice(deviceIndex_, "DeviceArray", "options.deviceIndex");
#if MICROADAM_WITH_CUDA
    buffer_ = std::make_shared<cuda::DeviceBuffer>(numel_ * dtypeBytes(dtype_), deviceIndex_);
#endif
    info.This().As<Napi::Object>().TypeTag(&kNativeDeviceArrayTag);
    return info.Env().Undefined();
  });
}

#if MICROADAM_WITH_CUDA
cuda::DeviceBuffer& DeviceArrayWrap::live(const std::string& name) const {
  if (!buffer_) throw StateError(name + " was freed: a DeviceArray cannot be used after free()");
  return *buffer_;
}
#endif

TensorView DeviceArrayWrap::view(const std::string& name) const {
#if MICROADAM_WITH_CUDA
  return TensorView{live(name).data(), numel_, dtype_, true};
#else
  throw StateError(name + " has no device memory: this build has no CUDA backend");
#endif
}

std::shared_ptr<void> DeviceArrayWrap::memory() const {
#if MICROADAM_WITH_CUDA
  return buffer_;
#else
  return nullptr;
#endif
}

Napi::TypedArray DeviceArrayWrap::hostArray(const Napi::Value& value, const std::string& name) const {
  Napi::TypedArray t =
      requireTypedArray(value, dtype_ == Dtype::F32 ? napi_float32_array : napi_uint16_array, name);
  if (t.ElementLength() != numel_)
    throw RangeError("Expected " + std::to_string(numel_) + " elements (the DeviceArray's numel) for " + name +
                     " but received " + describeValue(value));
  return t;
}

Napi::Value DeviceArrayWrap::Ptr(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
    const TensorView v = view("this DeviceArray");
    return Napi::BigInt::New(info.Env(), uint64_t(reinterpret_cast<uintptr_t>(v.data)));
  });
}

Napi::Value DeviceArrayWrap::Numel(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
    return Napi::Number::New(info.Env(), double(numel_));
  });
}

Napi::Value DeviceArrayWrap::DtypeName(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
    return Napi::String::New(info.Env(), dtypeName(dtype_));
  });
}

Napi::Value DeviceArrayWrap::DeviceIndex(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
    return Napi::Number::New(info.Env(), deviceIndex_);
  });
}

Napi::Value DeviceArrayWrap::ByteLength(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
    return Napi::Number::New(info.Env(), double(numel_ * dtypeBytes(dtype_)));
  });
}

Napi::Value DeviceArrayWrap::Freed(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
    return Napi::Boolean::New(info.Env(), memory() == nullptr);
  });
}

// upload(source) / download(destination): synchronous copies of all numel elements. Each first
// waits for every stream of the device, so a step enqueued on a caller's stream has finished.
Napi::Value DeviceArrayWrap::Upload(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
#if MICROADAM_WITH_CUDA
    cuda::DeviceBuffer& buffer = live("this DeviceArray");
    Napi::TypedArray source = hostArray(info[0], "source");
    cuda::synchronize(deviceIndex_, 0);
    buffer.upload(static_cast<const uint8_t*>(source.ArrayBuffer().Data()) + source.ByteOffset(),
                  source.ByteLength(), 0);
#else
    view("this DeviceArray");
#endif
    return info.Env().Undefined();
  });
}

Napi::Value DeviceArrayWrap::Download(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
#if MICROADAM_WITH_CUDA
    cuda::DeviceBuffer& buffer = live("this DeviceArray");
    Napi::TypedArray destination = hostArray(info[0], "destination");
    cuda::synchronize(deviceIndex_, 0);
    buffer.download(static_cast<uint8_t*>(destination.ArrayBuffer().Data()) + destination.ByteOffset(),
                    destination.ByteLength(), 0);
    return destination;
#else
    view("this DeviceArray");
    return info.Env().Undefined();
#endif
  });
}

// Lets go of the memory now (idempotent); a step in flight holds its own reference, so the
// memory goes when that step is done.
Napi::Value DeviceArrayWrap::Free(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
#if MICROADAM_WITH_CUDA
    buffer_.reset();
#endif
    return info.Env().Undefined();
  });
}

}  // namespace microadam::napi
