// How the fused step kernel carves its dynamic shared memory. Used by the kernel and by the
// host (to size the launch), so the two can never disagree.
#pragma once

#include <cstdint>

#include "core/numeric.h"

namespace microadam::kernels {

struct SharedLayout {
  // values: float[B]   a = g + deq, then the error e, then M (and e again with alpha)
  // bucketsThenMoment2: float[B]   the bucket table (steps 1-2), per-bucket range keys while
  //                    quantizing (step 3), then W, the second moment (steps 4-6)
  // histogram: uint32[256] one radix digit
  // scan: uint32[32] warp totals of a block scan
  // broadcast: uint32[4] results thread 0 hands to the block
  uint32_t valuesOffset, bucketsThenMoment2Offset, histogramOffset, scanOffset, broadcastOffset, totalBytes;
};

MA_HOST_DEVICE SharedLayout sharedLayout(uint32_t topkBlockSize) {
  SharedLayout l;
  l.valuesOffset = 0;
  l.bucketsThenMoment2Offset = l.valuesOffset + 4 * topkBlockSize;
  l.histogramOffset = l.bucketsThenMoment2Offset + 4 * topkBlockSize;
  l.scanOffset = l.histogramOffset + 4 * 256;
  l.broadcastOffset = l.scanOffset + 4 * 32;
  l.totalBytes = l.broadcastOffset + 16;
  return l;
}

}  // namespace microadam::kernels
