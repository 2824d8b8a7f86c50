// Every CUDA runtime call's status becomes an exception (DeviceError) carrying the CUDA error
// name and string; nothing exits. Included by .cu files only.
#pragma once

#include <cuda_runtime.h>

namespace microadam::cuda {

[[noreturn]] void throwCudaError(cudaError_t status, const char* what);

inline void checkCuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throwCudaError(status, what);
}

}  // namespace microadam::cuda
