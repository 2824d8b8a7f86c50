// The machinery both optimizers' step calls share: convert the packed call (states, params,
// grads, dtypes, hyper, policy, stream?; core/call_format.h) into a batch, have the core's entry
// check it (core/step_entry.h: the one place a batch is validated), hold the states busy, run it
// on the JS thread or in an AsyncWorker, and report { skipped, steps }. This file converts and
// names arguments; it decides nothing about sizes, devices or hyperparameters. An optimizer
// plugs in with a Traits type:
//   using State; using Entry = BatchEntry<State>;
//   static const char* stateClassName;  (what an error says a state must be)
//   static bool accepts(const Napi::Value&);  (by type tag, type_tags.h)
//   static std::shared_ptr<State> unwrap(const Napi::Object&, Entry&);  (also points the entry at it)
//   static std::shared_ptr<AsyncBuffers> asyncBuffers(const Napi::Object&);
//   static void check(const std::vector<Entry>&, std::optional<uint64_t> stream);  (the core's entry)
//   static StepReport run(const std::vector<Entry>&, NonFinitePolicy, uint64_t stream);
//   static void backup(const Entry&, StateBackup&);  (async_copies.h: the state's bytes and step)
//   static void undo(const Entry&, StateBackup&);  (puts back what backup took)
#pragma once

#include <napi.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/call_format.h"
#include "../core/errors.h"
#include "../core/step_entry.h"
#include "async_copies.h"
#include "device_options.h"
#include "device_tensor.h"
#include "js_args.h"
#include "js_errors.h"
#include "type_tags.h"

namespace microadam::napi {

// Everything one call needs, parsed and checked on the JS thread. For an async step the entries
// point at native copies of params and grads (async_copies.h), never at JS memory.
template <typename Traits>
struct StepBatch {
  std::vector<std::shared_ptr<typename Traits::State>> states;
  std::vector<typename Traits::Entry> steps;
  NonFinitePolicy policy = NonFinitePolicy::Skip;
  std::optional<uint64_t> stream;  // a cudaStream_t for CUDA states; absent: the engine's own
  // DeviceArray memory the entries point at, held until the step is done (free() may come first).
  std::vector<std::shared_ptr<DeviceMemory>> deviceMemory;
  // Async only: each state's copy memory, and the JS params arrays the result goes back to.
  std::vector<std::shared_ptr<AsyncBuffers>> buffers;
  std::vector<Napi::Reference<Napi::Value>> paramArrays;

