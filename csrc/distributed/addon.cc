// The N-API layer of the optional distributed addon (build/distributed/microadam_distributed.node):
// converts arguments, queues each collective on the group's communication thread
// (mpi_group.h) and settles a Promise on the JS thread when it is done. Separate from the main
// addon so that the main addon never needs libmpi to load (docs/distributed.md, "Packaging").
#include <napi.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "mpi_group.h"

namespace microadam::distributed {
namespace {

struct Failure {
  enum class Kind { Error, TypeError, RangeError } kind = Kind::Error;
  std::string message;
  std::string code;
};

Failure classify() {
  try {
    throw;
  } catch (const CollectiveTimeout& e) {
    return {Failure::Kind::Error, std::string("microadam-native/distributed: ") + e.what(), "ERR_MICROADAM_DISTRIBUTED_TIMEOUT"};
  } catch (const CollectiveError& e) {
    return {Failure::Kind::Error, std::string("microadam-native/distributed: ") + e.what(), "ERR_MICROADAM_DISTRIBUTED"};
  } catch (const ArgumentError& e) {
    return {Failure::Kind::RangeError, std::string("microadam-native/distributed: ") + e.what(), "ERR_OUT_OF_RANGE"};
  } catch (const std::bad_alloc&) {
    return {Failure::Kind::Error, "microadam-native/distributed: out of memory", "ERR_MICROADAM_OUT_OF_MEMORY"};
  } catch (const std::exception& e) {
    return {Failure::Kind::Error, std::string("microadam-native/distributed: ") + e.what(), "ERR_MICROADAM_INTERNAL"};
  } catch (...) {
    return {Failure::Kind::Error, "microadam-native/distributed: unknown native error", "ERR_MICROADAM_INTERNAL"};
  }
}

Napi::Error toJs(Napi::Env env, const Failure& f) {
  Napi::Error error = f.kind == Failure::Kind::TypeError    ? Napi::TypeError::New(env, f.message)
                      : f.kind == Failure::Kind::RangeError ? Napi::RangeError::New(env, f.message)
                                                            : Napi::Error::New(env, f.message);
  error.Value().Set("code", Napi::String::New(env, f.code));
  return error;
}

// One collective in flight: what the JS thread must keep alive (the typed arrays, by reference)
// and what it must settle.
struct Operation {
  explicit Operation(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  std::vector<Napi::Reference<Napi::Value>> keepAlive;
  std::function<void()> work;                         // on the communication thread
  std::function<Napi::Value(Napi::Env)> result;       // on the JS thread, after work succeeded
  bool failed = false;
  Failure failure;
};

void settle(Napi::Env env, Napi::Function, std::nullptr_t*, Operation* op);
using Completion = Napi::TypedThreadSafeFunction<std::nullptr_t, Operation, settle>;

struct AddonState {
  Completion completion;
  int pending = 0;  // operations queued; the completion function holds the event loop only while > 0
  bool started = false;
};
AddonState* addonState = nullptr;

void settle(Napi::Env env, Napi::Function, std::nullptr_t*, Operation* op) {
  std::unique_ptr<Operation> owned(op);
  if (env == nullptr) return;  // the environment is going away
  Napi::HandleScope scope(env);
  if (--addonState->pending == 0) addonState->completion.Unref(env);
  if (op->failed) {
    op->deferred.Reject(toJs(env, op->failure).Value());
    return;
  }
  try {
    op->deferred.Resolve(op->result ? op->result(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    op->deferred.Reject(e.Value());
  }
}

MpiGroup& requireGroup() {
  MpiGroup* group = MpiGroup::current();
  if (group == nullptr || !addonState->started)
    throw CollectiveError("the process group is not initialized: call init() first");
  return *group;
}

Napi::Value enqueue(Napi::Env env, std::unique_ptr<Operation> op) {
  MpiGroup& group = requireGroup();
  Napi::Promise promise = op->deferred.Promise();
  Operation* raw = op.get();
  if (addonState->pending++ == 0) addonState->completion.Ref(env);
  try {
    group.post([raw] {
      try {
        raw->work();
      } catch (...) {
        raw->failed = true;
        raw->failure = classify();
      }
      // The queue is unbounded (max 0), so this only fails while the environment closes.
      addonState->completion.NonBlockingCall(raw);
    });
  } catch (...) {
    if (--addonState->pending == 0) addonState->completion.Unref(env);
    throw;
  }
  op.release();
  return promise;
}

// Runs the operation on the communication thread and waits for it on the JS thread (the Sync
// forms, for hosts whose step is synchronous, such as a tfjs optimizer's applyGradients).
Napi::Value runNow(Napi::Env env, std::unique_ptr<Operation> op) {
  requireGroup().runAndWait(op->work);  // an exception propagates to guarded()
  return op->result ? op->result(env) : env.Undefined();
}

template <bool Sync>
Napi::Value finish(Napi::Env env, std::unique_ptr<Operation> op) {
  return Sync ? runNow(env, std::move(op)) : enqueue(env, std::move(op));
}

template <typename Fn>
Napi::Value guarded(const Napi::CallbackInfo& info, Fn fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw toJs(info.Env(), classify());
  }
}

struct Buffer {
  void* data = nullptr;
  int64_t length = 0;  // elements
  ElementType type = ElementType::Byte;
};

Buffer typedArray(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(value.Env(), std::string("Expected a typed array for ") + name);
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  Buffer b;
  switch (array.TypedArrayType()) {
    case napi_uint8_array: b.type = ElementType::Byte; break;
    case napi_int32_array: b.type = ElementType::Int32; break;
    case napi_float32_array: b.type = ElementType::Float32; break;
    case napi_float64_array: b.type = ElementType::Float64; break;
    case napi_uint16_array: b.type = ElementType::Uint16; break;
    default:
      throw Napi::TypeError::New(value.Env(), std::string("Expected a Uint8Array, Int32Array, Float32Array or Float64Array for ") + name);
  }
  b.length = static_cast<int64_t>(array.ElementLength());
  b.data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  return b;
}

std::vector<int64_t> counts(const Napi::Value& value, const char* name) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string("Expected an array of counts for ") + name);
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int64_t> result(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value v = array.Get(i);
    if (!v.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string("Expected numbers in ") + name);
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)))
      throw Napi::RangeError::New(value.Env(), std::string("Expected non-negative integers in ") + name);
    result[i] = static_cast<int64_t>(d);
  }
  return result;
}

