// The MicroAdam state of one tensor (docs/algorithm.md, "State"). The base class holds what
// every backend shares (layout, step counter, the busy flag); a backend subclass owns the
// buffers where its engine can reach them (host memory here, device memory for CUDA).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "layout.h"
#include "stepped_state.h"
#include "zeroed_array.h"

namespace microadam {

enum class Device : uint8_t { Cpu = 0, Cuda = 1 };

// Host memory to copy the five buffers into, each sized by the layout (codeBytes,
// bucketCount, bucketCount, window*rowLength, window*rowLength).
struct SnapshotTarget {
  uint8_t* errorCodes = nullptr;
  uint16_t* errorMin = nullptr;
  uint16_t* errorMax = nullptr;
  uint16_t* windowIndices = nullptr;
  uint16_t* windowValues = nullptr;
};

// Non-owning views of snapshot buffers (a JS typed array, say), checked against the layout.
struct SnapshotView {
  uint64_t step = 0;
  const uint8_t* errorCodes = nullptr;
  uint64_t errorCodesLength = 0;
  const uint16_t* errorMin = nullptr;
  uint64_t errorMinLength = 0;
  const uint16_t* errorMax = nullptr;
  uint64_t errorMaxLength = 0;
  const uint16_t* windowIndices = nullptr;
  uint64_t windowIndicesLength = 0;
  const uint16_t* windowValues = nullptr;
  uint64_t windowValuesLength = 0;
};

// The five buffers of a state (docs/algorithm.md, "State"), in the order snapshots and
// checkpoints hold them.
enum class StateBufferId : uint8_t { ErrorCodes = 0, ErrorMin = 1, ErrorMax = 2, WindowIndices = 3, WindowValues = 4 };
inline constexpr uint32_t kStateBufferCount = 5;

// A region of host memory holding part of a state.
struct HostRegion {
  void* data;
  uint64_t bytes;
};

class OptimizerState : public SteppedState {
 public:
  explicit OptimizerState(const StateConfig& config) : layout_(config) {}

  virtual Device device() const = 0;
  // The device of a device state; 0 for a host state.
  virtual int deviceIndex() const { return 0; }
  virtual void copyTo(const SnapshotTarget& target) const = 0;
  // Checks every field (lengths, index ranges, padding) before changing anything; throws
  // RangeError naming the field otherwise.
  virtual void restore(const SnapshotView& view) = 0;
  // The state's buffers where they are host memory (a host can back them up by copying these
  // regions and copying them back); empty for a state whose buffers are device memory, which is
  // backed up through copyTo into a HostSnapshot instead.
  virtual std::vector<HostRegion> hostRegions() { return {}; }

  // Bytes of one buffer, and a range of them copied to host memory (what a checkpoint streams a
  // chunk at a time). RangeError for a range outside the buffer.
  uint64_t bufferBytes(StateBufferId which) const;
  virtual void readBytes(StateBufferId which, uint64_t offset, void* to, uint64_t bytes) const = 0;

  const StateLayout& layout() const { return layout_; }
  uint64_t numel() const { return layout_.numel(); }

 protected:
  void validateSnapshot(const SnapshotView& view) const;
  // Throws RangeError unless [offset, offset + bytes) lies inside buffer `which`.
  void checkByteRange(StateBufferId which, uint64_t offset, uint64_t bytes) const;

 private:
  StateLayout layout_;
};

// A snapshot of a state in one block of host memory: 16-bit arrays first (so each is aligned),
// codes last. What an async step on a device state keeps to undo it (csrc/napi/async_copies.h).
class HostSnapshot {
 public:
  // Sizes the memory for `layout` (reusing what it has) and returns where copyTo writes.
  SnapshotTarget target(const StateLayout& layout);
  // The bytes target() last sized, as a view restore() takes, with step counter `step`.
  SnapshotView view(const StateLayout& layout, uint64_t step) const;

 private:
  std::vector<uint8_t> bytes_;
};

// State whose buffers are in host memory, stepped by the CPU engine.
class HostState final : public OptimizerState {
 public:
  explicit HostState(const StateConfig& config);

  Device device() const override { return Device::Cpu; }
  void copyTo(const SnapshotTarget& target) const override;
  void restore(const SnapshotView& view) override;
  // The five buffers of docs/algorithm.md, "State" (the Top-K hint is a cache, not state).
  std::vector<HostRegion> hostRegions() override;
  void readBytes(StateBufferId which, uint64_t offset, void* to, uint64_t bytes) const override;

  // Streaming a checkpoint into a fresh state (a staging state, filled a chunk at a time, then
  // checked and adopted by the state it replaces):
  void writeBytes(StateBufferId which, uint64_t offset, const void* from, uint64_t bytes);
  // The snapshot checks (window indices inside their blocks, the padding nibble) on these buffers.
  void checkContents() const;
  // Whether checkContents() passed since the last writeBytes(): adopting then needs no second scan.
  bool contentsChecked() const { return contentsChecked_; }
  // Exchanges buffers and step counters with `other`, a state of the same layout whose contents
  // were checked: the replacement costs no copy and cannot fail, and doing it again undoes it.
  void swapContents(HostState& other);
  // A view of these buffers as restore() takes them (for a state in another backend).
  SnapshotView view() const;

  uint8_t* errorCodes() { return errorCodes_.data(); }
  uint16_t* errorMin() { return errorMin_.data(); }
  uint16_t* errorMax() { return errorMax_.data(); }
  uint16_t* windowIndices() { return windowIndices_.data(); }
  uint16_t* windowValues() { return windowValues_.data(); }
  // Per-block Top-K hint (topk_select.h): an engine cache, not state. It never changes a
  // result, is not in snapshots and is not counted in stateBytes.
  uint32_t* topkHint(uint64_t block) { return &topkHints_[block]; }

 private:
  // Where buffer `which` starts, as bytes (const for a const state).
  template <typename Self>
  static auto* bufferStart(Self& s, StateBufferId which);

  // Zeros from the allocator: creation touches no page (zeroed_array.h).
  ZeroedArray<uint8_t> errorCodes_;
  ZeroedArray<uint16_t> errorMin_;
  ZeroedArray<uint16_t> errorMax_;
  ZeroedArray<uint16_t> windowIndices_;
  ZeroedArray<uint16_t> windowValues_;
  ZeroedArray<uint32_t> topkHints_;
  mutable bool contentsChecked_ = false;
};

}  // namespace microadam
