// An array of zeros straight from the allocator: calloc of a large block maps fresh pages, which
// the OS hands out zero-filled and faults in only when first touched. A new state of a billion
// elements thus costs no time at creation (std::vector(n, 0) would write every byte, a page fault
// each 4 KiB; bench/create-state.ts measures both), and a restore writes each page once.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace microadam {

template <typename T>
class ZeroedArray {
 public:
  explicit ZeroedArray(uint64_t count)
      : size_(count), data_(static_cast<T*>(std::calloc(count == 0 ? 1 : count, sizeof(T)))) {
    if (!data_) throw std::bad_alloc();  // calloc also refuses a count * sizeof(T) that overflows
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  uint64_t size() const { return size_; }
  T* begin() { return data_.get(); }
  T* end() { return data_.get() + size_; }
  const T* begin() const { return data_.get(); }
  const T* end() const { return data_.get() + size_; }
  T& operator[](uint64_t i) { return data_.get()[i]; }
  const T& operator[](uint64_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  uint64_t size_;
  std::unique_ptr<T, Free> data_;
};

}  // namespace microadam
