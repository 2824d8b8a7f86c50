// A large parallel copy on the engine's threads: the benchmarks' measure of this machine's
// memory bandwidth (the ceiling a memory-bound optimizer step can reach), and the copies an
// async step makes of its tensors and states (csrc/napi/async_copies.h).
#pragma once

#include <cstdint>

namespace microadam {

void parallelCopy(void* destination, const void* source, uint64_t bytes);

}  // namespace microadam
