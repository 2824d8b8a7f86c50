#include "device_array_wrap.h"

#include "../core/errors.h"
#include "device_options.h"
#include "device_tensor.h"
#include "js_args.h"
#include "js_errors.h"
#include "type_tags.h"

namespace microadam::napi {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;

const Backend& cudaDevices() { return backendFor(Device::Cuda); }
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
    deviceIndex_ = readDeviceIndex(info[2], "options.deviceIndex");
    memory_ = cudaDevices().allocate(numel_ * dtypeBytes(dtype_), deviceIndex_);
    info.This().As<Napi::Object>().TypeTag(&kNativeDeviceArrayTag);
    return info.Env().Undefined();
  });
}

DeviceMemory& DeviceArrayWrap::live(const std::string& name) const {
  if (!memory_) throw StateError(name + " was freed: a DeviceArray cannot be used after free()");
  return *memory_;
}

TensorView DeviceArrayWrap::view(const std::string& name) const {
  return TensorView{live(name).data(), numel_, dtype_, true, deviceIndex_};
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
    DeviceMemory& memory = live("this DeviceArray");
    Napi::TypedArray source = hostArray(info[0], "source");
    cudaDevices().synchronize(deviceIndex_, 0);
    memory.upload(static_cast<const uint8_t*>(source.ArrayBuffer().Data()) + source.ByteOffset(), source.ByteLength(),
                  0);
    return info.Env().Undefined();
  });
}

Napi::Value DeviceArrayWrap::Download(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
    DeviceMemory& memory = live("this DeviceArray");
    Napi::TypedArray destination = hostArray(info[0], "destination");
    cudaDevices().synchronize(deviceIndex_, 0);
    memory.download(static_cast<uint8_t*>(destination.ArrayBuffer().Data()) + destination.ByteOffset(),
                    destination.ByteLength(), 0);
    return destination;
  });
}

// Lets go of the memory now (idempotent); a step in flight holds its own reference, so the
// memory goes when that step is done.
Napi::Value DeviceArrayWrap::Free(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    requireReceiver(info, kNativeDeviceArrayTag, "NativeDeviceArray");
    memory_.reset();
    return info.Env().Undefined();
  });
}

}  // namespace microadam::napi
