// valgrind 3.19 faults when sigsuspend's mask lives in read-only memory, as
// libdispatch's does: copy it to the stack first.
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)8);
}
