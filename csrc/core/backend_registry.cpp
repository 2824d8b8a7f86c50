// The registry of backend.h: which implementation serves each Device. The CUDA entry is whichever
// definition of cudaBackend() the build linked: the CUDA engine's (cuda/cuda_backend.cu) or the
// stand-in of a build without CUDA (csrc/no_cuda/cuda_unavailable.cpp), so no source here
// depends on how the addon was built.
#include "backend.h"

#include "errors.h"

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

CollectiveLibraryDescription Backend::describeCollectives() const {
  CollectiveLibraryDescription d;
  d.error = "the " + std::string(device() == Device::Cpu ? "CPU" : "CUDA") +
            " backend of this build has no device collectives (CPU ranks use the MPI process group)";
  return d;
}

std::vector<uint8_t> Backend::newCommunicatorId() const { throw CollectiveError(describeCollectives().error); }

std::shared_ptr<DeviceCommunicator> Backend::createCommunicator(const std::vector<uint8_t>&, int, int, int, double) const {
  throw CollectiveError(describeCollectives().error);
}

}  // namespace microadam
