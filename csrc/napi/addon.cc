// Module entry: registers the native classes (NativeState, NativeAdamWState, NativeDeviceArray)
// and the step functions.
#include <napi.h>

#include <thread>

#include "../core/block_step.h"
#include "../core/errors.h"
#include "../core/memory_probe.h"
#include "../core/thread_pool.h"
#include "adamw_state_wrap.h"
#include "addon_data.h"
#include "cuda_backend.h"
#include "device_array_wrap.h"
#include "js_args.h"
#include "js_errors.h"
#include "state_wrap.h"
#include "step_call.h"

#if MICROADAM_WITH_CUDA
#include "cuda/device_probe.h"
#include "cuda/device_state.h"
#endif

namespace microadam::napi {

namespace {

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    const uint64_t threads = requireInteger(info[0], "threads", 1, 1024);
    ThreadPool::shared().setThreadCount(unsigned(threads));
    return info.Env().Undefined();
  });
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ThreadPool::shared().threadCount());
}

// copyBandwidthProbe(destination, source): copies one typed array's bytes into another of the
// same byte length on the engine's threads (the benchmarks' bandwidth probe).
Napi::Value CopyBandwidthProbe(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    if (!info[0].IsTypedArray() || !info[1].IsTypedArray())
      throw TypeError("Expected typed arrays for destination and source but received " + describeValue(info[0]) +
                      " and " + describeValue(info[1]));
    Napi::TypedArray to = info[0].As<Napi::TypedArray>(), from = info[1].As<Napi::TypedArray>();
    if (to.ByteLength() != from.ByteLength())
      throw RangeError("destination and source must have the same byte length");
    parallelCopy(static_cast<uint8_t*>(to.ArrayBuffer().Data()) + to.ByteOffset(),
                 static_cast<const uint8_t*>(from.ArrayBuffer().Data()) + from.ByteOffset(), to.ByteLength());
    return info.Env().Undefined();
  });
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("hardwareThreads", double(std::thread::hardware_concurrency()));
  o.Set("compiler", __VERSION__);
  o.Set("cpuKernel", blockKernelName());
  Napi::Object cuda = Napi::Object::New(env);
#if MICROADAM_WITH_CUDA
  const cuda::RuntimeProbe probe = cuda::probeRuntime();
  cuda.Set("compiled", true);
  cuda.Set("usable", probe.usable);
  cuda.Set("runtimeVersion", double(probe.runtimeVersion));
  cuda.Set("errorCode", double(probe.errorCode));
  cuda.Set("error", probe.error);
  Napi::Array devices = Napi::Array::New(env, probe.devices.size());
  for (size_t i = 0; i < probe.devices.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", double(probe.devices[i].index));
    d.Set("name", probe.devices[i].name);
    d.Set("totalMemoryBytes", double(probe.devices[i].totalMemoryBytes));
    d.Set("computeCapability", std::to_string(probe.devices[i].computeMajor) + "." +
                                   std::to_string(probe.devices[i].computeMinor));
    // The largest topkBlockSize a state on this device takes ('auto' picks the CPU above it).
    uint32_t largestTopk = 0;
    try {
      largestTopk = cuda::largestTopkBlockSize(probe.devices[i].index);
    } catch (...) {
    }
    d.Set("largestTopkBlockSize", double(largestTopk));
    devices.Set(uint32_t(i), d);
  }
  cuda.Set("devices", devices);
#else
  cuda.Set("compiled", false);
  cuda.Set("usable", false);
  cuda.Set("error", "this build has no CUDA backend (no CUDA compiler was found, or MICROADAM_CUDA=OFF)");
  cuda.Set("devices", Napi::Array::New(env));
#endif
  o.Set("cuda", cuda);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->stateConstructor = Napi::Persistent(StateWrap::DefineClass(env));
  env.SetInstanceData(data);
  data->adamWStateConstructor = Napi::Persistent(AdamWStateWrap::DefineClass(env));
  exports.Set("NativeState", data->stateConstructor.Value());
  exports.Set("NativeAdamWState", data->adamWStateConstructor.Value());
  exports.Set("adamWStep", Napi::Function::New(env, AdamWStepSync, "adamWStep"));
  exports.Set("adamWStepAsync", Napi::Function::New(env, AdamWStepAsync, "adamWStepAsync"));
  exports.Set("step", Napi::Function::New(env, StepSync, "step"));
  exports.Set("stepAsync", Napi::Function::New(env, StepAsync, "stepAsync"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("copyBandwidthProbe", Napi::Function::New(env, CopyBandwidthProbe, "copyBandwidthProbe"));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("NativeDeviceArray", DeviceArrayWrap::DefineClass(env));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
  return exports;
}

}  // namespace

}  // namespace microadam::napi

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return microadam::napi::Init(env, exports); }

NODE_API_MODULE(microadam_native, InitModule)
