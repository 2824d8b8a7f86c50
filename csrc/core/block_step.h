// One Top-K block of one tensor through the whole step (docs/algorithm.md, steps 1-7).
// A block's window slots, buckets and elements belong to it alone, so blocks run in parallel
// in any order and the result does not depend on the thread count. CPU reference of the fused
// CUDA kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "hyper_params.h"
#include "state.h"
#include "tensor.h"

namespace microadam {

// Per-thread working memory for blocks of up to `capacity` elements. moment1, moment2,
// direction and touched are all zero between blocks: a block writes them only at the indices
// its window names and clears those again, so no block pays for clearing B entries.
struct BlockScratch {
  std::vector<float> values;       // a, later the error e
  std::vector<uint32_t> keys;      // Top-K keys of a
  std::vector<float> moment1;      // M
  std::vector<float> moment2;      // W
  std::vector<float> direction;    // u at the named indices
  std::vector<uint8_t> touched;    // 1 at the indices the window names
  std::vector<uint8_t> codes;      // unpacked 4-bit codes of one bucket
  std::vector<uint32_t> histogram; // Top-K bins
  std::vector<uint16_t> candidates;
  std::vector<uint16_t> selected;
  std::vector<uint64_t> ranked;
  void reserve(uint32_t capacity);
};

// Runs block `block` of `state` (its counter already advanced to the new t). Uses the AVX2
// build of the kernel where the CPU has it; both builds give the same bits.
void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch);

// Which kernel build stepBlock uses on this CPU ("avx2" or "baseline").
const char* blockKernelName();

// The two builds, for tests that compare them directly.
namespace kernel_baseline {
void stepBlock(HostState&, uint64_t, const TensorView&, const TensorView&, const StepScalars&, BlockScratch&);
}
namespace kernel_avx2 {
bool available();
void stepBlock(HostState&, uint64_t, const TensorView&, const TensorView&, const StepScalars&, BlockScratch&);
}

}  // namespace microadam
