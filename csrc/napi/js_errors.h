// Turns the core's exceptions into JS errors of the matching class. Every N-API entry point
// runs its body through callGuarded, so no C++ exception reaches Node as a crash.
#pragma once

#include <napi.h>

#include <exception>
#include <string>

namespace microadam::napi {

// What a failed call should become in JS (recorded off the main thread, thrown on it).
struct FailureInfo {
  enum class Kind { Error, TypeError, RangeError } kind = Kind::Error;
  std::string message;
  std::string code;  // a stable `error.code` for programs to test
};

// Classifies the exception being handled (call from inside a catch block).
FailureInfo classifyCurrentException();

Napi::Error toJsError(Napi::Env env, const FailureInfo& failure);

template <typename Fn>
Napi::Value callGuarded(const Napi::CallbackInfo& info, Fn fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw toJsError(info.Env(), classifyCurrentException());
  }
}

}  // namespace microadam::napi
