// The layout of one tensor's state: Top-K blocks, their row slots and quantization buckets
// (docs/algorithm.md, "Layout of one tensor").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace microadam {

struct StateConfig {
  uint64_t numel = 0;
  uint32_t window = 10;          // m
  double density = 0.01;         // delta
  uint32_t topkBlockSize = 4096;  // B
  uint32_t quantBlockSize = 64;   // Q
};

// Throws RangeError/TypeError naming the offending option.
void validateConfig(const StateConfig& config);

class StateLayout {
 public:
  explicit StateLayout(const StateConfig& config);

  const StateConfig& config() const { return config_; }
  uint64_t numel() const { return config_.numel; }
  uint64_t blockCount() const { return blockKeep_.size(); }
  uint64_t bucketCount() const { return bucketCount_; }
  uint64_t rowLength() const { return rowLength_; }  // K
  uint64_t codeBytes() const { return (config_.numel + 1) / 2; }

  uint64_t blockBegin(uint64_t block) const { return block * config_.topkBlockSize; }
  uint32_t blockSize(uint64_t block) const;
  uint32_t blockKeep(uint64_t block) const { return blockKeep_[block]; }      // k_j
  uint64_t blockSlotOffset(uint64_t block) const { return slotOffset_[block]; }  // o_j

  // Bytes of the five state buffers (the step counter is not counted).
  uint64_t stateBytes() const;

  // k_j for a block of `size` elements at `density`.
  static uint32_t keepCount(uint32_t size, double density);

 private:
  StateConfig config_;
  uint64_t bucketCount_ = 0;
  uint64_t rowLength_ = 0;
  std::vector<uint32_t> blockKeep_;
  std::vector<uint64_t> slotOffset_;
};

}  // namespace microadam
