#include "communicator_wrap.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../core/backend.h"
#include "../core/errors.h"
#include "addon_data.h"
#include "js_args.h"
#include "js_errors.h"

namespace microadam::napi {

namespace {

constexpr double kMaxDeviceIndex = 65535;

const Backend& cuda() { return backendFor(Device::Cuda); }

uint64_t readPointer(const Napi::Value& value, const std::string& name) {
  if (!value.IsBigInt()) throw TypeError("Expected a bigint (a device address) for " + name + " but received " + describeValue(value));
  bool lossless = false;
  const uint64_t address = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || address == 0) throw RangeError("Expected a non-zero bigint below 2^64 (a device address) for " + name);
  return address;
}

std::vector<int64_t> readInt32s(const Napi::Value& value, const std::string& name) {
  Napi::TypedArray array = requireTypedArray(value, napi_int32_array, name);
  const auto* data = static_cast<const int32_t*>(array.As<Napi::Int32Array>().Data());
  return std::vector<int64_t>(data, data + array.ElementLength());
}

// The tensors (device addresses) and how every rank cuts them.
struct CutTensors {
  ShardCuts cuts;
  std::vector<float*> tensors;
};

CutTensors readCutTensors(const Napi::CallbackInfo& info, int size) {
  CutTensors c;
  Napi::Array tensors = requireArray(info[0], "tensors");
  Napi::Array lengths = requireArray(info[1], "lengths");
  if (lengths.Length() != tensors.Length())
    throw RangeError("Expected one length per tensor (" + std::to_string(tensors.Length()) + ") but received " +
                     std::to_string(lengths.Length()));
  for (uint32_t i = 0; i < tensors.Length(); ++i) {
    c.tensors.push_back(reinterpret_cast<float*>(readPointer(tensors.Get(i), "tensors[" + std::to_string(i) + "]")));
    c.cuts.lengths.push_back(int64_t(requireInteger(lengths.Get(i), "lengths[" + std::to_string(i) + "]", 1, 9007199254740991.0)));
  }
  c.cuts.size = size;
  c.cuts.counts = readInt32s(info[2], "counts");
  c.cuts.offsets = readInt32s(info[3], "offsets");
  checkShardCuts(c.cuts);
  return c;
}

// A collective on a worker thread, settling a Promise with what `run` returns (converted on the
// JS thread by `toJs`). The worker holds the communicator, so it outlives a dropped wrapper.
template <typename Result>
class CollectiveWorker : public Napi::AsyncWorker {
 public:
  CollectiveWorker(Napi::Env env, std::function<Result()> run, std::function<Napi::Value(Napi::Env, const Result&)> toJs)
      : Napi::AsyncWorker(env, "microadam.collective"),
        run_(std::move(run)),
        toJs_(std::move(toJs)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_ = run_();
    } catch (...) {
      failure_ = classifyCurrentException();
      failed_ = true;
    }
  }

  void OnOK() override {
    if (failed_)
      deferred_.Reject(toJsError(Env(), failure_).Value());
    else
      deferred_.Resolve(toJs_(Env(), result_));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  std::function<Result()> run_;
  std::function<Napi::Value(Napi::Env, const Result&)> toJs_;
  Napi::Promise::Deferred deferred_;
  Result result_{};
  FailureInfo failure_;
  bool failed_ = false;
};

template <typename Result>
Napi::Value queue(Napi::Env env, std::function<Result()> run, std::function<Napi::Value(Napi::Env, const Result&)> toJs) {
  auto* worker = new CollectiveWorker<Result>(env, std::move(run), std::move(toJs));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace

Napi::Value Collectives(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    const CollectiveLibraryDescription d = cuda().describeCollectives();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("compiled", d.compiled);
    o.Set("available", d.available);
    o.Set("name", d.name);
    o.Set("path", d.path);
    o.Set("version", double(d.version));
    o.Set("error", d.error);
    return o;
  });
}

Napi::Value RequireCollectives(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    const int deviceIndex = int(requireInteger(info[0], "deviceIndex", 0, kMaxDeviceIndex));
    const CollectiveLibraryDescription d = cuda().describeCollectives();
    if (!d.available) throw CollectiveError(d.error);
    cuda().requireDevice(deviceIndex, "an " + d.name + " communicator", "options.deviceIndex");
    return info.Env().Undefined();
  });
}

