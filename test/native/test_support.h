// What the native self-tests share: a pass/fail tally with the summary line the jest wrappers
// read ("N passed, M failed"), host tensors of any dtype, and a state's snapshot as bytes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/state.h"
#include "core/tensor.h"

namespace microadam::native_test {

struct Tally {
  int passed = 0, failed = 0;
  int printLimit = 1 << 30;  // FAIL lines printed at most (a test of thousands of checks lowers it)
  void check(bool ok, const std::string& what) {
    if (ok) {
      ++passed;
    } else {
      ++failed;
      if (failed <= printLimit) std::printf("FAIL: %s\n", what.c_str());
    }
    std::fflush(stdout);
  }
  // Prints the summary line and returns the exit status.
  int finish() const {
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
  }
};

inline Tally tally;

inline void check(bool ok, const std::string& what) { tally.check(ok, what); }

// A host tensor of any dtype, its bytes comparable bit for bit.
struct HostTensor {
  Dtype dtype;
  uint64_t numel;
  std::vector<uint8_t> bytes;
  HostTensor(Dtype d, uint64_t n) : dtype(d), numel(n), bytes(n * dtypeBytes(d)) {}
  TensorView view() { return TensorView{bytes.data(), numel, dtype, false}; }
  void set(uint64_t i, float v) { storeElement(bytes.data(), dtype, i, v); }
};

// The whole state as a snapshot: comparable, and restorable into a state of another backend.
struct Snapshot {
  uint64_t step = 0;
  std::vector<uint8_t> codes;
  std::vector<uint16_t> mins, maxs, indices, values;

  explicit Snapshot(const OptimizerState& s) {
    const StateLayout& l = s.layout();
    const uint64_t w = uint64_t(l.config().window) * l.rowLength();
    codes.resize(l.codeBytes());
    mins.resize(l.bucketCount());
    maxs.resize(l.bucketCount());
    indices.resize(w);
    values.resize(w);
    s.copyTo(SnapshotTarget{codes.data(), mins.data(), maxs.data(), indices.data(), values.data()});
    step = s.step();
  }
  bool operator==(const Snapshot& o) const {
    return step == o.step && codes == o.codes && mins == o.mins && maxs == o.maxs && indices == o.indices &&
           values == o.values;
  }
  SnapshotView view() const {
    return SnapshotView{step,        codes.data(), codes.size(),   mins.data(),   mins.size(),   maxs.data(),
                        maxs.size(), indices.data(), indices.size(), values.data(), values.size()};
  }
};

inline StateConfig config(uint32_t window, double density, uint32_t topkBlockSize, uint32_t quantBlockSize) {
  StateConfig c;
  c.window = window;
  c.density = density;
  c.topkBlockSize = topkBlockSize;
  c.quantBlockSize = quantBlockSize;
  return c;
}

}  // namespace microadam::native_test
