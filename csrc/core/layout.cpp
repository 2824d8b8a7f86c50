#include "layout.h"

#include <cmath>
#include <string>

#include "errors.h"

namespace microadam {

namespace {
// Numbers above 2^53 are not exact in a JavaScript number; a state that large could not be
// described from JS anyway.
constexpr uint64_t kMaxNumel = (uint64_t(1) << 53) - 1;
constexpr uint32_t kMaxWindow = 1024;
constexpr uint32_t kMaxTopkBlock = 65536;  // offsets inside a block are uint16
}  // namespace

void validateConfig(const StateConfig& c) {
  if (c.numel < 1 || c.numel > kMaxNumel)
    throw RangeError("numel must be an integer in [1, 2^53-1], received " + std::to_string(c.numel));
  if (c.window < 1 || c.window > kMaxWindow)
    throw RangeError("window must be an integer in [1, 1024], received " + std::to_string(c.window));
  if (!(c.density > 0.0 && c.density <= 1.0))
    throw RangeError("density must be in (0, 1], received " + std::to_string(c.density));
  if (c.quantBlockSize < 2 || c.quantBlockSize % 2 != 0 || c.quantBlockSize > kMaxTopkBlock)
    throw RangeError("quantBlockSize must be an even integer in [2, 65536], received " +
                     std::to_string(c.quantBlockSize));
  if (c.topkBlockSize < 1 || c.topkBlockSize > kMaxTopkBlock)
    throw RangeError("topkBlockSize must be an integer in [1, 65536], received " +
                     std::to_string(c.topkBlockSize));
  if (c.topkBlockSize % c.quantBlockSize != 0)
    throw RangeError("topkBlockSize must be a multiple of quantBlockSize (" +
                     std::to_string(c.quantBlockSize) + "), received " + std::to_string(c.topkBlockSize));
}

uint32_t StateLayout::keepCount(uint32_t size, double density) {
  double wanted = std::ceil(double(size) * density - 1e-9);
  uint32_t keep = wanted < 1.0 ? 1u : uint32_t(wanted);
  return keep < size ? keep : size;
}

StateLayout::StateLayout(const StateConfig& config) : config_(config) {
  validateConfig(config_);
  const uint64_t n = config_.numel;
  const uint64_t blocks = (n + config_.topkBlockSize - 1) / config_.topkBlockSize;
  bucketCount_ = (n + config_.quantBlockSize - 1) / config_.quantBlockSize;
  blockKeep_.resize(blocks);
  slotOffset_.resize(blocks);
  uint64_t offset = 0;
  for (uint64_t j = 0; j < blocks; ++j) {
    blockKeep_[j] = keepCount(blockSize(j), config_.density);
    slotOffset_[j] = offset;
    offset += blockKeep_[j];
  }
  rowLength_ = offset;
}

uint32_t StateLayout::blockSize(uint64_t block) const {
  uint64_t begin = blockBegin(block);
  uint64_t end = begin + config_.topkBlockSize;
  if (end > config_.numel) end = config_.numel;
  return uint32_t(end - begin);
}

uint64_t StateLayout::stateBytes() const {
  return codeBytes() + 4 * bucketCount_ + 4 * uint64_t(config_.window) * rowLength_;
}

}  // namespace microadam
