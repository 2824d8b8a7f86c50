// Engine-wide settings and what this build can do.
import { binding, type CudaInfo } from "./binding";
import { requireInteger } from "./validate";

/** Threads the CPU engine uses for a step (the caller included). Results do not depend on it. */
export function setNumThreads(threads: number): void {
  binding.setNumThreads(requireInteger(threads, "threads", 1, 1024));
}

export function getNumThreads(): number {
  return binding.getNumThreads();
}

export interface Backends {
  /** kernel: the CPU kernel build steps use ('avx512', 'avx2', 'baseline'), or 'unavailable' with kernelError. */
  cpu: { usable: true; threads: number; hardwareThreads: number; kernel: string; kernelError?: string };
  cuda: CudaInfo;
}

/** What was compiled in and what is usable now. */
export function backends(): Backends {
  const info = binding.buildInfo();
  return {
    cpu: {
      usable: true,
      threads: binding.getNumThreads(),
      hardwareThreads: info.hardwareThreads,
      kernel: info.cpuKernel,
      ...(info.cpuKernelError !== undefined ? { kernelError: info.cpuKernelError } : {}),
    },
    cuda: info.cuda,
  };
}
