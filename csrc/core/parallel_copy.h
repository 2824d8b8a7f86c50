// A large copy on the engine's threads: the copies an async step makes of its tensors and states
// (csrc/napi/async_copies.h), and the benchmarks' bandwidth probe (bench/native/bandwidth_probe.cc).
#pragma once

#include <cstdint>

namespace microadam {

void parallelCopy(void* destination, const void* source, uint64_t bytes);

}  // namespace microadam
