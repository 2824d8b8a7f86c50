// The native fused AdamW: the uncompressed baseline beside MicroAdam, with the same threads,
// dtypes, batching and non-finite policies.
#pragma once

#include <vector>

#include "adamw_state.h"
#include "batch_entry.h"
#include "hyper_params.h"

namespace microadam {

using AdamWTensorStep = BatchEntry<AdamWState>;

// Float32 scalars of one AdamW step, computed in float64 and rounded once.
struct AdamWScalars {
  float beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, decay, stepSize, sqrtBiasCorrection2;
};
AdamWScalars makeAdamWScalars(const HyperParams& hp, uint64_t step);

// A batch checked by the core's entry (step_entry.h), like cpuStep.
StepReport adamWCpuStep(const std::vector<AdamWTensorStep>& steps, NonFinitePolicy policy);

namespace kernel_baseline {
void adamWRange(AdamWState&, const TensorView&, const TensorView&, uint64_t, uint64_t, const AdamWScalars&);
}
namespace kernel_avx2 {
void adamWRange(AdamWState&, const TensorView&, const TensorView&, uint64_t, uint64_t, const AdamWScalars&);
}

}  // namespace microadam