void keep(Operation& op, const Napi::Value& value) { op.keepAlive.push_back(Napi::Persistent(value)); }

Napi::Value Init(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    double timeout = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 300.0;
    if (!(timeout > 0)) throw Napi::RangeError::New(env, "Expected a positive timeout in seconds");
    if (!addonState->started) {
      MpiGroup::start(timeout);
      addonState->completion = Completion::New(env, "microadam-distributed", 0, 1);
      addonState->completion.Unref(env);
      addonState->started = true;
    } else {
      MpiGroup::current()->setTimeoutSeconds(timeout);
    }
    MpiGroup& group = *MpiGroup::current();
    Napi::Object result = Napi::Object::New(env);
    result.Set("rank", group.info().rank);
    result.Set("size", group.info().size);
    result.Set("threadLevel", group.info().threadLevel);
    result.Set("library", group.info().library);
    result.Set("finalized", group.finalized());
    return result;
  });
}

// (tensors: (Float32Array | Uint16Array)[], counts: Int32Array, offsets: Int32Array): the cuts of
// MpiGroup::TensorCuts (Uint16Arrays: bf16/f16 params, for the all-gather only); every tensor is
// kept alive by the operation.
MpiGroup::TensorCuts tensorCuts(const Napi::CallbackInfo& info, Operation& op) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "Expected an array of Float32Arrays or Uint16Arrays for tensors");
  Napi::Array tensors = info[0].As<Napi::Array>();
  MpiGroup::TensorCuts cuts;
  for (uint32_t t = 0; t < tensors.Length(); t++) {
    Napi::Value value = tensors.Get(t);
    Buffer b = typedArray(value, "tensors[i]");
    if (b.type != ElementType::Float32 && b.type != ElementType::Uint16)
      throw Napi::TypeError::New(env, "Expected Float32Arrays or Uint16Arrays in tensors");
    cuts.tensors.push_back(b.data);
    cuts.types.push_back(b.type);
    cuts.lengths.push_back(b.length);
    keep(op, value);
  }
  for (int i : {1, 2}) {
    Buffer b = typedArray(info[i], i == 1 ? "counts" : "offsets");
    if (b.type != ElementType::Int32) throw Napi::TypeError::New(env, "Expected Int32Arrays for counts and offsets");
    const int* data = static_cast<const int*>(b.data);
    (i == 1 ? cuts.counts : cuts.offsets).assign(data, data + b.length);
  }
  MpiGroup::current()->checkCuts(cuts);  // before anything is queued: a bad cut throws here
  return cuts;
}

