#include "c_api.h"

#include <exception>
#include <string>
#include <vector>

#include "cuda_engine.h"
#include "device_state.h"

struct microadam_state {
  explicit microadam_state(const microadam::StateConfig& c, int device) : state(c, device) {}
  microadam::cuda::DeviceState state;
};

namespace {

thread_local std::string lastError;

template <typename Body>
int guarded(Body body) {
  try {
    body();
    lastError.clear();
    return 0;
  } catch (const std::exception& e) {
    lastError = e.what();
  } catch (...) {
    lastError = "unknown error";
  }
  return 1;
}

}  // namespace

extern "C" {

int microadam_state_create(uint64_t numel, uint32_t window, double density, uint32_t topkBlockSize,
                           uint32_t quantBlockSize, int device, microadam_state** out) {
  return guarded([&] {
    if (!out) throw microadam::TypeError("out must not be NULL");
    microadam::StateConfig c;
    c.numel = numel;
    c.window = window;
    c.density = density;
    c.topkBlockSize = topkBlockSize;
    c.quantBlockSize = quantBlockSize;
    microadam::validateConfig(c);
    *out = new microadam_state(c, device);
  });
}

void microadam_state_destroy(microadam_state* state) { delete state; }

uint64_t microadam_state_bytes(const microadam_state* state) { return state ? state->state.layout().stateBytes() : 0; }

uint64_t microadam_state_step(const microadam_state* state) { return state ? state->state.step() : 0; }

int microadam_step(microadam_state* const* states, void* const* params, const void* const* grads, const uint8_t* dtypes,
                   const double* hyper, uint32_t count, int policy, uint64_t stream, int* skipped) {
  return guarded([&] {
    if (!states || !params || !grads || !dtypes || !hyper || !skipped)
      throw microadam::TypeError("microadam_step: a pointer argument is NULL");
    if (policy < 0 || policy > 2) throw microadam::RangeError("policy must be 0, 1 or 2");
    std::vector<microadam::cuda::DeviceTensorStep> steps(count);
    for (uint32_t i = 0; i < count; ++i) {
      if (!states[i]) throw microadam::TypeError("states[" + std::to_string(i) + "] is NULL");
      if (dtypes[2 * i] > 2 || dtypes[2 * i + 1] > 2)
        throw microadam::RangeError("dtypes[" + std::to_string(i) + "] is not a known dtype code");
      const uint64_t n = states[i]->state.numel();
      steps[i].state = &states[i]->state;
      steps[i].params = microadam::TensorView{params[i], n, microadam::Dtype(dtypes[2 * i]), true};
      steps[i].grads = microadam::TensorView{const_cast<void*>(grads[i]), n, microadam::Dtype(dtypes[2 * i + 1]), true};
      const double* h = hyper + 6 * size_t(i);
      steps[i].hyper = microadam::HyperParams{h[0], h[1], h[2], h[3], h[4], h[5]};
    }
    struct Held {
      std::vector<microadam::cuda::DeviceTensorStep>& steps;
      size_t count = 0;
      ~Held() {
        for (size_t i = 0; i < count; ++i) steps[i].state->release();
      }
    } held{steps};
    for (auto& s : steps) {
      if (!s.state->tryAcquire()) throw microadam::StateError("a state is busy (or given twice)");
      ++held.count;
    }
    *skipped = microadam::cuda::cudaStep(steps, microadam::NonFinitePolicy(policy), stream).skipped ? 1 : 0;
  });
}

int microadam_synchronize(int device, uint64_t stream) {
  return guarded([&] { microadam::cuda::synchronize(device, stream); });
}

const char* microadam_last_error(void) { return lastError.c_str(); }

}  // extern "C"
