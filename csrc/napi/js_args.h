// Argument checks for the N-API layer. The TypeScript facade checks first with friendlier
// messages; these checks are the second line for callers that bypass it.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace microadam::napi {

std::string describeValue(const Napi::Value& value);

Napi::Object requireObject(const Napi::Value& value, const std::string& name);
Napi::Array requireArray(const Napi::Value& value, const std::string& name);
double requireNumber(const Napi::Value& value, const std::string& name);
// An integer-valued number in [min, max].
uint64_t requireInteger(const Napi::Value& value, const std::string& name, double min, double max);

// A typed array of exactly type `type`, on an ArrayBuffer (not shared) that is not detached.
Napi::TypedArray requireTypedArray(const Napi::Value& value, napi_typedarray_type type, const std::string& name);

}  // namespace microadam::napi