  // Marks every state busy, or none (and throws) if one already is.
  void acquire() { acquireAll(states); }
  void release() { releaseAll(states); }
  uint64_t streamOrDefault() const { return stream.value_or(0); }
};

template <typename Traits>
StepBatch<Traits> parseBatch(const Napi::CallbackInfo& info, bool async) {
  // Phase 1 reads the array elements, which may run JavaScript: an accessor element can detach,
  // transfer or shrink any buffer, so no pointer into JS memory is taken until every read is done.
  Napi::Array states = requireArray(info[0], "states");
  Napi::Array params = requireArray(info[1], "params");
  Napi::Array grads = requireArray(info[2], "grads");
  const uint32_t count = states.Length();
  std::vector<Napi::Value> stateValues, paramValues, gradValues;
  std::vector<std::optional<DeviceTensorRecord>> paramRecords, gradRecords;
  if (params.Length() == count && grads.Length() == count)
    for (uint32_t i = 0; i < count; ++i) {
      stateValues.push_back(states.Get(i));
      paramValues.push_back(params.Get(i));
      gradValues.push_back(grads.Get(i));
    }
  // Device tensor records ({ ptr, numel, dtype, device }) are read here too: their getters are
  // JavaScript.
  for (size_t i = 0; i < paramValues.size(); ++i) {
    paramRecords.push_back(readDeviceTensorRecord(paramValues[i], "params[" + std::to_string(i) + "]"));
    gradRecords.push_back(readDeviceTensorRecord(gradValues[i], "grads[" + std::to_string(i) + "]"));
  }

  // Phase 2 runs no JavaScript (type tags and typed-array facts only), so the pointers taken
  // here stay valid through a synchronous step. An async step copies what they point at before
  // returning to JavaScript.
  Napi::TypedArray dtypes = requireTypedArray(info[3], napi_uint8_array, "dtypes");
  Napi::TypedArray hyper = requireTypedArray(info[4], napi_float64_array, "hyper");
  const uint64_t policy = requireInteger(info[5], "policy", 0, 2);
  if (params.Length() != count || grads.Length() != count || stateValues.size() != count)
    throw RangeError("params and grads must have one entry per state (" + std::to_string(count) +
                     "), received " + std::to_string(params.Length()) + " and " + std::to_string(grads.Length()));
  if (dtypes.ElementLength() != kDtypesPerTensor * size_t(count))
    throw RangeError("dtypes must have " + std::to_string(kDtypesPerTensor) + " entries per state, received " +
                     std::to_string(dtypes.ElementLength()));
  if (hyper.ElementLength() != kHyperFieldsPerTensor * size_t(count))
    throw RangeError("hyper must have " + std::to_string(kHyperFieldsPerTensor) + " entries per state, received " +
                     std::to_string(hyper.ElementLength()));
  const PackedTensors packed{
      count, static_cast<const uint8_t*>(dtypes.ArrayBuffer().Data()) + dtypes.ByteOffset(),
      reinterpret_cast<const double*>(static_cast<const uint8_t*>(hyper.ArrayBuffer().Data()) + hyper.ByteOffset())};

  StepBatch<Traits> batch;
  batch.policy = NonFinitePolicy(policy);
  batch.stream = readStream(info[6], "stream");
  for (uint32_t i = 0; i < count; ++i) {
    const std::string index = "[" + std::to_string(i) + "]";
    const Napi::Value& stateValue = stateValues[i];
    if (!Traits::accepts(stateValue))
      throw TypeError(std::string("Expected ") + Traits::stateClassName + " for states" + index + " but received " +
                      describeValue(stateValue));
    typename Traits::Entry step;
    auto state = Traits::unwrap(stateValue.As<Napi::Object>(), step);
    const Dtype paramsDtype = packed.dtype(i, 0), gradsDtype = packed.dtype(i, 1);
    const TensorArg paramsArg = readTensor(paramValues[i], paramRecords[i], paramsDtype, "params" + index);
    const TensorArg gradsArg = readTensor(gradValues[i], gradRecords[i], gradsDtype, "grads" + index);
    step.params = paramsArg.view;
    step.grads = gradsArg.view;
    for (const TensorArg* arg : {&paramsArg, &gradsArg})
      if (arg->memory) batch.deviceMemory.push_back(arg->memory);
    step.hyper = packed.hyperParams(i);
    batch.steps.push_back(step);
    batch.states.push_back(std::move(state));
    if (async) {
      batch.buffers.push_back(Traits::asyncBuffers(stateValue.As<Napi::Object>()));
      batch.paramArrays.push_back(Napi::Persistent(paramValues[i]));
    }
  }
  return batch;
}

// Async steps, once the states are busy (so no other step uses their buffers): points every
// entry at copies of its params and grads. No JavaScript ran since parseBatch took the pointers.
template <typename Traits>
void copyIntoBuffers(StepBatch<Traits>& batch) {
  for (size_t i = 0; i < batch.steps.size(); ++i) {
    typename Traits::Entry& step = batch.steps[i];
    step.params = batch.buffers[i]->copyOf(AsyncBuffers::kParams, step.params);
    step.grads = batch.buffers[i]->copyOf(AsyncBuffers::kGrads, step.grads);
  }
}

// The counters are read from the batch's own references: the JS objects may have been
// disposed while an async step ran.
template <typename Traits>
Napi::Object reportToJs(Napi::Env env, const StepReport& report, const StepBatch<Traits>& batch) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("skipped", report.skipped);
  Napi::Array steps = Napi::Array::New(env, batch.states.size());
  for (size_t i = 0; i < batch.states.size(); ++i) steps.Set(uint32_t(i), double(batch.states[i]->step()));
  result.Set("steps", steps);
  return result;
}

