#include "parallel_copy.h"

#include <algorithm>
#include <cstring>

#include "thread_pool.h"

namespace microadam {

void parallelCopy(void* destination, const void* source, uint64_t bytes) {
  constexpr uint64_t kChunk = 1 << 20;
  auto* to = static_cast<uint8_t*>(destination);
  const auto* from = static_cast<const uint8_t*>(source);
  ThreadPool::shared().parallelFor((bytes + kChunk - 1) / kChunk, 1, [&](uint64_t begin, uint64_t end) {
    for (uint64_t c = begin; c < end; ++c) {
      const uint64_t offset = c * kChunk;
      std::memcpy(to + offset, from + offset, std::min(kChunk, bytes - offset));
    }
  });
}

}  // namespace microadam
