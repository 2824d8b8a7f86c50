// Native self-test of the CUDA engine on a real GPU, without Node: every step of the CUDA
// engine equals the CPU engine's bit for bit (params and the whole state), for every dtype
// pair, odd sizes, many tensors in one launch, long runs, host and device tensors, the
// non-finite policies, and states moved between backends mid-run. The comparison runs step the
// CUDA states through the core's entry (core/step_entry.h), so the backend seam is on the path. Built by CMake
// (-DMICROADAM_SELFTEST=ON, CUDA on) as microadam_cuda_selftest.
//
// Without a usable device it prints a SKIPPED line and exits 0, or exits 1 with
// --require-device (the GPU check script passes it). Prints "N passed, M failed" last.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_engine.h"
#include "core/errors.h"
#include "core/state.h"
#include "core/step_entry.h"
#include "cuda/cuda_engine.h"
#include "cuda/device_buffer.h"
#include "cuda/device_probe.h"
#include "cuda/device_state.h"
#include "test_support.h"

using namespace microadam;
using namespace microadam::native_test;

namespace {

float drawGradient(std::mt19937& rng, bool hostile) {
  std::normal_distribution<float> normal;
  if (!hostile) return normal(rng) * 1e-2f;
  switch (rng() % 12) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return 0.25f;
    case 3: return -0.25f;
    case 4: return 3e38f;
    case 5: return 1e-40f;
    default: return normal(rng);
  }
}

struct Case {
  std::string name;
  std::vector<uint64_t> sizes;
  StateConfig config;
  Dtype param, grad;
  double weightDecay, alpha;
  int steps;
  bool deviceTensors;
  bool hostile;
};

// Runs the case on both engines; `moveAt` > 0 moves the CUDA states to the CPU and back through
// snapshots at that step, to show the bytes carry over.
void runCase(const Case& c, int moveAt = 0) {
  std::mt19937 rng(99);
  std::vector<std::unique_ptr<HostState>> hostStates;
  std::vector<std::unique_ptr<cuda::DeviceState>> deviceStates;
  std::vector<HostTensor> hostParams, deviceSideParams;
  std::vector<std::unique_ptr<cuda::DeviceBuffer>> paramBuffers, gradBuffers;
  std::vector<HyperParams> hyper;
  for (uint64_t n : c.sizes) {
    StateConfig config = c.config;
    config.numel = n;
    hostStates.push_back(std::make_unique<HostState>(config));
    deviceStates.push_back(std::make_unique<cuda::DeviceState>(config, 0));
    hostParams.emplace_back(c.param, n);
    for (uint64_t i = 0; i < n; ++i) hostParams.back().set(i, std::normal_distribution<float>()(rng));
    deviceSideParams.push_back(hostParams.back());
    paramBuffers.push_back(std::make_unique<cuda::DeviceBuffer>(hostParams.back().bytes.size(), 0));
    paramBuffers.back()->upload(hostParams.back().bytes.data(), hostParams.back().bytes.size(), 0);
    gradBuffers.push_back(std::make_unique<cuda::DeviceBuffer>(n * dtypeBytes(c.grad), 0));
    HyperParams h;
    h.lr = 1e-3 * (1 + hyper.size());
    h.weightDecay = c.weightDecay;
    h.alpha = c.alpha;
    hyper.push_back(h);
  }
  bool same = true;
  int firstDiff = 0;
  for (int t = 1; t <= c.steps && same; ++t) {
    std::vector<HostTensor> grads;
    std::vector<TensorStep> hostSteps;
    std::vector<StateStep> deviceSteps;  // through the core's entry and the backend registry
    for (size_t i = 0; i < c.sizes.size(); ++i) {
      grads.emplace_back(c.grad, c.sizes[i]);
      for (uint64_t e = 0; e < c.sizes[i]; ++e) grads.back().set(e, drawGradient(rng, c.hostile));
    }
    for (size_t i = 0; i < c.sizes.size(); ++i) {
      hostSteps.push_back(TensorStep{hostStates[i].get(), hostParams[i].view(), grads[i].view(), hyper[i]});
      StateStep d{deviceStates[i].get(), deviceSideParams[i].view(), grads[i].view(), hyper[i]};
      if (c.deviceTensors) {
        gradBuffers[i]->upload(grads[i].bytes.data(), grads[i].bytes.size(), 0);
        d.params = TensorView{paramBuffers[i]->data(), c.sizes[i], c.param, true};
        d.grads = TensorView{gradBuffers[i]->data(), c.sizes[i], c.grad, true};
      }
      deviceSteps.push_back(d);
    }
    cpuStep(hostSteps, NonFinitePolicy::Skip);
    stepMicroAdam(deviceSteps, NonFinitePolicy::Skip);
    for (size_t i = 0; i < c.sizes.size(); ++i) {
      if (c.deviceTensors)
        paramBuffers[i]->download(deviceSideParams[i].bytes.data(), deviceSideParams[i].bytes.size(), 0);
      if (hostParams[i].bytes != deviceSideParams[i].bytes || !(Snapshot(*hostStates[i]) == Snapshot(*deviceStates[i]))) {
        same = false;
        firstDiff = t;
      }
    }
    if (t == moveAt)
      for (size_t i = 0; i < c.sizes.size(); ++i) {
        // CUDA -> CPU -> a fresh CUDA state.
        HostState bridge(deviceStates[i]->layout().config());
        bridge.restore(Snapshot(*deviceStates[i]).view());
        deviceStates[i] = std::make_unique<cuda::DeviceState>(deviceStates[i]->layout().config(), 0);
        deviceStates[i]->restore(Snapshot(bridge).view());
      }
  }
  check(same, c.name + (same ? "" : " (first difference at step " + std::to_string(firstDiff) + ")"));
}

