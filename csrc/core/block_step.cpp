#include "block_step.h"

#include <cstdlib>
#include <string>

#include "errors.h"

#include "topk_select.h"

namespace microadam {

void BlockScratch::reserve(uint32_t capacity) {
  if (values.size() >= capacity) return;
  // Rounded up to whole vectors and mark words, so vector loops may run to the end of a word.
  const uint32_t padded = (capacity + 63) / 64 * 64;
  values.assign(padded, 0.0f);
  keys.assign(padded, 0);
  marks.assign(padded / 64, 0);
  candidates.assign(padded + 16, 0);  // a vector store may run 15 past the last candidate
  moments.assign(2 * padded, 0.0f);
  direction.assign(padded, 0.0f);
  slotOf.assign(padded, 0);
  named.assign(padded + 64, 0);  // accumulateWindowCompact writes one past the last listed index
  namedDirection.assign(padded, 0.0f);
  windowTerms.assign(2 * padded + 16, 0.0f);
  bucketUnits.assign(padded / 2, 0.0f);
  bucketLows.assign(padded / 2, 0.0f);
  codes.assign(padded + 1, 0);
  histogram.assign(kTopkHistogramSize, 0);
  selected.assign(padded, 0);
  ranked.assign(padded, 0);
}

namespace {

bool runs(CpuPath path) {
  switch (path) {
    case CpuPath::Baseline: return true;
    case CpuPath::Avx2: return kernel_avx2::available();
    case CpuPath::Avx512: return kernel_avx512::available();
  }
  return false;
}

// The path, or the error to throw on every call: the environment is read once.
struct PathChoice {
  CpuPath path = CpuPath::Baseline;
  bool unknown = false;      // the variable names no path
  bool unavailable = false;  // it names one this CPU (or build) lacks
  std::string message;
};

PathChoice choosePath() {
  PathChoice choice;
  const char* forced = std::getenv("MICROADAM_CPU_PATH");
  if (forced == nullptr || *forced == '\0') {
    const char* noAvx2 = std::getenv("MICROADAM_NO_AVX2");
    if (noAvx2 != nullptr && *noAvx2 != '\0') return choice;
    choice.path = runs(CpuPath::Avx512) ? CpuPath::Avx512 : runs(CpuPath::Avx2) ? CpuPath::Avx2 : CpuPath::Baseline;
    return choice;
  }
  const std::string name(forced);
  std::string available;
  for (CpuPath p : {CpuPath::Avx512, CpuPath::Avx2, CpuPath::Baseline}) {
    if (!runs(p)) continue;
    available += available.empty() ? "" : ", ";
    available += cpuPathName(p);
  }
  for (CpuPath p : {CpuPath::Avx512, CpuPath::Avx2, CpuPath::Baseline}) {
    if (name != cpuPathName(p)) continue;
    choice.path = p;
    if (!runs(p)) {
      choice.unavailable = true;
      choice.message = "MICROADAM_CPU_PATH=" + name + ": this CPU (or this build) has no " + name +
                       " kernel; it runs: " + available;
    }
    return choice;
  }
  choice.unknown = true;
  choice.message = "MICROADAM_CPU_PATH must be avx512, avx2 or baseline (or unset), but it is '" + name +
                   "'; this CPU runs: " + available;
  return choice;
}

const PathChoice& pathChoice() {
  static const PathChoice choice = choosePath();
  return choice;
}

}  // namespace

TopkHintStats& topkHintStats() {
  static TopkHintStats stats;
  return stats;
}

const char* cpuPathName(CpuPath path) {
  switch (path) {
    case CpuPath::Baseline: return "baseline";
    case CpuPath::Avx2: return "avx2";
    case CpuPath::Avx512: return "avx512";
  }
  return "baseline";
}

CpuPath activeCpuPath() {
  const PathChoice& choice = pathChoice();
  if (choice.unknown) throw TypeError(choice.message);
  if (choice.unavailable) throw DeviceUnavailableError(choice.message);
  return choice.path;
}

void stepBlock(HostState& state, uint64_t block, const TensorView& params, const TensorView& grads,
               const StepScalars& scalars, BlockScratch& scratch) {
  switch (pathChoice().path) {
    case CpuPath::Avx512: return kernel_avx512::stepBlock(state, block, params, grads, scalars, scratch);
    case CpuPath::Avx2: return kernel_avx2::stepBlock(state, block, params, grads, scalars, scratch);
    case CpuPath::Baseline: return kernel_baseline::stepBlock(state, block, params, grads, scalars, scratch);
  }
}

const char* blockKernelName() { return cpuPathName(activeCpuPath()); }

}  // namespace microadam