Napi::Value NewCommunicatorId(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    const std::vector<uint8_t> id = cuda().newCommunicatorId();
    Napi::Uint8Array array = Napi::Uint8Array::New(info.Env(), id.size());
    std::copy(id.begin(), id.end(), array.Data());
    return array;
  });
}

Napi::Value CreateCommunicator(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    Napi::TypedArray idArray = requireTypedArray(info[0], napi_uint8_array, "id");
    const uint8_t* idData = static_cast<const uint8_t*>(idArray.As<Napi::Uint8Array>().Data());
    std::vector<uint8_t> id(idData, idData + idArray.ElementLength());
    const int size = int(requireInteger(info[1], "size", 1, 1 << 20));
    const int rank = int(requireInteger(info[2], "rank", 0, size - 1));
    const int deviceIndex = int(requireInteger(info[3], "deviceIndex", 0, kMaxDeviceIndex));
    const double timeout = requireNumber(info[4], "timeoutSeconds");
    if (!(timeout > 0)) throw RangeError("Expected timeoutSeconds above 0 but received " + std::to_string(timeout));
    using Made = std::shared_ptr<DeviceCommunicator>;
    return queue<Made>(
        info.Env(), [id, size, rank, deviceIndex, timeout] { return cuda().createCommunicator(id, size, rank, deviceIndex, timeout); },
        [](Napi::Env env, const Made& made) -> Napi::Value {
          auto* data = env.GetInstanceData<AddonData>();
          return data->communicatorConstructor.New({Napi::External<Made>::New(env, new Made(made), [](Napi::Env, Made* m) { delete m; })});
        });
  });
}

Napi::Function CommunicatorWrap::DefineClass(Napi::Env env) {
  return Napi::ObjectWrap<CommunicatorWrap>::DefineClass(
      env, "NativeCommunicator",
      {InstanceMethod("reduceScatterInRankOrder", &CommunicatorWrap::ReduceScatterInRankOrder),
       InstanceMethod("allGatherInPlace", &CommunicatorWrap::AllGatherInPlace),
       InstanceMethod("abort", &CommunicatorWrap::Abort),
       InstanceAccessor("rank", &CommunicatorWrap::Rank, nullptr),
       InstanceAccessor("size", &CommunicatorWrap::Size, nullptr),
       InstanceAccessor("deviceIndex", &CommunicatorWrap::DeviceIndex, nullptr)});
}

CommunicatorWrap::CommunicatorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CommunicatorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "NativeCommunicator is made by createCommunicator() only");
  communicator_ = *info[0].As<Napi::External<std::shared_ptr<DeviceCommunicator>>>().Data();
}

Napi::Value CommunicatorWrap::ReduceScatterInRankOrder(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    CutTensors c = readCutTensors(info, communicator_->size());
    float* out = reinterpret_cast<float*>(readPointer(info[4], "out"));
    if (!info[5].IsBoolean()) throw TypeError("Expected a boolean for mean but received " + describeValue(info[5]));
    const bool mean = info[5].As<Napi::Boolean>().Value();
    const int64_t chunk = int64_t(requireInteger(info[6], "chunkElements", 1, 9007199254740991.0));
    std::shared_ptr<DeviceCommunicator> communicator = communicator_;
    return queue<bool>(
        info.Env(), [communicator, c, out, mean, chunk] { return communicator->reduceScatterInRankOrder(c.cuts, c.tensors, out, mean, chunk); },
        [](Napi::Env env, const bool& nonFinite) -> Napi::Value { return Napi::Boolean::New(env, nonFinite); });
  });
}

Napi::Value CommunicatorWrap::AllGatherInPlace(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    CutTensors c = readCutTensors(info, communicator_->size());
    std::shared_ptr<DeviceCommunicator> communicator = communicator_;
    return queue<bool>(
        info.Env(),
        [communicator, c] {
          communicator->allGatherInPlace(c.cuts, c.tensors);
          return true;
        },
        [](Napi::Env env, const bool&) -> Napi::Value { return env.Undefined(); });
  });
}

Napi::Value CommunicatorWrap::Abort(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    communicator_->abort();
    return info.Env().Undefined();
  });
}

Napi::Value CommunicatorWrap::Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), communicator_->rank()); }
Napi::Value CommunicatorWrap::Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), communicator_->size()); }
Napi::Value CommunicatorWrap::DeviceIndex(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), communicator_->deviceIndex());
}

}  // namespace microadam::napi
