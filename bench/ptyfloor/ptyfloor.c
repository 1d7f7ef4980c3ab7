/*
 * ptyfloor: the floor for a request/reply round trip over a pseudo-terminal
 * between two processes, with nothing else in the path.
 *
 * The parent opens the slave in raw mode and writes a request of REQ bytes;
 * a forked child blocks on the master, reads the whole request and writes a
 * reply of REP bytes; the parent reads the whole reply. Default sizes are a
 * SetPower frame and its reply (10 and 11 bytes on the wire). It prints one
 * JSON object with percentiles in microseconds.
 *
 * With a fourth argument, `unix` or `tcp`, a third process relays between
 * the two, as a sharing daemon does: the parent talks to the relay over a
 * Unix socket pair or TCP on loopback (TCP_NODELAY), and the relay, one
 * thread in a poll loop, holds the slave and copies bytes both ways. That
 * is the floor for a daemon in front of a pty, with no framing, no
 * sequence numbers and no second thread.
 *
 *   ptyfloor [count] [request bytes] [reply bytes] [none|unix|tcp]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int read_full(int fd, unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0) got += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else return -1;
    }
    return 0;
}

static int write_full(int fd, const unsigned char *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t w = write(fd, buf + put, n - put);
        if (w > 0) put += (size_t)w;
        else if (w < 0 && errno == EINTR) continue;
        else return -1;
    }
    return 0;
}

/* Copies bytes between a and b until either side closes. */
static void relay(int a, int b) {
    unsigned char buf[4096];
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; _exit(0); }
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents) continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0) _exit(0);
            if (write_full(p[1 - i].fd, buf, (size_t)n)) _exit(0);
        }
    }
}

/* A connected pair of TCP sockets on loopback, TCP_NODELAY on both. */
static int tcp_pair(int fds[2]) {
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &len))
        return -1;
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof a)) return -1;
    fds[1] = accept(l, NULL, NULL);
    close(l);
    if (fds[1] < 0) return -1;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static double pct(long *v, int n, double p) {
    int i = (int)(p / 100.0 * (n - 1) + 0.5);
    return v[i] / 1000.0;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 5000;
    int req = argc > 2 ? atoi(argv[2]) : 10;
    int rep = argc > 3 ? atoi(argv[3]) : 11;
    const char *mode = argc > 4 ? argv[4] : "none";
    if (count < 1 || req < 1 || rep < 1 || req > 4096 || rep > 4096 ||
        (strcmp(mode, "none") && strcmp(mode, "unix") && strcmp(mode, "tcp"))) {
        fprintf(stderr, "usage: ptyfloor [count>0] [request bytes 1-4096] [reply bytes 1-4096] [none|unix|tcp]\n");
        return 64;
    }
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) { perror("ptyfloor: pty"); return 71; }
    char name[128];
    if (ptsname_r(master, name, sizeof name)) { perror("ptyfloor: ptsname"); return 71; }
    int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0) { perror("ptyfloor: open slave"); return 71; }
    struct termios t;
    tcgetattr(slave, &t);
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);

    pid_t child = fork();
    if (child < 0) { perror("ptyfloor: fork"); return 71; }
    if (child == 0) {
        close(slave);
        unsigned char in[4096], out[4096];
        memset(out, 0x5A, sizeof out);
        for (;;) {
            if (read_full(master, in, (size_t)req)) _exit(0);
            if (write_full(master, out, (size_t)rep)) _exit(0);
        }
    }
    close(master);
    int port = slave; /* what the parent talks to: the slave, or the relay */
    pid_t relayer = -1;
    if (strcmp(mode, "none")) {
        int pair[2];
        if (strcmp(mode, "unix") == 0 ? socketpair(AF_UNIX, SOCK_STREAM, 0, pair) : tcp_pair(pair)) {
            perror("ptyfloor: socket");
            return 71;
        }
        relayer = fork();
        if (relayer < 0) { perror("ptyfloor: fork"); return 71; }
        if (relayer == 0) {
            close(pair[0]);
            relay(pair[1], slave);
        }
        close(pair[1]);
        close(slave);
        port = pair[0];
    }
    unsigned char out[4096], in[4096];
    memset(out, 0xA5, sizeof out);
    long *ns = malloc(sizeof(long) * (size_t)count);
    if (!ns) return 71;
    for (int i = -100; i < count; i++) { /* 100 unmeasured warm-up trips */
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (write_full(port, out, (size_t)req) || read_full(port, in, (size_t)rep)) {
            fprintf(stderr, "ptyfloor: I/O failed: %s\n", strerror(errno));
            return 74;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (i >= 0) ns[i] = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    }
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    if (relayer > 0) { kill(relayer, SIGTERM); waitpid(relayer, NULL, 0); }
    qsort(ns, (size_t)count, sizeof(long), cmp);
    printf("{\"relay\":\"%s\",\"count\":%d,\"request_bytes\":%d,\"reply_bytes\":%d,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
           mode, count, req, rep, pct(ns, count, 50), pct(ns, count, 90), pct(ns, count, 99), ns[count - 1] / 1000.0);
    free(ns);
    return 0;
}
