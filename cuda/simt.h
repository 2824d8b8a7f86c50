// The few SIMT primitives the kernels use, so that the same kernel source compiles with nvcc
// for the GPU and as plain host C++ for the SIMT harness (simt_host.h), where tests run the real
// kernel code on machines without a GPU, under ThreadSanitizer and AddressSanitizer too.
//
// Kernels may use: threadIdx.x, blockIdx.x, blockDim.x, gridDim.x, __syncthreads(), dynamic
// shared memory through MA_DYNAMIC_SHARED, atomicAdd/atomicMin/atomicMax/atomicOr on uint32_t,
// the full-warp __shfl_xor_sync and __shfl_up_sync (every lane of the warp present and
// converged), and the bit intrinsics __popc and __ffs. Nothing else: no static __shared__
// arrays, no other warp intrinsics, no early return before a barrier that other threads still
// reach.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)

#define MA_KERNEL __global__
#define MA_DEVICE __device__ __forceinline__
#define MA_DEVICE_MEMBER __device__ __forceinline__
#define MA_UNROLL _Pragma("unroll")
#define MA_LAUNCH_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
// Dynamic shared memory of the launch, as `type* name`.
#define MA_DYNAMIC_SHARED(type, name)                        \
  extern __shared__ __align__(16) unsigned char maShared[]; \
  type* name = reinterpret_cast<type*>(maShared)
constexpr unsigned kFullWarp = 0xFFFFFFFFu;

#else  // host C++: the harness provides the CUDA names

#include "simt_host.h"

#define MA_KERNEL
#define MA_DEVICE static inline
#define MA_DEVICE_MEMBER inline
#define MA_UNROLL
#define MA_LAUNCH_BOUNDS(threads, blocks)
#define MA_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(::microadam::simt::blockSharedMemory())
constexpr unsigned kFullWarp = 0xFFFFFFFFu;

#endif

namespace microadam::kernels {

constexpr uint32_t kWarpSize = 32;

// Inclusive prefix sum over the lanes of one warp (every lane calls it).
MA_DEVICE uint32_t warpInclusiveScan(uint32_t value) {
  const uint32_t lane = threadIdx.x % kWarpSize;
  for (uint32_t offset = 1; offset < kWarpSize; offset <<= 1) {
    const uint32_t other = __shfl_up_sync(kFullWarp, value, offset);
    if (lane >= offset) value += other;
  }
  return value;
}

// Exclusive prefix sum of one value per thread over the whole block, in thread order: a scan
// in each warp, then one warp scans the warp totals. `scratch` holds 32 words of shared memory.
// Every thread of the block calls it; blockDim.x is a multiple of 32, at most 1024.
MA_DEVICE uint32_t blockExclusiveScan(uint32_t value, uint32_t* scratch) {
  const uint32_t lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const uint32_t warps = blockDim.x / kWarpSize;
  const uint32_t inclusive = warpInclusiveScan(value);
  if (lane == kWarpSize - 1) scratch[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    const uint32_t total = lane < warps ? scratch[lane] : 0;
    const uint32_t before = warpInclusiveScan(total) - total;
    if (lane < warps) scratch[lane] = before;
  }
  __syncthreads();
  const uint32_t result = scratch[warp] + inclusive - value;
  __syncthreads();  // the scratch is free again for the caller's next scan
  return result;
}

}  // namespace microadam::kernels
