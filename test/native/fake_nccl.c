/* A stand-in for libnccl.so.2, for testing the NCCL loader (cuda/nccl_library.cpp) where neither
 * NCCL nor a GPU is (test/nccl.test.ts builds it with gcc -shared). It exports the names the
 * loader binds; ncclGetVersion reports FAKE_NCCL_VERSION; ncclGetUniqueId writes the bytes 0, 1,
 * 2, ... 127 (so a test can see them arrive); every call that would need a GPU fails with
 * ncclInvalidUsage. -DFAKE_NCCL_WITHOUT_SEND leaves ncclSend out, as NCCL before 2.7 did. */
#include <stddef.h>

#ifndef FAKE_NCCL_VERSION
#define FAKE_NCCL_VERSION 21903
#endif

typedef struct {
  char internal[128];
} ncclUniqueId;

enum { ncclSuccess = 0, ncclInvalidUsage = 5 };

int ncclGetVersion(int* version) {
  *version = FAKE_NCCL_VERSION;
  return ncclSuccess;
}

int ncclGetUniqueId(ncclUniqueId* id) {
  for (int i = 0; i < 128; ++i) id->internal[i] = (char)i;
  return ncclSuccess;
}

const char* ncclGetErrorString(int result) { return result == ncclInvalidUsage ? "invalid usage (fake NCCL: no GPU)" : "fake"; }

int ncclCommInitRank(void** comm, int nranks, ncclUniqueId id, int rank) {
  (void)nranks, (void)id, (void)rank;
  *comm = NULL;
  return ncclInvalidUsage;
}
int ncclCommDestroy(void* comm) { return comm == NULL ? ncclInvalidUsage : ncclSuccess; }
int ncclCommAbort(void* comm) { return comm == NULL ? ncclInvalidUsage : ncclSuccess; }
int ncclCommGetAsyncError(void* comm, int* error) {
  (void)comm;
  *error = ncclInvalidUsage;
  return ncclSuccess;
}
int ncclGroupStart(void) { return ncclSuccess; }
int ncclGroupEnd(void) { return ncclSuccess; }
#ifndef FAKE_NCCL_WITHOUT_SEND
int ncclSend(const void* b, size_t n, int t, int peer, void* comm, void* stream) {
  (void)b, (void)n, (void)t, (void)peer, (void)comm, (void)stream;
  return ncclInvalidUsage;
}
#endif
int ncclRecv(void* b, size_t n, int t, int peer, void* comm, void* stream) {
  (void)b, (void)n, (void)t, (void)peer, (void)comm, (void)stream;
  return ncclInvalidUsage;
}
int ncclBroadcast(const void* s, void* r, size_t n, int t, int root, void* comm, void* stream) {
  (void)s, (void)r, (void)n, (void)t, (void)root, (void)comm, (void)stream;
  return ncclInvalidUsage;
}
