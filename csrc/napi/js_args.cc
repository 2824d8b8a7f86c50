#include "js_args.h"

#include <cmath>
#include <sstream>

#include "../core/errors.h"

namespace microadam::napi {

namespace {
const char* typedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}
}  // namespace

std::string describeValue(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    return std::string(typedArrayName(t.TypedArrayType())) + "(" + std::to_string(t.ElementLength()) + ")";
  }
  if (v.IsArray()) return "an array";
  if (v.IsNumber()) {
    std::ostringstream out;
    out.precision(17);
    out << v.As<Napi::Number>().DoubleValue();
    return "number " + out.str();
  }
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsFunction()) return "a function";
  if (v.IsSymbol()) return "a symbol";
  if (v.IsArrayBuffer()) return "an ArrayBuffer";
  if (v.IsDataView()) return "a DataView";
  return "an object";
}

Napi::Object requireObject(const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray() || v.IsFunction())
    throw TypeError("Expected an object for " + name + " but received " + describeValue(v));
  return v.As<Napi::Object>();
}

Napi::Array requireArray(const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) throw TypeError("Expected an array for " + name + " but received " + describeValue(v));
  return v.As<Napi::Array>();
}

double requireNumber(const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) throw TypeError("Expected a number for " + name + " but received " + describeValue(v));
  return v.As<Napi::Number>().DoubleValue();
}

uint64_t requireInteger(const Napi::Value& v, const std::string& name, double min, double max) {
  const double d = requireNumber(v, name);
  if (!(d >= min && d <= max) || std::floor(d) != d) {
    std::ostringstream out;
    out.precision(17);
    out << "Expected an integer in [" << min << ", " << max << "] for " << name << " but received "
        << describeValue(v);
    throw RangeError(out.str());
  }
  return uint64_t(d);
}

Napi::TypedArray requireTypedArray(const Napi::Value& v, napi_typedarray_type type, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw TypeError("Expected a " + std::string(typedArrayName(type)) + " for " + name + " but received " +
                    describeValue(v));
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  // napi_get_arraybuffer_info (ArrayBuffer().Data()) does not accept a SharedArrayBuffer.
  if (!Napi::Value(t.ArrayBuffer()).IsArrayBuffer())
    throw TypeError("Expected " + name + " to be backed by an ArrayBuffer but it is backed by a SharedArrayBuffer");
  if (t.ArrayBuffer().IsDetached()) throw TypeError("Expected " + name + " to be attached but its buffer is detached");
  return t;
}

}  // namespace microadam::napi
