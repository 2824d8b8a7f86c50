// Float formats and the rounding rules of docs/algorithm.md ("Numbers").
// Pure functions on bit patterns, so the CPU engine, the CUDA kernels and the host harness
// share one definition. Nothing here depends on the FPU rounding mode except plain float ops.
#pragma once

#include <cstdint>
#include <cstring>

// Host: static (internal linkage) and always inlined, because the CPU kernels are compiled once
// per instruction set (block_kernel_baseline.cpp, _avx2.cpp, _avx512.cpp; adamw_kernel_*.cpp).
// An inline function or template with external linkage compiled in two of them is one symbol to
// the linker, which keeps either copy: the baseline path could get AVX-512 code. The kernel
// headers (block_kernel.h, block_passes*.h, block_prefetch.h, kernel_elements.h,
// adamw_kernel.h) keep everything in an anonymous namespace for the same reason.
#if defined(__CUDACC__)
#define MA_HOST_DEVICE __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define MA_HOST_DEVICE static inline __attribute__((always_inline))
#else
#define MA_HOST_DEVICE static inline
#endif

namespace microadam {

MA_HOST_DEVICE uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

MA_HOST_DEVICE float bitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

constexpr uint16_t kBf16Nan = 0x7FC0;
constexpr uint16_t kBf16MaxFinite = 0x7F7F;
constexpr uint16_t kF16Nan = 0x7E00;
constexpr uint32_t kNanKey = 0x7FC00000u;

MA_HOST_DEVICE bool isNanBits(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }
MA_HOST_DEVICE bool isFiniteBits(uint32_t u) { return (u & 0x7F800000u) != 0x7F800000u; }

// A float32 result as stored: every NaN becomes the canonical quiet NaN 0x7FC00000, because the
// NaN an operation produces differs between processors (x86: 0xFFC00000, NVIDIA: 0x7FFFFFFF).
MA_HOST_DEVICE float canonicalNan(float f) { return isNanBits(floatBits(f)) ? bitsFloat(kNanKey) : f; }

MA_HOST_DEVICE float bf16ToFloat(uint16_t b) { return bitsFloat(uint32_t(b) << 16); }

// Round to nearest, ties to even; every NaN becomes the canonical quiet NaN.
MA_HOST_DEVICE uint16_t floatToBf16(float f) {
  uint32_t x = floatBits(f);
  if (isNanBits(x)) return kBf16Nan;
  x += 0x7FFFu + ((x >> 16) & 1u);
  return uint16_t(x >> 16);
}

MA_HOST_DEVICE uint16_t saturateBf16(uint16_t b) {
  return (b & 0x7FFFu) == 0x7F80u ? uint16_t((b & 0x8000u) | kBf16MaxFinite) : b;
}

// Largest bf16 <= f, saturating at -max (f is not NaN).
MA_HOST_DEVICE uint16_t bf16RoundDown(float f) {
  uint32_t x = floatBits(f);
  uint16_t high = uint16_t(x >> 16);
  bool exact = (x & 0xFFFFu) == 0;
  bool negative = (x & 0x80000000u) != 0;
  return saturateBf16(negative && !exact ? uint16_t(high + 1) : high);
}

// Smallest bf16 >= f, saturating at +max (f is not NaN).
MA_HOST_DEVICE uint16_t bf16RoundUp(float f) {
  uint32_t x = floatBits(f);
  uint16_t high = uint16_t(x >> 16);
  bool exact = (x & 0xFFFFu) == 0;
  bool negative = (x & 0x80000000u) != 0;
  return saturateBf16(!negative && !exact ? uint16_t(high + 1) : high);
}

MA_HOST_DEVICE float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    // Subnormal: mantissa * 2^-24 is exact in float32.
    float magnitude = float(mantissa) * 5.9604644775390625e-8f;
    return bitsFloat(floatBits(magnitude) | sign);
  }
  if (exponent == 31) return bitsFloat(sign | 0x7F800000u | (mantissa << 13));
  return bitsFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// IEEE binary16, round to nearest, ties to even, subnormals kept; every NaN -> 0x7E00.
MA_HOST_DEVICE uint16_t floatToF16(float f) {
  uint32_t x = floatBits(f);
  uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return kF16Nan;
  if (ax >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // >= 65520 rounds to Inf
  if (ax >= 0x38800000u) {                                  // normal in f16 (>= 2^-14)
    uint32_t rebiased = ax - 0x38000000u;
    rebiased += 0xFFFu + ((rebiased >> 13) & 1u);
    return uint16_t(sign | (rebiased >> 13));
  }
  // Subnormal in f16: count units of 2^-24 with an explicit round-to-nearest-even.
  uint32_t exponent = ax >> 23;
  if (exponent < 102) return sign;  // below 2^-25: rounds to zero
  uint32_t mantissa = (ax & 0x7FFFFFu) | 0x800000u;
  uint32_t shift = 126u - exponent;  // 14..24
  uint32_t quotient = mantissa >> shift;
  uint32_t remainder = mantissa & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1u);
  if (remainder > half || (remainder == half && (quotient & 1u))) ++quotient;
  return uint16_t(sign | quotient);
}

// Top-K key: |a| as unsigned bits; all NaNs share one key above +Inf.
MA_HOST_DEVICE uint32_t magnitudeKey(float a) {
  uint32_t key = floatBits(a) & 0x7FFFFFFFu;
  return key > 0x7F800000u ? kNanKey : key;
}

// Minimum / maximum for the bucket range: NaN ignored, -0 below +0. Written as a total order
// on non-NaN floats: the sign-magnitude bits mapped to an unsigned order.
MA_HOST_DEVICE uint32_t orderedBits(float f) {
  uint32_t x = floatBits(f);
  return (x & 0x80000000u) ? ~x : (x | 0x80000000u);
}

}  // namespace microadam