template <typename Traits>
class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, StepBatch<Traits> batch)
      : Napi::AsyncWorker(env, "microadam.step"), batch_(std::move(batch)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      // Only host params can be taken away before OnOK (device memory is not JavaScript's), so a
      // step on device params alone is never undone and needs no backup.
      for (const typename Traits::Entry& step : batch_.steps) undoable_ = undoable_ || !step.params.onDevice;
      if (undoable_)
        for (size_t i = 0; i < batch_.steps.size(); ++i) Traits::backup(batch_.steps[i], batch_.buffers[i]->backup());
      report_ = Traits::run(batch_.steps, batch_.policy, batch_.streamOrDefault());
    } catch (...) {
      failure_ = classifyCurrentException();
      failed_ = true;
    }
  }

  // On the JS thread: every params array must still have its memory and length; then the new
  // params are copied into them. Otherwise the step is undone (a failed step changed nothing).
  void OnOK() override {
    if (!failed_) {
      try {
        std::vector<void*> targets(batch_.steps.size(), nullptr);
        for (size_t i = 0; i < targets.size(); ++i)
          if (!batch_.steps[i].params.onDevice)  // device params were stepped in place
            targets[i] = currentMemory(Env(), batch_.paramArrays[i].Value(), batch_.steps[i].params.numel,
                                       "params[" + std::to_string(i) + "]");
        if (!report_.skipped)
          for (size_t i = 0; i < targets.size(); ++i) {
            const TensorView& params = batch_.steps[i].params;
            if (targets[i] != nullptr) copyBytes(targets[i], params.data, params.numel * dtypeBytes(params.dtype));
          }
      } catch (...) {
        failure_ = classifyCurrentException();
        failed_ = true;
        undo();
      }
    }
    batch_.release();
    if (failed_)
      deferred_.Reject(toJsError(Env(), failure_).Value());
    else
      deferred_.Resolve(reportToJs(Env(), report_, batch_));
  }

  void OnError(const Napi::Error& error) override {
    batch_.release();
    deferred_.Reject(error.Value());
  }

  // Runs OnOK/OnError, then deletes the worker. While the environment is torn down (a worker
  // thread terminated with this step in flight) N-API calls fail and node-addon-api throws; an
  // exception escaping into Node aborts the process, so it stops here: the step has finished
  // and there is no one left to tell.
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    try {
      Napi::AsyncWorker::OnWorkComplete(env, status);
    } catch (...) {
      batch_.release();
      Destroy();
    }
  }

 private:
  void undo() {
    if (!undoable_) return;
    for (size_t i = 0; i < batch_.states.size(); ++i) {
      try {
        Traits::undo(batch_.steps[i], batch_.buffers[i]->backup());
      } catch (...) {  // a CUDA state put back from host memory: the copy itself can fail
        failure_.message += "; but states[" + std::to_string(i) + "] could not be put back: " +
                            classifyCurrentException().message;
      }
    }
  }

  StepBatch<Traits> batch_;
  Napi::Promise::Deferred deferred_;
  StepReport report_;
  FailureInfo failure_;
  bool failed_ = false;
  bool undoable_ = false;
};

template <typename Traits>
Napi::Value stepSync(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    StepBatch<Traits> batch = parseBatch<Traits>(info, false);
    Traits::check(batch.steps, batch.stream);
    batch.acquire();
    StepReport report;
    try {
      report = Traits::run(batch.steps, batch.policy, batch.streamOrDefault());
    } catch (...) {
      batch.release();
      throw;
    }
    batch.release();
    return reportToJs(info.Env(), report, batch);
  });
}

template <typename Traits>
Napi::Value stepAsync(const Napi::CallbackInfo& info) {
  return callGuarded(info, [&]() -> Napi::Value {
    StepBatch<Traits> batch = parseBatch<Traits>(info, true);
    // Checked before the copies: the memory checks need the caller's own pointers.
    Traits::check(batch.steps, batch.stream);
    batch.acquire();
    try {
      copyIntoBuffers(batch);
    } catch (...) {
      batch.release();
      throw;
    }
    auto* worker = new StepWorker<Traits>(info.Env(), std::move(batch));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace microadam::napi
