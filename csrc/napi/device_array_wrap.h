// JS class NativeDeviceArray (lib/device-array.ts wraps it as DeviceArray): a block of CUDA
// device memory holding `numel` elements of one dtype, owned through a shared_ptr so that a step
// in flight keeps it alive after free() or garbage collection; the memory goes when the last
// holder lets go. The memory comes from the CUDA entry of the backend registry
// (core/backend.h): in a build without CUDA the class exists but its constructor throws.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "../core/backend.h"
#include "../core/tensor.h"

namespace microadam::napi {

class DeviceArrayWrap : public Napi::ObjectWrap<DeviceArrayWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  // new NativeDeviceArray(numel, dtypeCode, deviceIndex)
  explicit DeviceArrayWrap(const Napi::CallbackInfo& info);

  // A step's view of the memory (on the device), or a StateError naming `name` once freed.
  TensorView view(const std::string& name) const;
  // What a step holds so that the memory outlives free() until the step is done (empty once freed).
  std::shared_ptr<DeviceMemory> memory() const { return memory_; }
  int deviceIndex() const { return deviceIndex_; }
  Dtype dtype() const { return dtype_; }

 private:
  Napi::Value Ptr(const Napi::CallbackInfo& info);
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value DtypeName(const Napi::CallbackInfo& info);
  Napi::Value DeviceIndex(const Napi::CallbackInfo& info);
  Napi::Value ByteLength(const Napi::CallbackInfo& info);
  Napi::Value Freed(const Napi::CallbackInfo& info);
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);

  // The host typed array a copy goes to or from: the dtype's type, exactly numel elements.
  Napi::TypedArray hostArray(const Napi::Value& value, const std::string& name) const;

  uint64_t numel_ = 0;
  Dtype dtype_ = Dtype::F32;
  int deviceIndex_ = 0;
  std::shared_ptr<DeviceMemory> memory_;
  // The memory, or a StateError naming `name` once freed.
  DeviceMemory& live(const std::string& name) const;
};

}  // namespace microadam::napi
