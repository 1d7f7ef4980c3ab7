#ifndef RADIO_CRADIOSYSTEM_H
#define RADIO_CRADIOSYSTEM_H

#include <poll.h>
#include <time.h>
#include <stddef.h>

/// Sets input and output speed to an arbitrary rate with termios2 and BOTHER.
/// Returns 0, or -1 with errno set (EINVAL or ENOTTY when the driver cannot).
/// The corresponding kernel calls are ioctl(TCGETS2) and ioctl(TCSETS2).
int radio_set_custom_baud(int fd, unsigned int baud);

/// Reads the output speed the driver reports through termios2, or -1 with errno.
long radio_get_baud(int fd);

// Swift's Glibc module is built without _GNU_SOURCE/_XOPEN_SOURCE, which
// hides these. Each wrapper is the C call of the same name, unchanged.

/// posix_openpt(3)
int radio_posix_openpt(int flags);
/// grantpt(3)
int radio_grantpt(int fd);
/// unlockpt(3)
int radio_unlockpt(int fd);
/// ptsname_r(3): returns 0 or an errno value.
int radio_ptsname_r(int fd, char *buf, size_t len);
/// ppoll(2) with no signal mask; timeout NULL waits forever.
int radio_ppoll(struct pollfd *fds, unsigned long nfds, const struct timespec *timeout);

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC): a wake-up counter for poll.
int radio_eventfd(void);

/// A non-blocking, close-on-exec AF_UNIX stream socket with connect()
/// started: 0 connected, or -1 with errno (EINPROGRESS/EAGAIN: poll for
/// writability, then radio_socket_error). *out holds the socket either way
/// unless the socket could not be made (then *out is -1).
int radio_unix_connect_start(const char *path, int *out);

/// getsockopt(SO_ERROR): the pending error of a socket whose connect was in
/// progress, 0 when it connected.
int radio_socket_error(int fd);

/// pthread_setname_np(pthread_self(), name): at most 15 bytes show.
int radio_name_thread(const char *name);

/// open(path, O_RDWR | O_NOCTTY | O_CLOEXEC): the pty slave, for the simulator.
int radio_open_noctty(const char *path);


/// A listening AF_UNIX stream socket bound to `path` (close-on-exec,
/// non-blocking), or -1 with errno. The caller removes a stale file first.
int radio_unix_listen(const char *path, int backlog);

/// posix_spawnp(file, argv) with stdin and stdout on /dev/null, stderr on
/// err_fd (if >= 0), fd3 as the child's descriptor 3 (if >= 0), no other
/// descriptor of the parent's, no signals
/// blocked and default dispositions, in a session of its own when
/// `new_session` (a terminal's Ctrl-C then does not reach it). 0 and
/// *pid_out, or an errno value.
int radio_spawn(const char *file, char *const argv[], int fd3, int err_fd, int new_session, int *pid_out);

/// posix_spawnp(file, argv) with the environment `envp`, the caller's stdio,
/// no other descriptor of the parent's, no signals blocked and default
/// dispositions: the command `radio-cli lock -- COMMAND` runs under a
/// lease. 0 and *pid_out, or an errno value.
int radio_spawn_command(const char *file, char *const argv[], char *const envp[], int *pid_out);

/// The process id at the other end of a Unix socket (SO_PEERCRED), or -1.
int radio_peer_pid(int fd);

/// The git commit the binaries were built from (`git describe --always
/// --dirty`), written into build_info.h by the Makefile; "unknown" when
/// built by `swift build` alone.
const char *radio_build_commit(void);

#endif
