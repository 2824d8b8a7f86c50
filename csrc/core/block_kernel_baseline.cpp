// stepBlock for any x86-64 (or other) CPU.
#define MICROADAM_KERNEL_NAMESPACE kernel_baseline
#include "block_kernel.h"
