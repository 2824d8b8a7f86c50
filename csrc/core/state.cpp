#include "state.h"

#include <algorithm>
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

HostState::HostState(const StateConfig& config)
    : OptimizerState(config),
      errorCodes_(layout().codeBytes(), 0),
      errorMin_(layout().bucketCount(), 0),
      errorMax_(layout().bucketCount(), 0),
      windowIndices_(uint64_t(layout().config().window) * layout().rowLength(), 0),
      windowValues_(uint64_t(layout().config().window) * layout().rowLength(), 0),
      topkHints_(layout().blockCount(), 0) {}

void HostState::copyTo(const SnapshotTarget& t) const {
  std::copy(errorCodes_.begin(), errorCodes_.end(), t.errorCodes);
  std::copy(errorMin_.begin(), errorMin_.end(), t.errorMin);
  std::copy(errorMax_.begin(), errorMax_.end(), t.errorMax);
  std::copy(windowIndices_.begin(), windowIndices_.end(), t.windowIndices);
  std::copy(windowValues_.begin(), windowValues_.end(), t.windowValues);
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
