// stepBlock for any x86-64 (or other) CPU.
#define MICROADAM_KERNEL_NAMESPACE kernel_baseline
#define MICROADAM_KERNEL_AVX2 0
#include "block_kernel.h"
