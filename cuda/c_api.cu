#include "c_api.h"

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/call_format.h"
#include "core/step_entry.h"

// A state made through the CUDA backend (core/backend.h), as the C ABI hands it out.
struct microadam_state {
  std::shared_ptr<microadam::OptimizerState> state;
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
    auto created = std::make_unique<microadam_state>();
    created->state = microadam::cudaBackend().createState(c, device);
    *out = created.release();
  });
}

void microadam_state_destroy(microadam_state* state) { delete state; }

uint64_t microadam_state_bytes(const microadam_state* state) { return state ? state->state->layout().stateBytes() : 0; }

uint64_t microadam_state_step(const microadam_state* state) { return state ? state->state->step() : 0; }

// The packed call of core/call_format.h, with device pointers as the tensors.
int microadam_step(microadam_state* const* states, void* const* params, const void* const* grads, const uint8_t* dtypes,
                   const double* hyper, uint32_t count, int policy, uint64_t stream, int* skipped) {
  return guarded([&] {
    if (!states || !params || !grads || !dtypes || !hyper || !skipped)
      throw microadam::TypeError("microadam_step: a pointer argument is NULL");
    const microadam::NonFinitePolicy nonFinite = microadam::nonFinitePolicyFromCode(policy, "policy");
    const microadam::PackedTensors packed{count, dtypes, hyper};
    std::vector<microadam::StateStep> steps(count);
    std::vector<microadam::OptimizerState*> held;
    for (uint32_t i = 0; i < count; ++i) {
      if (!states[i]) throw microadam::TypeError("states[" + std::to_string(i) + "] is NULL");
      const uint64_t n = states[i]->state->numel();
      steps[i].state = states[i]->state.get();
      steps[i].params = microadam::TensorView{params[i], n, packed.dtype(i, 0), true};
      steps[i].grads = microadam::TensorView{const_cast<void*>(grads[i]), n, packed.dtype(i, 1), true};
      steps[i].hyper = packed.hyperParams(i);
      held.push_back(steps[i].state);
    }
    microadam::checkMicroAdamBatch(steps, stream);
    microadam::acquireAll(held);
    struct Release {
      std::vector<microadam::OptimizerState*>& states;
      ~Release() { microadam::releaseAll(states); }
    } release{held};
    *skipped = microadam::runMicroAdamBatch(steps, nonFinite, stream).skipped ? 1 : 0;
  });
}

int microadam_synchronize(int device, uint64_t stream) {
  return guarded([&] { microadam::cudaBackend().synchronize(device, stream); });
}

const char* microadam_last_error(void) { return lastError.c_str(); }

}  // extern "C"
