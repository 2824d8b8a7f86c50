// Host SIMT harness: runs CUDA kernel source as plain C++ so tests exercise the real kernel code
// on machines without a GPU. Each CUDA thread is one std::thread; the threads of a block meet at
// a std::barrier for __syncthreads and at a per-warp barrier for shuffles; blocks run one after
// another. Shared memory is one heap allocation of exactly the launch's size, filled with a
// poison byte, so AddressSanitizer sees any access past it and a read of shared memory the
// kernel never wrote shows up as a wrong result. Because the barriers are real synchronization,
// ThreadSanitizer reports a missing __syncthreads as a data race.
//
// Included by simt.h when the compiler is not nvcc; never part of the addon.
#pragma once

#include <atomic>
#include <bit>
#include <barrier>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace microadam::simt {

struct Dim3 {
  uint32_t x = 0, y = 1, z = 1;
};

struct BlockContext {
  explicit BlockContext(uint32_t threads, size_t sharedBytes)
      : barrier(threads), shared(new unsigned char[sharedBytes == 0 ? 1 : sharedBytes]), warpSlots(threads) {
    for (size_t i = 0; i < sharedBytes; ++i) shared[i] = kPoison;
    for (uint32_t w = 0; w < threads / 32; ++w) warpBarriers.push_back(std::make_unique<std::barrier<>>(32));
  }
  static constexpr unsigned char kPoison = 0xA5;
  std::barrier<> barrier;
  std::unique_ptr<unsigned char[]> shared;
  std::vector<std::unique_ptr<std::barrier<>>> warpBarriers;
  std::vector<uint32_t> warpSlots;
};

inline thread_local BlockContext* currentBlock = nullptr;

inline unsigned char* blockSharedMemory() { return currentBlock->shared.get(); }

}  // namespace microadam::simt

// The CUDA names, per emulated thread.
inline thread_local microadam::simt::Dim3 threadIdx, blockIdx, blockDim, gridDim;

inline void __syncthreads() { microadam::simt::currentBlock->barrier.arrive_and_wait(); }

namespace microadam::simt {
// One full-warp exchange: every lane publishes its value, the warp meets, every lane reads the
// slot of `sourceLane(lane)`, the warp meets again before the slots are reused.
template <typename SourceLane>
uint32_t warpExchange(unsigned mask, uint32_t value, SourceLane sourceLane) {
  if (mask != 0xFFFFFFFFu) throw std::logic_error("simt harness: only full-warp shuffles are emulated");
  BlockContext* block = currentBlock;
  const uint32_t warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  std::atomic_ref<uint32_t>(block->warpSlots[threadIdx.x]).store(value, std::memory_order_relaxed);
  block->warpBarriers[warp]->arrive_and_wait();
  const uint32_t other =
      std::atomic_ref<uint32_t>(block->warpSlots[warp * 32 + sourceLane(lane)]).load(std::memory_order_relaxed);
  block->warpBarriers[warp]->arrive_and_wait();
  return other;
}
}  // namespace microadam::simt

// Butterfly: lane l reads lane l ^ laneMask.
inline uint32_t __shfl_xor_sync(unsigned mask, uint32_t value, uint32_t laneMask) {
  return microadam::simt::warpExchange(mask, value, [&](uint32_t lane) { return lane ^ (laneMask & 31u); });
}

// Up: lane l reads lane l - delta (its own value when l < delta).
inline uint32_t __shfl_up_sync(unsigned mask, uint32_t value, uint32_t delta) {
  return microadam::simt::warpExchange(mask, value, [&](uint32_t lane) { return lane >= delta ? lane - delta : lane; });
}

inline int __popc(uint32_t x) { return __builtin_popcount(x); }
inline int __ffs(uint32_t x) { return __builtin_ffs(int(x)); }

inline uint32_t atomicAdd(uint32_t* address, uint32_t value) {
  return std::atomic_ref<uint32_t>(*address).fetch_add(value, std::memory_order_relaxed);
}

inline uint32_t atomicOr(uint32_t* address, uint32_t value) {
  return std::atomic_ref<uint32_t>(*address).fetch_or(value, std::memory_order_relaxed);
}

inline uint32_t atomicMin(uint32_t* address, uint32_t value) {
  std::atomic_ref<uint32_t> target(*address);
  uint32_t seen = target.load(std::memory_order_relaxed);
  while (value < seen && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
  return seen;
}

inline uint32_t atomicMax(uint32_t* address, uint32_t value) {
  std::atomic_ref<uint32_t> target(*address);
  uint32_t seen = target.load(std::memory_order_relaxed);
  while (value > seen && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
  return seen;
}

namespace microadam::simt {

// kernel<<<grid, threads, sharedBytes>>>(args...), blocks one after another. `threads` must be
// a multiple of the warp size, as the kernels assume.
template <typename Kernel, typename... Args>
void launch(uint32_t grid, uint32_t threads, size_t sharedBytes, Kernel kernel, Args... args) {
  if (threads == 0 || threads % 32 != 0) throw std::invalid_argument("simt harness: threads must be a multiple of 32");
  for (uint32_t b = 0; b < grid; ++b) {
    BlockContext block(threads, sharedBytes);
    std::vector<std::thread> lanes;
    lanes.reserve(threads);
    for (uint32_t t = 0; t < threads; ++t)
      lanes.emplace_back([&, t] {
        threadIdx.x = t;
        blockIdx.x = b;
        blockDim.x = threads;
        gridDim.x = grid;
        currentBlock = &block;
        kernel(args...);
        // A finished thread no longer holds back barriers (as on the GPU, where exited threads
        // do not count at __syncthreads).
        block.warpBarriers[t / 32]->arrive_and_drop();
        block.barrier.arrive_and_drop();
      });
    for (std::thread& lane : lanes) lane.join();
  }
}

}  // namespace microadam::simt
