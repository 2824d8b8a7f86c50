#include "async_copies.h"

#include <cstring>

#include "../core/parallel_copy.h"

namespace microadam::napi {

// Large copies go to the engine's threads (the caller takes part); small ones are not worth the
// hand-off.
constexpr uint64_t kParallelCopyBytes = uint64_t(1) << 22;

void copyBytes(void* to, const void* from, uint64_t bytes) {
  if (bytes >= kParallelCopyBytes)
    parallelCopy(to, from, bytes);
  else if (bytes > 0)
    std::memcpy(to, from, bytes);
}

void* currentMemory(Napi::Env env, const Napi::Value& typedArray, uint64_t numel, const std::string& name) {
  const std::string undone = "; the step was undone: params and state are unchanged";
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  size_t byteOffset = 0;
  bool detached = false;
  if (napi_get_typedarray_info(env, typedArray, &type, &length, &data, &buffer, &byteOffset) != napi_ok ||
      napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok)
    throw BufferChangedError("Expected " + name + " to stay readable until its async step settled" + undone);
  if (detached || data == nullptr)
    throw BufferChangedError("Expected " + name +
                             " to keep its buffer until its async step settled but the buffer was detached" + undone);
  if (length != numel)
    throw BufferChangedError("Expected " + name + " to keep its " + std::to_string(numel) +
                             " elements until its async step settled but it has " + std::to_string(length) +
                             " (its buffer was resized)" + undone);
  return data;
}

void StateBackup::begin(uint64_t step) {
  used_ = 0;
  step_ = step;
}

void StateBackup::add(void* region, uint64_t bytes) {
  if (used_ == regions_.size()) regions_.emplace_back();
  Region& r = regions_[used_++];
  if (r.capacity < bytes) {
    r.copy.reset();  // the old memory goes first: peak memory stays one copy
    r.copy.reset(new uint8_t[bytes]);
    r.capacity = bytes;
  }
  r.at = static_cast<uint8_t*>(region);
  r.bytes = bytes;
  copyBytes(r.copy.get(), r.at, bytes);
}

uint64_t StateBackup::copyBack() const {
  for (size_t i = 0; i < used_; ++i) copyBytes(regions_[i].at, regions_[i].copy.get(), regions_[i].bytes);
  return step_;
}

TensorView AsyncBuffers::copyOf(Slot slot, const TensorView& source) {
  if (source.onDevice) return source;  // not JS memory: the caller's promise (docs/reliability.md)
  Buffer& b = buffers_[slot];
  const uint64_t bytes = source.numel * dtypeBytes(source.dtype);
  if (b.capacity < bytes) {
    b.data.reset();
    b.data.reset(new uint8_t[bytes]);
    b.capacity = bytes;
  }
  copyBytes(b.data.get(), source.data, bytes);
  return TensorView{b.data.get(), source.numel, source.dtype};
}

}  // namespace microadam::napi
