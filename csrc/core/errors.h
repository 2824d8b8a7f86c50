// Errors the core reports. The N-API layer turns each kind into the matching JS error class;
// the core never exits or aborts.
#pragma once

#include <stdexcept>
#include <string>

namespace microadam {

// A value of the wrong kind (maps to TypeError).
class TypeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A value out of its allowed range, or sizes that do not match (maps to RangeError).
class RangeError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

// A state used while another step on it is in flight, or after it was released.
class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// nonFinite: 'error' and a gradient held NaN or Inf.
class NonFiniteGradientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A device was asked for where none is usable: the build has no such backend, its runtime found
// no driver or device, or the index is past the devices found. The message names the option and
// carries the runtime's reason.
class DeviceUnavailableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A CUDA runtime call failed; the message carries the CUDA error name and string.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A collective between processes failed (its library's error, or a communicator that an earlier
// failure left unusable).
class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A collective did not finish before its deadline: a rank died, hung, or called something else.
class CollectiveTimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace microadam