template <bool Sync>
Napi::Value ReduceScatterInRankOrder(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    requireGroup();
    auto op = std::make_unique<Operation>(env);
    MpiGroup::TensorCuts cuts = tensorCuts(info, *op);
    for (ElementType type : cuts.types)
      if (type != ElementType::Float32) throw Napi::TypeError::New(env, "Expected Float32Arrays in tensors (the gradients)");
    Buffer out = typedArray(info[3], "out");
    if (out.type != ElementType::Float32) throw Napi::TypeError::New(env, "Expected a Float32Array for out");
    bool mean = info[4].ToBoolean();
    if (!info[5].IsNumber() || !(info[5].As<Napi::Number>().DoubleValue() >= 1))
      throw Napi::RangeError::New(env, "Expected a positive number of elements for chunkElements");
    int64_t chunkElements = static_cast<int64_t>(info[5].As<Napi::Number>().DoubleValue());
    keep(*op, info[3]);
    auto nonFinite = std::make_shared<bool>(false);
    op->work = [cuts = std::move(cuts), out, mean, chunkElements, nonFinite] {
      *nonFinite = MpiGroup::current()->reduceScatterInRankOrder(cuts, static_cast<float*>(out.data), out.length, mean, chunkElements);
    };
    op->result = [nonFinite](Napi::Env e) -> Napi::Value { return Napi::Boolean::New(e, *nonFinite); };
    return finish<Sync>(env, std::move(op));
  });
}

template <bool Sync>
Napi::Value AllGatherInPlace(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    requireGroup();
    auto op = std::make_unique<Operation>(env);
    MpiGroup::TensorCuts cuts = tensorCuts(info, *op);
    op->work = [cuts = std::move(cuts)] { MpiGroup::current()->allGatherInPlace(cuts); };
    return finish<Sync>(env, std::move(op));
  });
}

Napi::Value AllGatherV(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Buffer send = typedArray(info[0], "send");
    Buffer recv = typedArray(info[1], "recv");
    std::vector<int64_t> recvCounts = counts(info[2], "counts");
    if (send.type != recv.type) throw Napi::TypeError::New(env, "Expected send and recv of the same element type");
    int64_t total = 0;
    for (int64_t c : recvCounts) total += c;
    if (total != recv.length)
      throw Napi::RangeError::New(env, "counts add up to " + std::to_string(total) + " but recv has " + std::to_string(recv.length));
    auto op = std::make_unique<Operation>(env);
    keep(*op, info[0]);
    keep(*op, info[1]);
    op->work = [send, recv, recvCounts] { MpiGroup::current()->allGatherV(send.data, send.length, recv.data, recvCounts, send.type); };
    return enqueue(env, std::move(op));
  });
}

