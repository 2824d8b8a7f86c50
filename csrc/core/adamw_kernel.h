// AdamW over a range of elements. Compiled once per instruction set (adamw_kernel_baseline.cpp,
// adamw_kernel_avx2.cpp), so everything here has internal linkage (see numeric.h); each of those
// files exports its build as kernel_<isa>::adamWRange, a call to adamWRangeOf.
// Decoupled weight decay and bias correction as in torch.optim.AdamW:
//   p = p*(1 - lr*wd); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
//   p = p - stepSize * m / (sqrt(v)/sqrt(bc2) + eps), stepSize = lr/bc1.
#pragma once

#include <cmath>
#include <cstdint>

#include "adamw_engine.h"
#include "kernel_elements.h"
#include "numeric.h"

namespace microadam {
namespace {

template <Dtype P, Dtype G>
void adamWRangeTyped(AdamWState& state, void* paramData, const void* gradData, uint64_t begin, uint64_t end,
                     const AdamWScalars& scalars) {
  // Restrict-qualified pointers and scalars copied to locals: without them the compiler must
  // assume a store to params may change the moments or the scalars, and it will not vectorize.
  auto* __restrict__ params = static_cast<typename Element<P>::Storage*>(paramData);
  const auto* __restrict__ grads = static_cast<const typename Element<G>::Storage*>(gradData);
  float* __restrict__ m = state.expAvg();
  float* __restrict__ v = state.expAvgSq();
  const float beta1 = scalars.beta1, beta2 = scalars.beta2;
  const float oneMinusBeta1 = scalars.oneMinusBeta1, oneMinusBeta2 = scalars.oneMinusBeta2;
  const float eps = scalars.eps, decay = scalars.decay, stepSize = scalars.stepSize;
  const float sqrtBiasCorrection2 = scalars.sqrtBiasCorrection2;
  for (uint64_t i = begin; i < end; ++i) {
    const float g = Element<G>::load(grads, i);
    const float mi = beta1 * m[i] + oneMinusBeta1 * g;
    const float vi = beta2 * v[i] + (oneMinusBeta2 * g) * g;
    m[i] = mi;
    v[i] = vi;
    const float x = Element<P>::load(params, i) * decay;
    Element<P>::store(params, i, x - stepSize * (mi / (std::sqrt(vi) / sqrtBiasCorrection2 + eps)));
  }
}

using TypedRange = void (*)(AdamWState&, void*, const void*, uint64_t, uint64_t, const AdamWScalars&);

template <Dtype P>
TypedRange rangeFor(Dtype g) {
  switch (g) {
    case Dtype::F32: return &adamWRangeTyped<P, Dtype::F32>;
    case Dtype::BF16: return &adamWRangeTyped<P, Dtype::BF16>;
    case Dtype::F16: return &adamWRangeTyped<P, Dtype::F16>;
  }
  return nullptr;
}

// adamWRange (adamw_engine.h) in the instruction set of the including file.
void adamWRangeOf(AdamWState& state, const TensorView& params, const TensorView& grads, uint64_t begin, uint64_t end,
                  const AdamWScalars& scalars) {
  TypedRange fn = params.dtype == Dtype::F32    ? rangeFor<Dtype::F32>(grads.dtype)
                  : params.dtype == Dtype::BF16 ? rangeFor<Dtype::BF16>(grads.dtype)
                                                : rangeFor<Dtype::F16>(grads.dtype);
  fn(state, params.data, grads.data, begin, end, scalars);
}

}  // namespace
}  // namespace microadam
