// Type tags of the addon's JS classes (napi_type_tag_object). Every object a class constructs
// carries its tag, and native code checks the tag before unwrapping: a look-alike object
// (Object.create(NativeState.prototype), a spoofed Symbol.hasInstance) or an object of the other
// class is refused with a TypeError instead of being cast to the wrong C++ type.
#pragma once

#include <napi.h>

#include <string>

#include "../core/errors.h"
#include "js_args.h"

namespace microadam::napi {

inline constexpr napi_type_tag kNativeStateTag = {0x6d6963726f616461ULL, 0x6d2e4e6174697665ULL};
inline constexpr napi_type_tag kNativeAdamWStateTag = {0x6d6963726f616461ULL, 0x6d2e4164616d5721ULL};
inline constexpr napi_type_tag kNativeDeviceArrayTag = {0x6d6963726f616461ULL, 0x6d2e446576417272ULL};

inline bool hasTypeTag(const Napi::Value& value, const napi_type_tag& tag) {
  return value.IsObject() && value.As<Napi::Object>().CheckTypeTag(&tag);
}

// Methods can be called with any receiver (NativeState.prototype.dispose.call(x)) and
// node-addon-api has unwrapped it already, so a method checks this before touching a member.
inline void requireReceiver(const Napi::CallbackInfo& info, const napi_type_tag& tag, const char* className) {
  if (!hasTypeTag(info.This(), tag))
    throw TypeError(std::string(className) + " methods must be called on a " + className + ", received " +
                    describeValue(info.This()));
}

}  // namespace microadam::napi
