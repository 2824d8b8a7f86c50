// Loading and storing one element of a host tensor in float32, by dtype, for the CPU kernels.
// Included by the kernel bodies (block_kernel.h, adamw_kernel.h), which are compiled once per
// instruction set: everything here has internal linkage (an anonymous namespace; see numeric.h),
// so each build's translation unit keeps its own copy and the linker never hands the baseline
// path one compiled for AVX2 or AVX-512.
#pragma once

#include <cstdint>

#include "numeric.h"
#include "tensor.h"

namespace microadam {
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
}  // namespace microadam
