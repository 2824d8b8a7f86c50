#include "device_tensor.h"

#include "../core/errors.h"
#include "device_array_wrap.h"
#include "js_args.h"
#include "type_tags.h"

namespace microadam::napi {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;

std::string quoted(Dtype d) { return std::string("'") + dtypeName(d) + "'"; }
}  // namespace

Dtype readDtype(const Napi::Value& value, const std::string& name) {
  const std::string s = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  for (size_t code = 0; code < kDtypeNames.size(); ++code)
    if (s == kDtypeNames[code]) return Dtype(code);
  throw TypeError("Expected one of 'f32', 'bf16', 'f16' for " + name + " but received " + describeValue(value));
}

std::optional<DeviceTensorRecord> readDeviceTensorRecord(const Napi::Value& value, const std::string& name) {
  if (!value.IsObject() || value.IsTypedArray() || value.IsArray() || hasTypeTag(value, kNativeDeviceArrayTag))
    return std::nullopt;
  Napi::Object o = value.As<Napi::Object>();
  if (!o.Has("ptr") && !o.Has("device")) return std::nullopt;
  const Napi::Value device = o.Get("device");
  if (!device.IsString() || device.As<Napi::String>().Utf8Value() != "cuda")
    throw TypeError("Expected 'cuda' for " + name + ".device but received " + describeValue(device));
  const Napi::Value ptr = o.Get("ptr");
  if (!ptr.IsBigInt())
    throw TypeError("Expected a bigint (a device address) for " + name + ".ptr but received " + describeValue(ptr));
  bool lossless = false;
  DeviceTensorRecord record;
  record.address = ptr.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || record.address == 0)
    throw RangeError("Expected a bigint in [1, 2^64 - 1] (a device address) for " + name + ".ptr but received " +
                     (lossless ? std::string("0n") : std::string("one outside it")));
  record.numel = requireInteger(o.Get("numel"), name + ".numel", 1, kMaxSafeInteger);
  record.dtype = readDtype(o.Get("dtype"), name + ".dtype");
  return record;
}

TensorArg readTensor(const Napi::Value& value, const std::optional<DeviceTensorRecord>& record, Dtype dtype,
                     const std::string& name) {
  TensorArg arg;
  if (record) {
    if (record->dtype != dtype)
      throw TypeError("Expected " + quoted(dtype) + " (its code in dtypes) for " + name + ".dtype but received " +
                      quoted(record->dtype));
    arg.view = TensorView{reinterpret_cast<void*>(uintptr_t(record->address)), record->numel, dtype, true};
    return arg;
  }
  if (hasTypeTag(value, kNativeDeviceArrayTag)) {
    const DeviceArrayWrap* array = DeviceArrayWrap::Unwrap(value.As<Napi::Object>());
    if (array->dtype() != dtype)
      throw TypeError("Expected a DeviceArray of dtype " + quoted(dtype) + " (its code in dtypes) for " + name +
                      " but received one of dtype " + quoted(array->dtype()));
    arg.view = array->view(name);
    arg.memory = array->memory();
    return arg;
  }
  const napi_typedarray_type want = dtype == Dtype::F32 ? napi_float32_array : napi_uint16_array;
  Napi::TypedArray t = requireTypedArray(value, want, name);
  arg.view.data = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  arg.view.numel = t.ElementLength();
  arg.view.dtype = dtype;
  return arg;
}

}  // namespace microadam::napi
