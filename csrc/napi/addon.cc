// Module entry: registers the native classes (NativeState, NativeAdamWState, NativeDeviceArray)
// and the step functions.
#include <napi.h>

#include <thread>

#include "../core/backend.h"
#include "../core/block_step.h"
#include "../core/call_format.h"
#include "../core/errors.h"
#include "../core/thread_pool.h"
#include "adamw_state_wrap.h"
#include "addon_data.h"
#include "communicator_wrap.h"
#include "device_array_wrap.h"
#include "device_options.h"
#include "js_args.h"
#include "js_errors.h"
#include "state_wrap.h"
#include "step_call.h"

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

template <size_t N>
Napi::Array namesArray(Napi::Env env, const std::array<const char*, N>& names) {
  Napi::Array a = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; ++i) a.Set(uint32_t(i), names[i]);
  return a;
}

// callFormat(): the packed step call of core/call_format.h (each name at its code), so that a
// test can hold the facade's constants (lib/hyper.ts, lib/tensor.ts) to the one definition.
Napi::Value CallFormat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("hyperFields", namesArray(env, kHyperFieldNames));
  o.Set("dtypes", namesArray(env, kDtypeNames));
  o.Set("nonFinitePolicies", namesArray(env, kNonFinitePolicyNames));
  o.Set("dtypesPerTensor", double(kDtypesPerTensor));
  return o;
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("hardwareThreads", double(std::thread::hardware_concurrency()));
  o.Set("compiler", __VERSION__);
  // MICROADAM_CPU_PATH may name no usable path: the steps throw then; this only reports it.
  try {
    o.Set("cpuKernel", blockKernelName());
  } catch (const std::exception& e) {
    o.Set("cpuKernel", "unavailable");
    o.Set("cpuKernelError", e.what());
  }
  // What the CUDA entry of the backend registry reports: the engine's probe of the runtime, or
  // the stand-in's reason in a build without CUDA.
  const BackendDescription d = backendFor(Device::Cuda).describe();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", d.compiled);
  cuda.Set("usable", d.usable);
  if (d.compiled) {
    cuda.Set("runtimeVersion", double(d.runtimeVersion));
    cuda.Set("errorCode", double(d.errorCode));
  }
  cuda.Set("error", d.error);
  Napi::Array devices = Napi::Array::New(env, d.devices.size());
  for (size_t i = 0; i < d.devices.size(); ++i) {
    const DeviceDescription& device = d.devices[i];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("index", double(device.index));
    entry.Set("name", device.name);
    entry.Set("totalMemoryBytes", double(device.totalMemoryBytes));
    entry.Set("computeCapability", device.computeCapability);
    // The largest topkBlockSize a state on this device takes ('auto' picks the CPU above it).
    entry.Set("largestTopkBlockSize", double(device.largestTopkBlockSize));
    devices.Set(uint32_t(i), entry);
  }
  cuda.Set("devices", devices);
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
  exports.Set("mixedStep", Napi::Function::New(env, MixedStepSync, "mixedStep"));
  exports.Set("mixedStepAsync", Napi::Function::New(env, MixedStepAsync, "mixedStepAsync"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("callFormat", Napi::Function::New(env, CallFormat, "callFormat"));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("NativeDeviceArray", DeviceArrayWrap::DefineClass(env));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
  data->communicatorConstructor = Napi::Persistent(CommunicatorWrap::DefineClass(env));
  exports.Set("NativeCommunicator", data->communicatorConstructor.Value());
  exports.Set("collectives", Napi::Function::New(env, Collectives, "collectives"));
  exports.Set("requireCollectives", Napi::Function::New(env, RequireCollectives, "requireCollectives"));
  exports.Set("newCommunicatorId", Napi::Function::New(env, NewCommunicatorId, "newCommunicatorId"));
  exports.Set("createCommunicator", Napi::Function::New(env, CreateCommunicator, "createCommunicator"));
  return exports;
}

}  // namespace

}  // namespace microadam::napi

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return microadam::napi::Init(env, exports); }

NODE_API_MODULE(microadam_native, InitModule)
