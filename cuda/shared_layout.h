// How the fused step kernel carves its dynamic shared memory. Used by the kernel and by the
// host (to size the launch), so the two can never disagree.
#pragma once

#include <cstdint>

#include "core/numeric.h"

#if defined(__CUDACC__)
#define MA_HOST_DEVICE_MEMBER __host__ __device__
#else
#define MA_HOST_DEVICE_MEMBER
#endif

namespace microadam::kernels {

struct SharedLayout {
  // values: float[B]   a = g + deq, then the error e, then M (and e again with alpha)
  // second: float[B]   per-bucket range keys while quantizing, then W
  // histogram: uint32[256] one radix digit
  // scan: uint32[32] warp totals of a block scan
  // broadcast: uint32[4] results thread 0 hands to the block
  uint32_t valuesOffset, secondOffset, histogramOffset, scanOffset, broadcastOffset, totalBytes;

  MA_HOST_DEVICE_MEMBER SharedLayout(uint32_t topkBlockSize) {
    valuesOffset = 0;
    secondOffset = valuesOffset + 4 * topkBlockSize;
    histogramOffset = secondOffset + 4 * topkBlockSize;
    scanOffset = histogramOffset + 4 * 256;
    broadcastOffset = scanOffset + 4 * 32;
    totalBytes = broadcastOffset + 16;
  }
};

}  // namespace microadam::kernels
