#include "state.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <string>

#include "errors.h"

namespace microadam {

namespace {
void requireLength(const char* field, uint64_t got, uint64_t want, const void* data) {
  if (got != want || (want > 0 && data == nullptr))
    throw RangeError(std::string("snapshot.") + field + " must have length " + std::to_string(want) +
                     ", received " + std::to_string(got));
}
}  // namespace

void OptimizerState::validateSnapshot(const SnapshotView& v) const {
  const StateLayout& l = layout_;
  const uint64_t windowSize = uint64_t(l.config().window) * l.rowLength();
  requireLength("errorCodes", v.errorCodesLength, l.codeBytes(), v.errorCodes);
  requireLength("errorMin", v.errorMinLength, l.bucketCount(), v.errorMin);
  requireLength("errorMax", v.errorMaxLength, l.bucketCount(), v.errorMax);
  requireLength("windowIndices", v.windowIndicesLength, windowSize, v.windowIndices);
  requireLength("windowValues", v.windowValuesLength, windowSize, v.windowValues);
  if (v.step > (uint64_t(1) << 53))
    throw RangeError("snapshot.step must be an integer in [0, 2^53], received " + std::to_string(v.step));
  // The unused low nibble of the last byte is always 0 in a state this library wrote.
  if (l.numel() % 2 == 1 && (v.errorCodes[l.codeBytes() - 1] & 0x0F) != 0)
    throw RangeError("snapshot.errorCodes has a non-zero padding nibble in its last byte");
  // Window offsets index into their block: an offset past the block would be an
  // out-of-bounds write in the engine, so a snapshot carrying one is refused.
  for (uint64_t j = 0; j < l.blockCount(); ++j) {
    const uint32_t size = l.blockSize(j);
    const uint64_t begin = l.blockSlotOffset(j), end = begin + l.blockKeep(j);
    for (uint32_t r = 0; r < l.config().window; ++r) {
      const uint16_t* row = v.windowIndices + uint64_t(r) * l.rowLength();
      for (uint64_t slot = begin; slot < end; ++slot)
        if (row[slot] >= size)
          throw RangeError("snapshot.windowIndices[" + std::to_string(uint64_t(r) * l.rowLength() + slot) +
                           "] = " + std::to_string(row[slot]) + " is outside its block of " +
                           std::to_string(size) + " elements");
    }
  }
}

namespace {
// Element counts of the five buffers, and where each starts in a HostSnapshot's bytes.
struct SnapshotSizes {
  uint64_t bounds, window, codes;
  explicit SnapshotSizes(const StateLayout& l)
      : bounds(l.bucketCount()), window(uint64_t(l.config().window) * l.rowLength()), codes(l.codeBytes()) {}
  uint64_t bytes() const { return 2 * (2 * bounds + 2 * window) + codes; }
  SnapshotTarget at(uint8_t* base) const {
    auto* u16 = reinterpret_cast<uint16_t*>(base);
    return SnapshotTarget{base + 2 * (2 * bounds + 2 * window), u16, u16 + bounds, u16 + 2 * bounds,
                          u16 + 2 * bounds + window};
  }
};
}  // namespace

SnapshotTarget HostSnapshot::target(const StateLayout& layout) {
  const SnapshotSizes sizes(layout);
  bytes_.resize(sizes.bytes());
  return sizes.at(bytes_.data());
}

namespace {
// Buffers of `layout`'s sizes at `t`, as a view restore() takes.
SnapshotView viewOf(const StateLayout& layout, uint64_t step, const SnapshotTarget& t) {
  const SnapshotSizes sizes(layout);
  SnapshotView v;
  v.step = step;
  v.errorCodes = t.errorCodes;
  v.errorCodesLength = sizes.codes;
  v.errorMin = t.errorMin;
  v.errorMinLength = sizes.bounds;
  v.errorMax = t.errorMax;
  v.errorMaxLength = sizes.bounds;
  v.windowIndices = t.windowIndices;
  v.windowIndicesLength = sizes.window;
  v.windowValues = t.windowValues;
  v.windowValuesLength = sizes.window;
  return v;
}
}  // namespace

SnapshotView HostSnapshot::view(const StateLayout& layout, uint64_t step) const {
  return viewOf(layout, step, SnapshotSizes(layout).at(const_cast<uint8_t*>(bytes_.data())));
}

uint64_t OptimizerState::bufferBytes(StateBufferId which) const {
  const StateLayout& l = layout_;
  switch (which) {
    case StateBufferId::ErrorCodes: return l.codeBytes();
    case StateBufferId::ErrorMin:
    case StateBufferId::ErrorMax: return 2 * l.bucketCount();
    case StateBufferId::WindowIndices:
    case StateBufferId::WindowValues: return 2 * uint64_t(l.config().window) * l.rowLength();
  }
  throw RangeError("unknown state buffer " + std::to_string(unsigned(which)));
}

void OptimizerState::checkByteRange(StateBufferId which, uint64_t offset, uint64_t bytes) const {
  const uint64_t size = bufferBytes(which);
  if (offset > size || bytes > size - offset)
    throw RangeError("bytes [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                     ") are outside state buffer " + std::to_string(unsigned(which)) + " of " + std::to_string(size) +
                     " bytes");
}

