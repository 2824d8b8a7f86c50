// Prebuilds only (CMake option MICROADAM_PORTABLE): lets an addon linked on a new glibc (Debian 12
// has 2.36) load on glibc 2.28, the floor of the official Node 20 Linux binaries (RHEL 8,
// Ubuntu 20.04, Debian 11, Amazon Linux 2023 ...).
//
// Since glibc 2.34 the pthread, dl and shm functions live in libc.so.6 under a new default
// version (GLIBC_2.34), though libc still defines their old versions. Every reference in our
// objects and in the static libstdc++ and cudart is redirected by the linker (-Wl,--wrap=NAME, the
// flags cmake/glibc_floor.cmake makes from the PIN_TO lines below) to __wrap_NAME, a tail jump to
// NAME at its old version. Three symbols have no old version and get a local stand-in. On glibc
// < 2.34 the old versions live in libpthread/libdl/librt, which the addon lists as needed
// libraries (they are empty stubs on newer glibc), so the lookup finds them there.
// scripts/check-glibc-floor.js fails the prebuild if any symbol newer than the floor is left.
#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#define MICROADAM_GLIBC_BASE "GLIBC_2.2.5"
#define MICROADAM_GLIBC_DLMOPEN "GLIBC_2.3.4"
#define MICROADAM_TAIL_JUMP(target) "jmp " target "@PLT\n"
#elif defined(__aarch64__)
#define MICROADAM_GLIBC_BASE "GLIBC_2.17"
#define MICROADAM_GLIBC_DLMOPEN "GLIBC_2.17"
#define MICROADAM_TAIL_JUMP(target) "b " target "\n"
#else
#error "glibc_floor.cpp knows the base glibc versions of x86-64 and aarch64 only"
#endif

// __wrap_NAME: jumps to NAME@VERSION with the caller's arguments untouched (no prototype needed).
#define PIN_TO(name, version)                                                            \
  __asm__(".symver microadam_glibc_old_" #name ", " #name "@" version "\n"               \
          ".text\n"                                                                      \
          ".globl __wrap_" #name "\n"                                                    \
          ".hidden __wrap_" #name "\n"                                                   \
          ".type __wrap_" #name ", %function\n"                                          \
          "__wrap_" #name ":\n" MICROADAM_TAIL_JUMP("microadam_glibc_old_" #name)        \
          ".size __wrap_" #name ", .-__wrap_" #name "\n");

PIN_TO(dlclose, MICROADAM_GLIBC_BASE)
PIN_TO(dlerror, MICROADAM_GLIBC_BASE)
PIN_TO(dlmopen, MICROADAM_GLIBC_DLMOPEN)
PIN_TO(dlopen, MICROADAM_GLIBC_BASE)
PIN_TO(dlsym, MICROADAM_GLIBC_BASE)
PIN_TO(dlvsym, MICROADAM_GLIBC_BASE)
PIN_TO(__pthread_key_create, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_condattr_setpshared, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_create, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_detach, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_getspecific, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_join, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_key_create, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_key_delete, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_kill, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_mutex_trylock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_mutexattr_destroy, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_mutexattr_init, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_mutexattr_setpshared, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_mutexattr_settype, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_once, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_destroy, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_init, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_rdlock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_timedrdlock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_timedwrlock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_tryrdlock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_trywrlock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_unlock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlock_wrlock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlockattr_destroy, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlockattr_init, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_rwlockattr_setpshared, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_setspecific, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_spin_destroy, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_spin_init, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_spin_lock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_spin_trylock, MICROADAM_GLIBC_BASE)
PIN_TO(pthread_spin_unlock, MICROADAM_GLIBC_BASE)
PIN_TO(sem_destroy, MICROADAM_GLIBC_BASE)
PIN_TO(sem_init, MICROADAM_GLIBC_BASE)
PIN_TO(sem_post, MICROADAM_GLIBC_BASE)
PIN_TO(sem_timedwait, MICROADAM_GLIBC_BASE)
PIN_TO(sem_trywait, MICROADAM_GLIBC_BASE)
PIN_TO(sem_wait, MICROADAM_GLIBC_BASE)
PIN_TO(shm_open, MICROADAM_GLIBC_BASE)
PIN_TO(shm_unlink, MICROADAM_GLIBC_BASE)

extern "C" {

// GLIBC_2.32. libstdc++ skips atomic reference counting when this says the process has one
// thread; 0 ("maybe several") keeps the atomics, which is always correct.
__attribute__((visibility("hidden"))) char __wrap___libc_single_threaded = 0;

// GLIBC_2.36 (std::random_device's default source in libstdc++ 12). getrandom is GLIBC_2.25.
__attribute__((visibility("hidden"))) uint32_t __wrap_arc4random() {
  uint32_t value = 0;
  size_t filled = 0;
  while (filled < sizeof value) {
    const ssize_t got = getrandom(reinterpret_cast<char*>(&value) + filled, sizeof value - filled, 0);
    if (got > 0) filled += static_cast<size_t>(got);
    else if (got < 0 && errno != EINTR) break;  // no entropy source: keep what was read
  }
  return value;
}

}  // extern "C"
