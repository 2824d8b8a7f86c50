// NCCL, loaded at run time with dlopen: the addon neither builds against NCCL nor needs it to
// load, and a process that never asks for GPU collectives never opens it. What is declared here is
// the part of NCCL's C API (nccl.h, stable since 2.7) that the communicator calls; cudaStream_t
// and ncclComm_t are passed as opaque pointers, so this file needs no CUDA or NCCL header.
#pragma once

#include <cstddef>
#include <string>

#include "core/device_communicator.h"

namespace microadam::cuda::nccl {

using Result = int;  // ncclResult_t
constexpr Result kSuccess = 0;
constexpr Result kInProgress = 7;
constexpr int kFloat32 = 7;  // ncclFloat32
constexpr size_t kUniqueIdBytes = 128;
struct UniqueId {
  char internal[kUniqueIdBytes];
};
using Comm = void*;    // ncclComm_t
using Stream = void*;  // cudaStream_t

// Send and receive (the reduce-scatter in rank order) came in 2.7.0.
constexpr int kOldestVersion = 2700;

struct Library {
  std::string path;
  int version = 0;
  Result (*getVersion)(int*);
  Result (*getUniqueId)(UniqueId*);
  Result (*commInitRank)(Comm*, int nranks, UniqueId id, int rank);
  Result (*commDestroy)(Comm);
  Result (*commAbort)(Comm);
  Result (*commGetAsyncError)(Comm, Result*);
  const char* (*getErrorString)(Result);
  Result (*groupStart)();
  Result (*groupEnd)();
  Result (*send)(const void*, size_t count, int dtype, int peer, Comm, Stream);
  Result (*recv)(void*, size_t count, int dtype, int peer, Comm, Stream);
  Result (*broadcast)(const void* send, void* recv, size_t count, int dtype, int root, Comm, Stream);

  // "ncclSend: unhandled system error (2)"
  std::string describe(Result result, const char* what) const;
};

// The library, opened on first use (MICROADAM_NCCL_LIBRARY names the file, else the loader finds
// libnccl.so.2) and kept open. Throws CollectiveError saying what is missing or too old.
const Library& library();
// The same answer without throwing.
CollectiveLibraryDescription describeLibrary();
// "2.27.3" from NCCL's version code (2.8 and older: 2803; later: 22703).
std::string versionString(int code);

}  // namespace microadam::cuda::nccl
