// Counts the instructions a program's main thread retires between two `int3` markers, by
// single-stepping it under ptrace: a stand-in for callgrind where callgrind cannot run the code
// (valgrind 3.19 has no AVX-512: under it the CPU reports no AVX-512, so the AVX-512 kernel cannot
// be measured there) and where the VM exposes no hardware counters (perf_event_open fails).
// Slow (a few microseconds per instruction): meant for a small workload. Each rep-prefixed
// string instruction counts once per iteration, as in callgrind.
//
//   gcc -O2 bench/step/count-instructions.c -o build/count-instructions
//   g++ -O2 -std=c++20 -DSTEP_MARKERS -Icsrc bench/step/kernel-driver.cpp build/libmicroadam_core.a \
//       -lpthread -o build/kernel-driver-markers
//   build/count-instructions build/kernel-driver-markers --numel 64K --steps 4 --warmup 10 --only microadam
//
// Prints "instructions between markers: N". Only the main thread is traced: run the workload on
// one thread (--threads 1, the driver's default).
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: count-instructions program [arguments...]\n");
    return 2;
  }
  const pid_t child = fork();
  if (child == 0) {
    ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    execvp(argv[1], argv + 1);
    perror("execvp");
    _exit(127);
  }
  int status;
  waitpid(child, &status, 0);  // stopped at exec
  ptrace(PTRACE_SETOPTIONS, child, NULL, (void*)PTRACE_O_EXITKILL);
  int counting = 0, markers = 0;
  unsigned long long count = 0;
  int deliver = 0;
  for (;;) {
    if (ptrace(counting ? PTRACE_SINGLESTEP : PTRACE_CONT, child, NULL, (void*)(long)deliver) != 0) {
      perror("ptrace");
      return 1;
    }
    deliver = 0;
    if (waitpid(child, &status, 0) < 0) {
      perror("waitpid");
      return 1;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    if (!WIFSTOPPED(status)) continue;
    const int sig = WSTOPSIG(status);
    if (sig != SIGTRAP) {
      deliver = sig;
      continue;
    }
    siginfo_t info;
    ptrace(PTRACE_GETSIGINFO, child, NULL, &info);
    if (info.si_code == SI_KERNEL || info.si_code == TRAP_BRKPT) {  // an int3 marker
      ++markers;
      counting = !counting;
      continue;
    }
    if (counting) ++count;  // one single step
  }
  printf("instructions between markers: %llu (markers seen: %d)\n", count, markers);
  return markers >= 2 ? 0 : 1;
}
