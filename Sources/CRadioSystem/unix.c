#define _GNU_SOURCE
#include "CRadioSystem.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/stat.h>

/* Fills a sockaddr_un; ENAMETOOLONG when the path does not fit sun_path. */
static int fill(struct sockaddr_un *addr, const char *path) {
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof addr->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, len + 1);
    return 0;
}

int radio_unix_connect_start(const char *path, int *out) {
    struct sockaddr_un addr;
    *out = -1;
    if (fill(&addr, path) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    *out = fd;
    return connect(fd, (struct sockaddr *)&addr, sizeof addr);
}

int radio_socket_error(int fd) {
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0) return errno;
    return error;
}

int radio_unix_listen(const char *path, int backlog) {
    struct sockaddr_un addr;
    if (fill(&addr, path) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    /* Owner and group only, whatever the umask: the mode is set before
       listen(), so no one connects while the file still has the umask's. */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(path, 0660) < 0 || listen(fd, backlog) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int radio_peer_pid(int fd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
    return (int)cred.pid;
}
