// A small native driver for the CPU step, without Node: times MicroAdam (cpuStep) and the fused
// AdamW (adamWCpuStep) on the same data and threads, and gives callgrind a deterministic
// workload. Build against the core that `npm run build:native` made:
//
//   g++ -O2 -std=c++20 -Icsrc bench/step/kernel-driver.cpp build/libmicroadam_core.a -lpthread \
//       -o build/kernel-driver
//   build/kernel-driver --numel 16M --threads 1 --steps 12          # wall clock, both methods
//   valgrind --tool=callgrind --collect-atstart=no \
//       build/kernel-driver --numel 1M --steps 10 --only microadam  # instructions per element
//
// Under callgrind only the timed steps are counted (the warm-up steps are not: the first step of
// a state has no Top-K hint), so Ir / (numel * steps) is the steady state's cost per element.
//
// Gradient streams (--grads; three buffers used in turn, as a changing gradient):
//   bench      the step benchmark's (bench/step/contenders.ts, makeValues: uniform values scaled
//              by 1 + i % 17), the default;
//   normal     Gaussian values with a log-normal scale per block of 4096;
//   lognormal  matrices of rows 1024 wide whose scales spread over orders of magnitude
//              (log-normal, sigma 2) with Gaussian entries, changing slowly from step to step:
//              each row's scale moves by about 5% and its entries keep 0.9 of the last ones;
//   mnist      the gradients of a real training run (bench/step/capture-mnist-grads.ts writes
//              them to build/mnist-mlp-grads.f32, --mnist FILE names another), tiled.
// --dtype bf16 steps bf16 params and gradients (the gradients rounded from the same values).
// With --only both (the default) MicroAdam and AdamW steps alternate, so both see the same load.
// After the timed steps, a few more are run with the Top-K hint counted (topkHintStats) and the
// hint's hit rate is printed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(STEP_MARKERS)
// Markers for bench/step/count-instructions.c, which counts what runs between them.
#define CALLGRIND_TOGGLE_COLLECT __asm__ volatile("int3")
#elif __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "core/adamw_engine.h"
#include "core/block_step.h"
#include "core/cpu_engine.h"
#include "core/thread_pool.h"

using namespace microadam;

namespace {

uint64_t parseCount(const char* text) {
  char* end = nullptr;
  double value = std::strtod(text, &end);
  if (*end == 'K' || *end == 'k') value *= 1024;
  if (*end == 'M' || *end == 'm') value *= 1024 * 1024;
  return uint64_t(value);
}

// bench/step/contenders.ts makeValues, bit for bit (the LCG and the float arithmetic).
std::vector<float> benchValues(uint64_t numel, uint32_t seed) {
  std::vector<float> out(numel);
  uint32_t s = seed;
  for (uint64_t i = 0; i < numel; ++i) {
    s = s * 1664525u + 1013904223u;
    out[i] = float((double(s >> 8) / 16777216.0 - 0.5) * double(1 + i % 17));
  }
  return out;
}

// Gaussian values with a scale per block of 4096 that stays within 20% from step to step (a
// lognormal spread across blocks, as between the layers and rows of a network).
std::vector<float> normalValues(uint64_t numel, uint32_t seed) {
  std::vector<float> out(numel);
  std::mt19937 rng(seed), blockRng(12345);
  std::normal_distribution<float> normal;
  std::lognormal_distribution<float> blockScale(0.0f, 1.0f);
  std::uniform_real_distribution<float> stepScale(0.8f, 1.2f);
  float scale = 1.0f;
  for (uint64_t i = 0; i < numel; ++i) {
    if (i % 4096 == 0) scale = 1e-3f * blockScale(blockRng) * stepScale(rng);
    out[i] = scale * normal(rng);
  }
  return out;
}

// Rows of 1024 with log-normal scales (sigma 2: 95% of rows within a factor of 50 of the
// median), Gaussian entries; buffer `step` moves each row's scale by exp(0.05 z) per step and
// keeps 0.9 of the last entries (the rest fresh noise), as consecutive training steps do.
std::vector<std::vector<float>> lognormalStream(uint64_t numel, uint32_t buffers) {
  constexpr uint64_t kRow = 1024;
  std::mt19937 rng(99);
  std::normal_distribution<float> normal;
  const uint64_t rows = (numel + kRow - 1) / kRow;
  std::vector<float> scale(rows);
  for (auto& x : scale) x = 1e-3f * std::exp(2.0f * normal(rng));
  std::vector<std::vector<float>> out(buffers, std::vector<float>(numel));
  std::vector<float> entries(numel);
  for (auto& x : entries) x = normal(rng);
  for (uint32_t b = 0; b < buffers; ++b) {
    for (uint64_t r = 0; r < rows; ++r) scale[r] *= std::exp(0.05f * normal(rng));
    for (uint64_t i = 0; i < numel; ++i) {
      entries[i] = 0.9f * entries[i] + 0.43589f * normal(rng);
      out[b][i] = scale[i / kRow] * entries[i];
    }
  }
  return out;
}

// `buffers` consecutive steps of the captured MNIST gradients, each tiled to numel.
std::vector<std::vector<float>> mnistStream(uint64_t numel, uint32_t buffers, const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  uint32_t header[2] = {0, 0};
  if (f == nullptr || std::fread(header, 4, 2, f) != 2 || header[0] < buffers || header[1] == 0) {
    if (f) std::fclose(f);
    throw std::runtime_error("--grads mnist: cannot read " + file +
                             " (write it with: npx ts-node bench/step/capture-mnist-grads.ts)");
  }
  std::vector<float> captured(uint64_t(header[0]) * header[1]);
  const size_t got = std::fread(captured.data(), 4, captured.size(), f);
  std::fclose(f);
  if (got != captured.size()) throw std::runtime_error("--grads mnist: " + file + " is shorter than its header says");
  std::vector<std::vector<float>> out(buffers, std::vector<float>(numel));
  for (uint32_t b = 0; b < buffers; ++b)
    for (uint64_t i = 0; i < numel; ++i) out[b][i] = captured[uint64_t(b) * header[1] + i % header[1]];
  return out;
}

uint16_t toBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
  x += 0x7FFFu + ((x >> 16) & 1u);
  return uint16_t(x >> 16);
}

