// The seam between the core and the places a MicroAdam state can live. A backend makes states,
// steps a checked batch of them, waits for its device, describes its devices and allocates device
// memory. Two implement it: the CPU engine (cpu_backend.cpp) and the CUDA engine
// (cuda/cuda_backend.cu), or in a build without CUDA a stand-in that says why there is none
// (csrc/no_cuda/cuda_unavailable.cpp). Hosts (the N-API layer, the C ABI) find them through
// backendFor() and never name an engine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "batch_entry.h"
#include "device_communicator.h"
#include "state.h"

namespace microadam {

// One tensor of a MicroAdam step, whatever backend its state lives on.
using StateStep = BatchEntry<OptimizerState>;

struct DeviceDescription {
  int index = 0;
  std::string name;
  uint64_t totalMemoryBytes = 0;
  std::string computeCapability;  // "9.0"
  // The largest topkBlockSize a state on this device takes (0 when it could not be asked).
  uint32_t largestTopkBlockSize = 0;
};

struct BackendDescription {
  bool compiled = false;  // this build has the backend
  bool usable = false;    // its runtime found at least one device
  int runtimeVersion = 0;
  int errorCode = 0;      // the runtime's code when not usable
  std::string error;      // why not usable, in words
  std::vector<DeviceDescription> devices;
};

// Memory on a device, owned by the host program (a DeviceArray in JavaScript). Synchronous copies
// throw RangeError past the end and DeviceError when the device fails.
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  virtual void* data() const = 0;
  virtual uint64_t bytes() const = 0;
  virtual int deviceIndex() const = 0;
  virtual void upload(const void* host, uint64_t bytes, uint64_t offset) = 0;
  virtual void download(void* host, uint64_t bytes, uint64_t offset) const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  virtual BackendDescription describe() const = 0;

  // Throws DeviceUnavailableError ("<what> needs a usable CUDA device but <reason>") unless the
  // backend's runtime answers, and RangeError naming `indexName` unless `deviceIndex` is one of
  // its devices. Never crashes on a machine without a driver.
  virtual void requireDevice(int deviceIndex, const std::string& what, const std::string& indexName) const = 0;

  // A new zeroed state on device `deviceIndex` (checked with requireDevice first).
  virtual std::shared_ptr<OptimizerState> createState(const StateConfig& config, int deviceIndex) const = 0;

  // `bytes` of memory on device `deviceIndex` (checked with requireDevice first).
  virtual std::shared_ptr<DeviceMemory> allocate(uint64_t bytes, int deviceIndex) const = 0;

  // One step of a batch the core's entry has checked (step_entry.h): every state is this
  // backend's, on one device, and every tensor is where the backend can read it.
  virtual StepReport step(const std::vector<StateStep>& steps, NonFinitePolicy policy, uint64_t stream) const = 0;

  // Waits for `stream` (0: every stream) on the device; returns at once where there is no queue.
  virtual void synchronize(int deviceIndex, uint64_t stream) const = 0;

  // The collective library of this backend's devices (NCCL for CUDA), loaded on first ask. The
  // default: none (the CPU's process group is the MPI addon, csrc/distributed/).
  virtual CollectiveLibraryDescription describeCollectives() const;
  // A new communicator id (rank 0 makes it; the CPU process group carries it to the others).
  virtual std::vector<uint8_t> newCommunicatorId() const;
  // This rank's communicator on device `deviceIndex`; blocks until all `size` ranks joined with
  // the same id, or throws CollectiveTimeoutError after `timeoutSeconds`.
  virtual std::shared_ptr<DeviceCommunicator> createCommunicator(const std::vector<uint8_t>& id, int size, int rank,
                                                                 int deviceIndex, double timeoutSeconds) const;

  // A state's buffers copied out and replaced, once work queued on its device has finished.
  void snapshot(const OptimizerState& state, const SnapshotTarget& target) const;
  void restore(OptimizerState& state, const SnapshotView& view) const;
};

// The registry: the backend of each Device.
const Backend& backendFor(Device device);
inline const Backend& backendOf(const OptimizerState& state) { return backendFor(state.device()); }

// The two implementations the registry chooses between (one definition of cudaBackend is linked:
// the CUDA engine's or the stand-in's).
const Backend& cpuBackend();
const Backend& cudaBackend();

}  // namespace microadam
