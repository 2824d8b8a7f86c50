// How the fused step kernel carves its dynamic shared memory. Used by the kernel and by the
// host (to size the launch), so the two can never disagree.
#pragma once

#include <cstdint>

#include "core/numeric.h"

namespace microadam::kernels {

struct SharedLayout {
  // values: float[B]   a = g + deq, then the error e, then M (and e again with alpha)
  // second: float[B]   the bucket table, then per-bucket range keys while quantizing, then W
  // histogram: uint32[256] one radix digit
  // scan: uint32[32] warp totals of a block scan
  // broadcast: uint32[4] results thread 0 hands to the block
  uint32_t valuesOffset, secondOffset, histogramOffset, scanOffset, broadcastOffset, totalBytes;
};

MA_HOST_DEVICE SharedLayout sharedLayout(uint32_t topkBlockSize) {
  SharedLayout l;
  l.valuesOffset = 0;
  l.secondOffset = l.valuesOffset + 4 * topkBlockSize;
  l.histogramOffset = l.secondOffset + 4 * topkBlockSize;
  l.scanOffset = l.histogramOffset + 4 * 256;
  l.broadcastOffset = l.scanOffset + 4 * 32;
  l.totalBytes = l.broadcastOffset + 16;
  return l;
}

}  // namespace microadam::kernels
