// Loading and storing one element of a host tensor in float32, by dtype, for the CPU kernels.
// Included by the kernel bodies (block_kernel.h, adamw_kernel.h), which are compiled once per
// instruction set: everything here sits in that build's namespace with internal linkage (see
// numeric.h), so the AVX2 and baseline builds never share a copy.
#pragma once

#include <cstdint>

#include "numeric.h"
#include "tensor.h"

#ifndef MICROADAM_KERNEL_NAMESPACE
#error "define MICROADAM_KERNEL_NAMESPACE before including a kernel body"
#endif

namespace microadam {
namespace MICROADAM_KERNEL_NAMESPACE {
namespace {

template <Dtype D>
struct Element;

template <>
struct Element<Dtype::F32> {
  using Storage = float;
  static float load(const float* p, uint64_t i) { return p[i]; }
  static void store(float* p, uint64_t i, float v) { p[i] = canonicalNan(v); }
};

template <>
struct Element<Dtype::BF16> {
  using Storage = uint16_t;
  static float load(const uint16_t* p, uint64_t i) { return bf16ToFloat(p[i]); }
  static void store(uint16_t* p, uint64_t i, float v) { p[i] = floatToBf16(v); }
};

template <>
struct Element<Dtype::F16> {
  using Storage = uint16_t;
  static float load(const uint16_t* p, uint64_t i) { return f16ToFloat(p[i]); }
  static void store(uint16_t* p, uint64_t i, float v) { p[i] = floatToF16(v); }
};

}  // namespace
}  // namespace MICROADAM_KERNEL_NAMESPACE
}  // namespace microadam
