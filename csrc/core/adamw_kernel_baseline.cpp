// adamWRange for any CPU.
#define MICROADAM_KERNEL_NAMESPACE kernel_baseline
#include "adamw_kernel.h"
