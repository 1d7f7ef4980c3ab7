#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include "CRadioSystem.h"

int radio_posix_openpt(int flags) { return posix_openpt(flags); }
int radio_grantpt(int fd) { return grantpt(fd); }
int radio_unlockpt(int fd) { return unlockpt(fd); }
int radio_ptsname_r(int fd, char *buf, size_t len) { return ptsname_r(fd, buf, len); }
int radio_ppoll(struct pollfd *fds, unsigned long nfds, const struct timespec *timeout) {
    return ppoll(fds, (nfds_t)nfds, timeout, NULL);
}
int radio_open_noctty(const char *path) { return open(path, O_RDWR | O_NOCTTY | O_CLOEXEC); }

#include <sys/eventfd.h>
int radio_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

#include <pthread.h>
int radio_name_thread(const char *name) { return pthread_setname_np(pthread_self(), name); }
