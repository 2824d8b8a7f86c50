// What the fused step kernel needs to know about one tensor: its memory, its layout and the
// float32 scalars of this step. Plain C++ shared by the CUDA host code (which uploads an array
// of plans, one launch for all tensors) and the SIMT harness tests (which point the same plans
// at host memory).
#pragma once

#include <cstdint>
#include <vector>

#include "core/hyper_params.h"
#include "core/layout.h"
#include "core/tensor.h"

namespace microadam::kernels {

// Threads per thread block of the fused step: one thread block per Top-K block.
constexpr uint32_t kStepThreads = 256;

struct StateBuffers {
  uint8_t* errorCodes;
  uint16_t* errorMin;
  uint16_t* errorMax;
  uint16_t* windowIndices;
  uint16_t* windowValues;
};

struct TensorPlan {
  void* params;
  const void* grads;
  StateBuffers state;
  const float* beta1Powers;  // p1[age], age = 0..window-1
  const float* beta2Powers;
  uint64_t numel;
  uint64_t rowLength;    // K
  uint64_t firstBlock;   // this tensor's block 0 in the launch grid
  uint64_t blockCount;
  uint64_t step;         // t after the increment
  uint32_t topkBlockSize;
  uint32_t quantBlockSize;
  uint32_t window;
  uint32_t keepFull;     // k_j of a full block; slot offset o_j = j * keepFull
  uint32_t keepLast;     // k_j of the last block
  uint8_t paramDtype;    // Dtype
  uint8_t gradDtype;
  uint8_t hasDecay;
  uint8_t hasAlpha;
  float lr, eps, alpha, oneMinusAlpha, decay, c1, c2;
};

// One tensor of a launch, as the host sees it.
struct PlanInput {
  const StateLayout* layout;
  uint64_t newStep;  // t after the increment
  HyperParams hyper;
  StateBuffers state;
  TensorView params;
  TensorView grads;
};

// Everything one launch of the fused kernel needs, built on the host. The beta powers of all
// tensors sit in one array; bindPowers points each plan into wherever that array was copied
// (device memory for CUDA, the array itself in the harness).
struct LaunchPlan {
  std::vector<TensorPlan> plans;
  std::vector<float> betaPowers;        // per plan: window beta1 powers, then window beta2 powers
  std::vector<uint64_t> powersOffset;   // where plan i's beta1 powers start in betaPowers
  uint64_t gridBlocks = 0;
  uint32_t largestTopkBlock = 0;

  void bindPowers(const float* base);
};

// Scalars (docs/algorithm.md, "Numbers"), block numbering and shared-memory size for a launch.
LaunchPlan buildLaunchPlan(const std::vector<PlanInput>& inputs);

// Dynamic shared memory of one thread block for Top-K blocks of up to `topkBlockSize` elements.
uint64_t stepSharedBytes(uint32_t topkBlockSize);

}  // namespace microadam::kernels
