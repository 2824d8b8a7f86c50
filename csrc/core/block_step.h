// One Top-K block of one tensor through the whole step (docs/algorithm.md, steps 1-7).
// A block's window slots, buckets and elements belong to it alone, so blocks run in parallel
// in any order and the result does not depend on the thread count. CPU reference of the fused
// CUDA kernel.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "hyper_params.h"
#include "state.h"
#include "tensor.h"

namespace microadam {

// Storage for scratch arrays: 64-byte aligned, so that vector loads of a block never split a
// cache line.
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
};
template <class T>
using ScratchArray = std::vector<T, AlignedAllocator<T>>;

// Per-thread working memory for blocks of up to `capacity` elements. direction and slotOf are
// zero between blocks: a block writes them only at the indices its window names and clears
// those again, so no block pays for clearing B entries.
struct BlockScratch {
  ScratchArray<float> values;         // a, later the error e
  ScratchArray<uint32_t> keys;        // Top-K keys of a (only when the hint misses)
  ScratchArray<uint64_t> marks;       // Top-K candidate marks, one bit per element
  ScratchArray<uint32_t> candidates;  // the marked indices, listed (AVX-512 build)
  ScratchArray<float> moments;        // M and W of each named slot, side by side
  ScratchArray<float> direction;      // u at the named indices (general path)
  ScratchArray<uint16_t> slotOf;      // slot + 1 of each index the window names, else 0
  ScratchArray<uint16_t> named;       // the indices the window names, each once, by slot
  ScratchArray<float> namedDirection; // u of each slot (sparse path)
  ScratchArray<float> windowTerms;    // p1 * v and p2 * v * v of one window row, side by side
  ScratchArray<float> bucketUnits;    // u_b of the block's buckets
  ScratchArray<float> bucketLows;     // lo_b as float
  ScratchArray<uint8_t> codes;        // unpacked 4-bit codes of one bucket
  ScratchArray<uint32_t> histogram;   // Top-K bins
  ScratchArray<uint16_t> selected;    // the Top-K, ascending
  ScratchArray<uint64_t> ranked;      // the candidates' ranks
  void reserve(uint32_t capacity);
};

// How often the Top-K threshold carried from a block's previous step held (at least k elements
// reached it, so no histogram of the block was needed). Counted only while `enabled` (the step
// benchmark turns it on for steps it does not time); a load and a branch per block otherwise.
struct TopkHintStats {
  std::atomic<bool> enabled{false};
  std::atomic<uint64_t> blocks{0}, hinted{0}, held{0};
};
TopkHintStats& topkHintStats();

// The builds of the kernel (all give the same bits), best last.
enum class CpuPath { Baseline, Avx2, Avx512 };

// The build stepBlock uses: the best one this CPU runs (CPUID), or the one named by the
// environment variable MICROADAM_CPU_PATH (avx512, avx2 or baseline; MICROADAM_NO_AVX2=1, the
// older switch, means baseline). Decided once per process. Throws TypeError naming the variable
// for an unknown value, DeviceUnavailableError for a path this CPU lacks; call it before
// stepping (cpuStep does), never from a worker thread.
CpuPath activeCpuPath();
const char* cpuPathName(CpuPath path);

// Runs block `block` of `state` (its counter already advanced to the new t) on activeCpuPath()
// (which must have succeeded).
void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch);

// cpuPathName(activeCpuPath()): "avx512", "avx2" or "baseline"; throws as activeCpuPath does.
const char* blockKernelName();

// The builds, for tests that compare them directly.
namespace kernel_baseline {
void stepBlock(HostState&, uint64_t, const TensorView&, const TensorView&, const StepScalars&, BlockScratch&);
}
namespace kernel_avx2 {
bool available();
void stepBlock(HostState&, uint64_t, const TensorView&, const TensorView&, const StepScalars&, BlockScratch&);
}
namespace kernel_avx512 {
bool available();
void stepBlock(HostState&, uint64_t, const TensorView&, const TensorView&, const StepScalars&, BlockScratch&);
}

}  // namespace microadam