void testNonFinitePolicies() {
  StateConfig c = config(3, 0.05, 256, 16);
  c.numel = 1000;
  cuda::DeviceState state(c, 0);
  HostTensor params(Dtype::F32, 1000), grads(Dtype::BF16, 1000);
  for (uint64_t i = 0; i < 1000; ++i) {
    params.set(i, 1.0f);
    grads.set(i, i == 777 ? NAN : 0.5f);
  }
  const std::vector<uint8_t> before = params.bytes;
  HyperParams h;
  h.lr = 0.1;
  std::vector<cuda::DeviceTensorStep> steps{{&state, params.view(), grads.view(), h}};
  const bool skipped = cuda::cudaStep(steps, NonFinitePolicy::Skip, 0).skipped;
  check(skipped && state.step() == 0 && params.bytes == before, "skip: a NaN gradient changes nothing on CUDA");
  bool threw = false;
  try {
    cuda::cudaStep(steps, NonFinitePolicy::Error, 0);
  } catch (const NonFiniteGradientError&) {
    threw = true;
  }
  check(threw && state.step() == 0 && params.bytes == before, "error: throws and changes nothing on CUDA");
  check(!cuda::cudaStep(steps, NonFinitePolicy::Ignore, 0).skipped && state.step() == 1, "ignore: steps on CUDA");
}

void testErrors() {
  bool threw = false;
  try {
    cuda::DeviceBuffer b(16, 0);
    char host[32];
    b.download(host, 32, 0);
  } catch (const RangeError&) {
    threw = true;
  }
  check(threw, "a copy past a device buffer's end is a RangeError");
  threw = false;
  try {
    StateConfig c;
    c.numel = 10;
    c.topkBlockSize = 65536;
    cuda::DeviceState s(c, 0);
  } catch (const RangeError& e) {
    threw = std::string(e.what()).find("options.topkBlockSize must be at most") == 0;
  }
  check(threw, "a Top-K block too large for shared memory is refused at creation");
  threw = false;
  try {
    StateConfig c;
    c.numel = 10;
    cuda::DeviceState s(c, 4096);
  } catch (const DeviceError& e) {
    threw = std::string(e.what()).find("CUDA error") == 0;
  }
  check(threw, "a device index that does not exist is a DeviceError with the CUDA message");
}

}  // namespace

int main(int argc, char** argv) {
  // --require-device: fail without a GPU. --quick: small cases only (for compute-sanitizer).
  bool requireDevice = false, quick = false;
  for (int i = 1; i < argc; ++i) {
    requireDevice = requireDevice || std::strcmp(argv[i], "--require-device") == 0;
    quick = quick || std::strcmp(argv[i], "--quick") == 0;
  }
  const cuda::RuntimeProbe probe = cuda::probeRuntime();
  if (!probe.usable) {
    std::printf("SKIPPED: no usable CUDA device (%s); the CUDA engine was not run\n", probe.error.c_str());
    return requireDevice ? 1 : 0;
  }
  std::printf("device 0: %s, compute capability %d.%d\n", probe.devices[0].name.c_str(), probe.devices[0].computeMajor,
              probe.devices[0].computeMinor);
  try {
    const Dtype all[] = {Dtype::F32, Dtype::BF16, Dtype::F16};
    for (Dtype p : all)
      for (Dtype g : all)
        for (bool onDevice : {false, true})
          runCase(Case{std::string("CUDA = CPU, params ") + dtypeName(p) + ", grads " + dtypeName(g) +
                           (onDevice ? ", device tensors" : ", host tensors") + ", decay and alpha",
                       {5000, 4097, 63}, config(10, 0.01, 4096, 64), p, g, 0.01, 0.2, quick ? 3 : 15, onDevice,
                       false});
    if (quick) {
      testNonFinitePolicies();
      return tally.finish();
    }
    runCase(Case{"odd sizes, 12 tensors, no decay", {1, 2, 3, 31, 64, 65, 255, 4095, 4096, 4097, 10007, 65537},
                 config(4, 0.02, 512, 32), Dtype::F32, Dtype::F32, 0.0, 0.0, 25, true, false});
    runCase(Case{"hostile gradients (+-0, ties, huge, subnormal)", {3000, 700}, config(3, 0.1, 128, 8), Dtype::F32,
                 Dtype::F32, 0.05, 0.0, 20, true, true});
    runCase(Case{"Q = 2, Q = 6, density 1", {301}, config(2, 1.0, 96, 6), Dtype::BF16, Dtype::F16, 0.0, 0.3, 8, false,
                 false});
    runCase(Case{"B = 16384 (large shared memory), m = 20", {100000}, config(20, 0.01, 16384, 128), Dtype::F32,
                 Dtype::BF16, 0.0, 0.0, 30, true, false});
    runCase(Case{"long run: 300 steps, defaults, 1M params", {1000000}, config(10, 0.01, 4096, 64), Dtype::F32,
                 Dtype::F32, 0.01, 0.0, 300, true, false});
    runCase(Case{"state moved CUDA -> CPU -> CUDA at step 7", {20000, 333}, config(10, 0.01, 4096, 64), Dtype::BF16,
                 Dtype::BF16, 0.0, 0.0, 15, true, false},
            7);
    testNonFinitePolicies();
    testErrors();
  } catch (const std::exception& e) {
    check(false, std::string("unexpected exception: ") + e.what());
  }
  return tally.finish();
}
