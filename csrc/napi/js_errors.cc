#include "js_errors.h"

#include <new>

#include "../core/errors.h"
#include "async_copies.h"

namespace microadam::napi {

FailureInfo classifyCurrentException() {
  using Kind = FailureInfo::Kind;
  try {
    throw;
  } catch (const microadam::TypeError& e) {
    return {Kind::TypeError, e.what(), "ERR_INVALID_ARG_TYPE"};
  } catch (const microadam::RangeError& e) {
    return {Kind::RangeError, e.what(), "ERR_OUT_OF_RANGE"};
  } catch (const microadam::StateError& e) {
    return {Kind::Error, e.what(), "ERR_MICROADAM_STATE"};
  } catch (const BufferChangedError& e) {
    return {Kind::TypeError, e.what(), "ERR_MICROADAM_DETACHED"};
  } catch (const microadam::NonFiniteGradientError& e) {
    return {Kind::Error, e.what(), "ERR_MICROADAM_NON_FINITE"};
  } catch (const microadam::DeviceError& e) {  // a CUDA runtime call failed: its name and string
    return {Kind::Error, e.what(), "ERR_MICROADAM_CUDA"};
  } catch (const microadam::DeviceUnavailableError& e) {
    return {Kind::Error, e.what(), "ERR_MICROADAM_DEVICE"};
  } catch (const microadam::CollectiveTimeoutError& e) {  // the same codes as the MPI group's
    return {Kind::Error, e.what(), "ERR_MICROADAM_DISTRIBUTED_TIMEOUT"};
  } catch (const microadam::CollectiveError& e) {
    return {Kind::Error, e.what(), "ERR_MICROADAM_DISTRIBUTED"};
  } catch (const std::bad_alloc&) {
    return {Kind::Error, "microadam-native: out of memory", "ERR_MICROADAM_OUT_OF_MEMORY"};
  } catch (const std::exception& e) {
    return {Kind::Error, std::string("microadam-native: ") + e.what(), "ERR_MICROADAM_INTERNAL"};
  } catch (...) {
    return {Kind::Error, "microadam-native: unknown native error", "ERR_MICROADAM_INTERNAL"};
  }
}

Napi::Error toJsError(Napi::Env env, const FailureInfo& f) {
  Napi::Error error = f.kind == FailureInfo::Kind::TypeError    ? Napi::TypeError::New(env, f.message)
                      : f.kind == FailureInfo::Kind::RangeError ? Napi::RangeError::New(env, f.message)
                                                                : Napi::Error::New(env, f.message);
  error.Value().Set("code", Napi::String::New(env, f.code));
  return error;
}

}  // namespace microadam::napi
