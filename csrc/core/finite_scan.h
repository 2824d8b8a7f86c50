// rangeIsFinite (tensor.h) in the instruction set of the CPU path (block_step.h: activeCpuPath,
// which must have succeeded before this is called from a worker). Same answer on every path.
#pragma once

#include <cstdint>

#include "tensor.h"

namespace microadam {

bool rangeIsFiniteOnPath(const TensorView& t, uint64_t begin, uint64_t end);

}  // namespace microadam