struct Timing {
  double median, min;
};

Timing timingOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[0]};
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t numel = 16 << 20;
  unsigned threads = 1;
  int steps = 12, warmup = 3;
  uint32_t window = 10;
  double density = 0.01;
  std::string only = "both", grads = "bench", dtype = "f32", mnistFile = "build/mnist-mlp-grads.f32";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--numel") numel = parseCount(argv[i + 1]);
    else if (flag == "--threads") threads = unsigned(std::atoi(argv[i + 1]));
    else if (flag == "--steps") steps = std::atoi(argv[i + 1]);
    else if (flag == "--warmup") warmup = std::atoi(argv[i + 1]);
    else if (flag == "--window") window = uint32_t(std::atoi(argv[i + 1]));
    else if (flag == "--density") density = std::atof(argv[i + 1]);
    else if (flag == "--only") only = argv[i + 1];
    else if (flag == "--grads") grads = argv[i + 1];
    else if (flag == "--dtype") dtype = argv[i + 1];
    else if (flag == "--mnist") mnistFile = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (grads != "bench" && grads != "normal" && grads != "lognormal" && grads != "mnist") {
    std::fprintf(stderr, "--grads must be bench, normal, lognormal or mnist, not %s\n", grads.c_str());
    return 2;
  }
  if (dtype != "f32" && dtype != "bf16") {
    std::fprintf(stderr, "--dtype must be f32 or bf16, not %s\n", dtype.c_str());
    return 2;
  }
  const bool runMicroAdam = only == "both" || only == "microadam", runAdamW = only == "both" || only == "adamw";
  const Dtype d = dtype == "bf16" ? Dtype::BF16 : Dtype::F32;
  ThreadPool::shared().setThreadCount(threads);
  const char* kernel;
  try {
    kernel = blockKernelName();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  std::vector<std::vector<float>> gradients;
  try {
    if (grads == "lognormal") gradients = lognormalStream(numel, 3);
    else if (grads == "mnist") gradients = mnistStream(numel, 3, mnistFile);
    else
      for (uint32_t seed : {2u, 5u, 7u})
        gradients.push_back(grads == "normal" ? normalValues(numel, seed) : benchValues(numel, seed));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  std::vector<std::vector<uint16_t>> gradientsBf16;
  if (d == Dtype::BF16)
    for (auto& g : gradients) {
      gradientsBf16.emplace_back(numel);
      for (uint64_t i = 0; i < numel; ++i) gradientsBf16.back()[i] = toBf16(g[i]);
      std::vector<float>().swap(g);
    }
  auto gradView = [&](int t) {
    const size_t b = size_t(t) % 3;
    return d == Dtype::BF16 ? TensorView{gradientsBf16[b].data(), numel, d} : TensorView{gradients[b].data(), numel, d};
  };
  // Params of each method, in the step's dtype.
  struct Params {
    std::vector<float> f32;
    std::vector<uint16_t> bf16;
  };
  auto makeParams = [&]() {
    Params p;
    p.f32 = benchValues(numel, 1);
    if (d == Dtype::BF16) {
      p.bf16.resize(numel);
      for (uint64_t i = 0; i < numel; ++i) p.bf16[i] = toBf16(p.f32[i]);
      std::vector<float>().swap(p.f32);
    }
    return p;
  };
  auto paramView = [&](Params& p) {
    return d == Dtype::BF16 ? TensorView{p.bf16.data(), numel, d} : TensorView{p.f32.data(), numel, d};
  };
  HyperParams hyper;
  hyper.lr = 1e-3;
  std::printf("numel %llu, threads %u, kernel %s, grads %s, dtype %s, m %u, density %g\n", (unsigned long long)numel,
              threads, kernel, grads.c_str(), dtype.c_str(), window, density);

  StateConfig config;
  config.numel = numel;
  config.window = window;
  config.density = density;
  std::unique_ptr<HostState> microState = runMicroAdam ? std::make_unique<HostState>(config) : nullptr;
  std::unique_ptr<AdamWState> adamState = runAdamW ? std::make_unique<AdamWState>(numel) : nullptr;
  Params microParams = runMicroAdam ? makeParams() : Params{}, adamParams = runAdamW ? makeParams() : Params{};
  auto microStep = [&](int t) {
    TensorStep s;
    s.state = microState.get();
    s.params = paramView(microParams);
    s.grads = gradView(t);
    s.hyper = hyper;
    cpuStep({s}, NonFinitePolicy::Skip);
  };
  auto adamStep = [&](int t) {
    AdamWTensorStep s;
    s.state = adamState.get();
    s.params = paramView(adamParams);
    s.grads = gradView(t);
    s.hyper = hyper;
    adamWCpuStep({s}, NonFinitePolicy::Skip);
  };
  auto msSince = [](std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  // Warm-up steps (a full window for MicroAdam: the moments sum min(t, m) rows), then the timed
  // steps, alternating the methods.
  std::vector<double> microMs, adamMs;
  for (int t = 0; t < warmup + steps; ++t) {
    if (t == warmup) CALLGRIND_TOGGLE_COLLECT;
    if (runMicroAdam) {
      const auto start = std::chrono::steady_clock::now();
      microStep(t);
      if (t >= warmup) microMs.push_back(msSince(start));
    }
    if (runAdamW) {
      const auto start = std::chrono::steady_clock::now();
      adamStep(t);
      if (t >= warmup) adamMs.push_back(msSince(start));
    }
  }
  CALLGRIND_TOGGLE_COLLECT;
  if (runMicroAdam) {
    // Params and every state buffer, to compare builds and versions bit for bit.
    HostState& state = *microState;
    const StateLayout& layout = state.layout();
    const size_t windowSize = size_t(layout.config().window) * layout.rowLength();
    std::vector<uint8_t> codes(layout.codeBytes());
    std::vector<uint16_t> mins(layout.bucketCount()), maxs(layout.bucketCount()), idx(windowSize), val(windowSize);
    state.copyTo(SnapshotTarget{codes.data(), mins.data(), maxs.data(), idx.data(), val.data()});
    uint64_t checksum = 0;
    auto add = [&](const void* data, size_t bytes) {
      const auto* p = static_cast<const uint8_t*>(data);
      for (size_t i = 0; i < bytes; ++i) checksum = checksum * 1000003u + p[i];
    };
    if (d == Dtype::BF16) add(microParams.bf16.data(), numel * 2);
    else add(microParams.f32.data(), numel * 4);
    add(codes.data(), codes.size());
    add(mins.data(), mins.size() * 2);
    add(maxs.data(), maxs.size() * 2);
    add(idx.data(), idx.size() * 2);
    add(val.data(), val.size() * 2);
    const Timing ms = timingOf(microMs);
    std::printf("MicroAdam  %8.2f ms/step (median of %d, min %.2f)  checksum of params and state %016llx\n", ms.median,
                steps, ms.min, (unsigned long long)checksum);
    // The Top-K hint's hit rate, over three more (untimed) steps.
    TopkHintStats& stats = topkHintStats();
    stats.blocks = stats.hinted = stats.held = 0;
    stats.enabled = true;
    for (int t = warmup + steps; t < warmup + steps + 3; ++t) microStep(t);
    stats.enabled = false;
    std::printf("Top-K hint held in %.1f%% of blocks (%llu of %llu hinted, %llu blocks)\n",
                100.0 * double(stats.held) / double(stats.hinted ? stats.hinted.load() : 1),
                (unsigned long long)stats.held.load(), (unsigned long long)stats.hinted.load(),
                (unsigned long long)stats.blocks.load());
  }
  if (runAdamW) {
    const Timing ms = timingOf(adamMs);
    std::printf("AdamW      %8.2f ms/step (median of %d, min %.2f)\n", ms.median, steps, ms.min);
  }
  if (runMicroAdam && runAdamW)
    std::printf("ratio MicroAdam / AdamW: %.3f (medians), %.3f (fastest)\n", timingOf(microMs).median / timingOf(adamMs).median,
                timingOf(microMs).min / timingOf(adamMs).min);
  return 0;
}
