// Native copies that make an async step independent of JavaScript memory
// (docs/reliability.md, "Async steps and buffer lifetime").
//
// N-API cannot pin an ArrayBuffer: while an async step runs on another thread, JavaScript may
// detach its params or grads (postMessage or structuredClone with transfer, a WebAssembly memory
// growing) or shrink them (a resizable ArrayBuffer), and the collector may then free the memory.
// So an async step never touches JS memory off the JS thread:
//   1. when stepAsync is called (JS thread, the states already marked busy), params and grads are
//      copied into native memory and the engine steps those copies;
//   2. on the worker, before the engine runs, the bytes of every state are copied too
//      (StateBackup), so that the step can be undone;
//   3. when the step has finished (OnOK, JS thread), every params array is looked up again: if
//      each still has its memory and its length, the new params are copied into it; otherwise
//      the states are put back and the promise rejects, leaving params and state unchanged.
// The memory is kept with the state's JS object for its next async step (AsyncBuffers): a fresh
// 64 MB allocation costs several times its copy in page faults.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/state.h"
#include "../core/tensor.h"

namespace microadam::napi {

// A params array that lost its memory or length while its async step ran. Becomes a TypeError
// with code ERR_MICROADAM_DETACHED.
class BufferChangedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// memcpy, on the engine's threads when it is large.
void copyBytes(void* to, const void* from, uint64_t bytes);

// Where the elements of a typed array are now, if it still holds `numel` of them; otherwise
// throws BufferChangedError naming it `name`. Runs no JavaScript.
void* currentMemory(Napi::Env env, const Napi::Value& typedArray, uint64_t numel, const std::string& name);

// The bytes of a state's buffers and its step counter, taken before an async step runs, to put
// back if the step is undone. Every region must stay allocated while the backup is used (the
// step's shared_ptr keeps the state alive). Regions are host memory; a state in device memory
// uses hostSnapshot() instead.
class StateBackup {
 public:
  // Starts a new backup, reusing the memory of the previous one.
  void begin(uint64_t step);
  void add(void* region, uint64_t bytes);
  // Copies every region back; returns the step counter to restore.
  uint64_t copyBack() const;
  // A state whose buffers are not host memory (a CUDA state) is backed up into this snapshot by
  // its traits instead of through add(); begin() still records the step.
  HostSnapshot& hostSnapshot() { return hostSnapshot_; }

 private:
  struct Region {
    uint8_t* at = nullptr;
    uint64_t bytes = 0;
    uint64_t capacity = 0;
    std::unique_ptr<uint8_t[]> copy;
  };
  std::vector<Region> regions_;
  size_t used_ = 0;
  uint64_t step_ = 0;
  HostSnapshot hostSnapshot_;
};

// The memory one state's async steps copy into, owned by its JS object (a shared_ptr: a step in
// flight keeps it after dispose). One step at a time uses it: the state is busy meanwhile.
class AsyncBuffers {
 public:
  enum Slot { kParams = 0, kGrads = 1 };
  // Copies `source` into the slot's buffer (grown if needed) and returns a view of the copy. A
  // tensor in device memory is returned as it is: it is not JavaScript's to detach.
  TensorView copyOf(Slot slot, const TensorView& source);
  StateBackup& backup() { return backup_; }

 private:
  struct Buffer {
    std::unique_ptr<uint8_t[]> data;
    uint64_t capacity = 0;
  };
  Buffer buffers_[2];
  StateBackup backup_;
};

}  // namespace microadam::napi