template <bool Sync>
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Buffer send = typedArray(info[0], "values");
    if (send.type != ElementType::Int32 && send.type != ElementType::Float64)
      throw Napi::TypeError::New(env, "Expected an Int32Array or Float64Array for values");
    std::string opName = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    ReduceOp reduce;
    if (opName == "max") reduce = ReduceOp::Max;
    else if (opName == "min") reduce = ReduceOp::Min;
    else if (opName == "sum") reduce = ReduceOp::Sum;
    else throw Napi::RangeError::New(env, "Expected 'max', 'min' or 'sum' for op");
    // The result goes to a fresh array of the same type.
    Napi::TypedArray input = info[0].As<Napi::TypedArray>();
    Napi::ArrayBuffer resultBuffer = Napi::ArrayBuffer::New(env, input.ByteLength());
    Napi::Value result = send.type == ElementType::Int32
                             ? Napi::Value(Napi::Int32Array::New(env, send.length, resultBuffer, 0))
                             : Napi::Value(Napi::Float64Array::New(env, send.length, resultBuffer, 0));
    Buffer recv = typedArray(result, "result");
    auto op = std::make_unique<Operation>(env);
    keep(*op, info[0]);
    keep(*op, result);
    op->work = [send, recv, reduce] { MpiGroup::current()->allReduce(send.data, recv.data, send.length, send.type, reduce); };
    Operation* raw = op.get();
    op->result = [raw](Napi::Env) -> Napi::Value { return raw->keepAlive[1].Value(); };
    return finish<Sync>(env, std::move(op));
  });
}

template <bool Sync>
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Buffer buffer = typedArray(info[0], "buffer");
    if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "Expected a rank for root");
    int root = info[1].As<Napi::Number>().Int32Value();
    auto op = std::make_unique<Operation>(env);
    keep(*op, info[0]);
    op->work = [buffer, root] { MpiGroup::current()->broadcast(buffer.data, buffer.length, buffer.type, root); };
    return finish<Sync>(env, std::move(op));
  });
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto op = std::make_unique<Operation>(info.Env());
    op->work = [] { MpiGroup::current()->barrier(); };
    return enqueue(info.Env(), std::move(op));
  });
}

// Waits for the queued collectives (each bounded by the timeout), then MPI_Finalize.
Napi::Value Finalize(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (MpiGroup* group = MpiGroup::current()) group->finalize();
    return info.Env().Undefined();
  });
}

void finalizeAtExit() {
  if (MpiGroup* group = MpiGroup::current()) {
    try {
      group->finalize();
    } catch (...) {
    }
  }
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  addonState = new AddonState();  // one per process (MPI is); never freed: collectives may finish at exit
  // A process that ends without finalize() would make mpirun report the job as failed.
  env.AddCleanupHook([] { finalizeAtExit(); });
  std::atexit(finalizeAtExit);
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("reduceScatterInRankOrder", Napi::Function::New(env, ReduceScatterInRankOrder<false>));
  exports.Set("reduceScatterInRankOrderSync", Napi::Function::New(env, ReduceScatterInRankOrder<true>));
  exports.Set("allGatherInPlace", Napi::Function::New(env, AllGatherInPlace<false>));
  exports.Set("allGatherInPlaceSync", Napi::Function::New(env, AllGatherInPlace<true>));
  exports.Set("allGatherV", Napi::Function::New(env, AllGatherV));
  exports.Set("allReduce", Napi::Function::New(env, AllReduce<false>));
  exports.Set("allReduceSync", Napi::Function::New(env, AllReduce<true>));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast<false>));
  exports.Set("broadcastSync", Napi::Function::New(env, Broadcast<true>));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  return exports;
}

}  // namespace
}  // namespace microadam::distributed

static Napi::Object InitDistributed(Napi::Env env, Napi::Object exports) {
  return microadam::distributed::Module(env, exports);
}

NODE_API_MODULE(microadam_distributed, InitDistributed)
