#include "nccl_library.h"

#include <dlfcn.h>

#include <cstdlib>

#include "core/errors.h"

namespace microadam::cuda::nccl {

namespace {

const char* const kDefaultName = "libnccl.so.2";

// Version codes: X*1000 + Y*100 + Z up to 2.8, X*10000 + Y*100 + Z after (nccl.h's NCCL_VERSION).
// 2.8.4 is 2804, 2.9.6 is 20906: compare as (major, minor, patch).
int comparable(int code) {
  return code >= 10000 ? code : (code / 1000) * 10000 + ((code / 100) % 10) * 100 + code % 100;
}

struct Loaded {
  Library library;
  std::string error;  // empty when loaded
};

template <typename Fn>
bool bind(void* handle, const char* name, Fn& slot, std::string& error) {
  slot = reinterpret_cast<Fn>(dlsym(handle, name));
  if (slot == nullptr && error.empty()) error = std::string("it has no ") + name + " (not an NCCL library, or older than 2.7)";
  return slot != nullptr;
}

Loaded load() {
  Loaded loaded;
  Library& l = loaded.library;
  const char* named = std::getenv("MICROADAM_NCCL_LIBRARY");
  l.path = (named != nullptr && *named != '\0') ? named : kDefaultName;
  void* handle = dlopen(l.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    loaded.error = "NCCL could not be loaded (" + std::string(why != nullptr ? why : l.path) +
                   "). Install it (pip's nvidia-nccl-cu12 or PyTorch bring libnccl.so.2; NVIDIA's libnccl2 package) and "
                   "put its folder on LD_LIBRARY_PATH, or set MICROADAM_NCCL_LIBRARY to the file";
    return loaded;
  }
  std::string missing;
  bind(handle, "ncclGetVersion", l.getVersion, missing);
  bind(handle, "ncclGetUniqueId", l.getUniqueId, missing);
  bind(handle, "ncclCommInitRank", l.commInitRank, missing);
  bind(handle, "ncclCommDestroy", l.commDestroy, missing);
  bind(handle, "ncclCommAbort", l.commAbort, missing);
  bind(handle, "ncclCommGetAsyncError", l.commGetAsyncError, missing);
  bind(handle, "ncclGetErrorString", l.getErrorString, missing);
  bind(handle, "ncclGroupStart", l.groupStart, missing);
  bind(handle, "ncclGroupEnd", l.groupEnd, missing);
  bind(handle, "ncclSend", l.send, missing);
  bind(handle, "ncclRecv", l.recv, missing);
  bind(handle, "ncclBroadcast", l.broadcast, missing);
  if (missing.empty()) {
    Result r = l.getVersion(&l.version);
    if (r != kSuccess)
      missing = "its ncclGetVersion failed (" + std::to_string(r) + ")";
    else if (comparable(l.version) < comparable(kOldestVersion))
      missing = "it is NCCL " + versionString(l.version) + "; microadam-native needs " + versionString(kOldestVersion) +
                " or newer (ncclSend and ncclRecv)";
  }
  if (!missing.empty()) {
    loaded.error = "NCCL at " + l.path + " cannot be used: " + missing;
    dlclose(handle);
  }
  return loaded;
}

// Opened once per process and never closed (a communicator may live until exit).
const Loaded& loadedOnce() {
  static const Loaded loaded = load();
  return loaded;
}

}  // namespace

std::string versionString(int code) {
  const int c = comparable(code);
  return std::to_string(c / 10000) + "." + std::to_string((c / 100) % 100) + "." + std::to_string(c % 100);
}

std::string Library::describe(Result result, const char* what) const {
  const char* text = getErrorString != nullptr ? getErrorString(result) : nullptr;
  return std::string(what) + ": " + (text != nullptr ? text : "error") + " (" + std::to_string(result) + ")";
}

const Library& library() {
  const Loaded& loaded = loadedOnce();
  if (!loaded.error.empty()) throw CollectiveError(loaded.error);
  return loaded.library;
}

CollectiveLibraryDescription describeLibrary() {
  const Loaded& loaded = loadedOnce();
  CollectiveLibraryDescription d;
  d.compiled = true;
  d.name = "NCCL";
  d.path = loaded.library.path;
  d.available = loaded.error.empty();
  d.version = d.available ? loaded.library.version : 0;
  d.error = loaded.error;
  return d;
}

}  // namespace microadam::cuda::nccl