HostState::HostState(const StateConfig& config)
    : OptimizerState(config),
      errorCodes_(layout().codeBytes()),
      errorMin_(layout().bucketCount()),
      errorMax_(layout().bucketCount()),
      windowIndices_(uint64_t(layout().config().window) * layout().rowLength()),
      windowValues_(uint64_t(layout().config().window) * layout().rowLength()),
      topkHints_(layout().blockCount()) {}

void HostState::copyTo(const SnapshotTarget& t) const {
  std::copy(errorCodes_.begin(), errorCodes_.end(), t.errorCodes);
  std::copy(errorMin_.begin(), errorMin_.end(), t.errorMin);
  std::copy(errorMax_.begin(), errorMax_.end(), t.errorMax);
  std::copy(windowIndices_.begin(), windowIndices_.end(), t.windowIndices);
  std::copy(windowValues_.begin(), windowValues_.end(), t.windowValues);
}

std::vector<HostRegion> HostState::hostRegions() {
  return {{errorCodes_.data(), errorCodes_.size()},
          {errorMin_.data(), 2 * errorMin_.size()},
          {errorMax_.data(), 2 * errorMax_.size()},
          {windowIndices_.data(), 2 * windowIndices_.size()},
          {windowValues_.data(), 2 * windowValues_.size()}};
}

template <typename Self>
auto* HostState::bufferStart(Self& s, StateBufferId which) {
  using Byte = std::conditional_t<std::is_const_v<Self>, const uint8_t, uint8_t>;
  switch (which) {
    case StateBufferId::ErrorCodes: return reinterpret_cast<Byte*>(s.errorCodes_.data());
    case StateBufferId::ErrorMin: return reinterpret_cast<Byte*>(s.errorMin_.data());
    case StateBufferId::ErrorMax: return reinterpret_cast<Byte*>(s.errorMax_.data());
    case StateBufferId::WindowIndices: return reinterpret_cast<Byte*>(s.windowIndices_.data());
    case StateBufferId::WindowValues: return reinterpret_cast<Byte*>(s.windowValues_.data());
  }
  return static_cast<Byte*>(nullptr);
}

namespace {
bool sameConfig(const StateConfig& a, const StateConfig& b) {
  return a.numel == b.numel && a.window == b.window && a.density == b.density && a.topkBlockSize == b.topkBlockSize &&
         a.quantBlockSize == b.quantBlockSize;
}
}  // namespace

void HostState::readBytes(StateBufferId which, uint64_t offset, void* to, uint64_t bytes) const {
  checkByteRange(which, offset, bytes);
  if (bytes > 0) std::memcpy(to, bufferStart(*this, which) + offset, bytes);
}

void HostState::writeBytes(StateBufferId which, uint64_t offset, const void* from, uint64_t bytes) {
  contentsChecked_ = false;
  checkByteRange(which, offset, bytes);
  if (bytes > 0) std::memcpy(bufferStart(*this, which) + offset, from, bytes);
}

SnapshotView HostState::view() const {
  auto mutable16 = [](const ZeroedArray<uint16_t>& a) { return const_cast<uint16_t*>(a.data()); };
  return viewOf(layout(), step(),
                SnapshotTarget{const_cast<uint8_t*>(errorCodes_.data()), mutable16(errorMin_), mutable16(errorMax_),
                               mutable16(windowIndices_), mutable16(windowValues_)});
}

void HostState::checkContents() const {
  validateSnapshot(view());
  contentsChecked_ = true;
}

void HostState::swapContents(HostState& other) {
  if (!sameConfig(other.layout().config(), layout().config()))
    throw RangeError("a state can only take the contents of a state with the same layout");
  std::swap(errorCodes_, other.errorCodes_);
  std::swap(errorMin_, other.errorMin_);
  std::swap(errorMax_, other.errorMax_);
  std::swap(windowIndices_, other.windowIndices_);
  std::swap(windowValues_, other.windowValues_);
  std::swap(contentsChecked_, other.contentsChecked_);
  // The Top-K hints are a cache of each state's own past: they stay (a stale hint costs time, never bits).
  const uint64_t mine = step();
  setStep(other.step());
  other.setStep(mine);
}

void HostState::restore(const SnapshotView& v) {
  validateSnapshot(v);
  std::copy_n(v.errorCodes, errorCodes_.size(), errorCodes_.begin());
  std::copy_n(v.errorMin, errorMin_.size(), errorMin_.begin());
  std::copy_n(v.errorMax, errorMax_.size(), errorMax_.begin());
  std::copy_n(v.windowIndices, windowIndices_.size(), windowIndices_.begin());
  std::copy_n(v.windowValues, windowValues_.size(), windowValues_.begin());
  setStep(v.step);
}

}  // namespace microadam
