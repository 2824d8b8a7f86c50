/* C ABI of the CUDA engine for hosts that are neither C++ nor Node: Python's ctypes (the GPU
 * benchmark against torch.optim.AdamW calls the fused step with tensor.data_ptr()), other
 * languages' FFIs. Every function returns 0 on success, or a non-zero code with the message in
 * microadam_last_error() (per thread). Nothing exits or aborts. Device pointers are the caller's
 * promise: they must be device memory of the state's device with numel elements of the dtype. */
#ifndef MICROADAM_C_API_H
#define MICROADAM_C_API_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct microadam_state microadam_state;

/* The packed call of csrc/core/call_format.h. dtype codes: 0 = f32, 1 = bf16, 2 = f16.
 * policy: 0 = skip, 1 = error, 2 = ignore. */
int microadam_state_create(uint64_t numel, uint32_t window, double density, uint32_t topk_block_size,
                           uint32_t quant_block_size, int device, microadam_state** out);
void microadam_state_destroy(microadam_state* state);
uint64_t microadam_state_bytes(const microadam_state* state);
uint64_t microadam_state_step(const microadam_state* state);

/* One step of `count` tensors in one launch. params[i], grads[i]: device pointers;
 * dtypes: 2 per tensor (params, grads); hyper: 6 per tensor (lr, beta1, beta2, eps,
 * weight_decay, alpha); stream: a cudaStream_t or 0. *skipped is set to 0 or 1. */
int microadam_step(microadam_state* const* states, void* const* params, const void* const* grads,
                   const uint8_t* dtypes, const double* hyper, uint32_t count, int policy, uint64_t stream,
                   int* skipped);

int microadam_synchronize(int device, uint64_t stream);
const char* microadam_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
