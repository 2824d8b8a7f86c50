// A bench-only addon (build/bench/microadam_bandwidth_probe.node, built by CMakeLists.txt beside
// the product addon and never shipped): copies one typed array's bytes into another on a pool of
// the engine's threads, the benchmarks' measure of this machine's memory bandwidth, the ceiling a
// memory-bound optimizer step can reach (bench/step/contenders.ts).
//
// This addon links its own copy of the core, so its thread pool is not the product addon's: the
// caller passes the thread count it set there.
#include <napi.h>

#include <string>

#include "core/parallel_copy.h"
#include "core/thread_pool.h"

namespace {

const uint8_t* bytesOf(const Napi::TypedArray& t) {
  return static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
}

// copy(destination, source, threads)
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber())
    throw Napi::TypeError::New(env, "copy(destination, source, threads): two typed arrays and a thread count");
  Napi::TypedArray to = info[0].As<Napi::TypedArray>(), from = info[1].As<Napi::TypedArray>();
  if (to.ByteLength() != from.ByteLength())
    throw Napi::RangeError::New(env, "destination and source must have the same byte length");
  const double threads = info[2].As<Napi::Number>().DoubleValue();
  if (!(threads >= 1 && threads <= 1024)) throw Napi::RangeError::New(env, "threads must be in [1, 1024]");
  microadam::ThreadPool& pool = microadam::ThreadPool::shared();
  if (pool.threadCount() != unsigned(threads)) pool.setThreadCount(unsigned(threads));
  microadam::parallelCopy(const_cast<uint8_t*>(bytesOf(to)), bytesOf(from), to.ByteLength());
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  return exports;
}

}  // namespace

NODE_API_MODULE(microadam_bandwidth_probe, Init)
