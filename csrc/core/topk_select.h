// Block-wise Top-K (docs/algorithm.md, step 2). CPU reference of cuda/topk_select.cuh.
#pragma once

#include <cstdint>

namespace microadam {

// Scratch for one block: `keys` holds at least `count` entries.
struct TopkScratch {
  uint32_t* keys;
};

// Selects the `keep` elements of values[0..count) with the largest magnitude keys, ties to the
// smaller index; writes their offsets (ascending) to `indicesOut` and their bf16 values to
// `valuesOut`, and sets the selected values to +0.
void selectTopk(float* values, uint32_t count, uint32_t keep, uint16_t* indicesOut, uint16_t* valuesOut,
                TopkScratch scratch);

// The key of the keep-th largest element (the threshold) and how many elements with exactly that
// key are selected. Exposed for tests and for the CUDA kernel's reference.
struct TopkThreshold {
  uint32_t key;
  uint32_t takeEqual;
};
TopkThreshold findTopkThreshold(const uint32_t* keys, uint32_t count, uint32_t keep);

}  // namespace microadam
