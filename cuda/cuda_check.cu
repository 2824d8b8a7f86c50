#include "cuda_check.h"

#include <string>

#include "core/errors.h"

namespace microadam::cuda {

void throwCudaError(cudaError_t status, const char* what) {
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw DeviceError(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(status) + ": " +
                    cudaGetErrorString(status));
}

}  // namespace microadam::cuda
