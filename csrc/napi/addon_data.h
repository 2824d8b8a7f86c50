// Per-environment data: the addon is context-aware, so each worker thread that loads it gets
// its own class constructor.
#pragma once

#include <napi.h>

namespace microadam::napi {

struct AddonData {
  Napi::FunctionReference stateConstructor;
  Napi::FunctionReference adamWStateConstructor;
  Napi::FunctionReference communicatorConstructor;
};

}  // namespace microadam::napi
