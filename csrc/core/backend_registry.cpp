// The registry of backend.h: which implementation serves each Device. The CUDA entry is whichever
// definition of cudaBackend() the build linked: the CUDA engine's (cuda/cuda_backend.cu) or the
// stand-in of a build without CUDA (csrc/no_cuda/cuda_unavailable.cpp), so no source here
// depends on how the addon was built.
#include "backend.h"

namespace microadam {

const Backend& backendFor(Device device) { return device == Device::Cuda ? cudaBackend() : cpuBackend(); }

void Backend::snapshot(const OptimizerState& state, const SnapshotTarget& target) const {
  synchronize(state.deviceIndex(), 0);
  state.copyTo(target);
}

void Backend::restore(OptimizerState& state, const SnapshotView& view) const {
  synchronize(state.deviceIndex(), 0);
  state.restore(view);
}

}  // namespace microadam
