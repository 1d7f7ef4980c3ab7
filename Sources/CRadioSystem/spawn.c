#define _GNU_SOURCE
#include "CRadioSystem.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

extern char **environ;

/* Attributes for a child with no signals blocked and default dispositions,
 * whatever the parent blocked for sigwait or ignored; in a session of its own
 * when `new_session`. */
static int child_attributes(posix_spawnattr_t *attributes, int new_session) {
    sigset_t none, all;
    int rc = posix_spawnattr_init(attributes);
    if (rc != 0) return rc;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(attributes, &none);
    posix_spawnattr_setsigdefault(attributes, &all);
    posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
                                             | (new_session ? POSIX_SPAWN_SETSID : 0));
    return 0;
}

int radio_spawn(const char *file, char *const argv[], int fd3, int err_fd, int new_session, int *pid_out) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    pid_t pid;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = child_attributes(&attributes, new_session);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0 && err_fd >= 0) rc = posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    /* dup2 clears close-on-exec on the copy, so the child keeps fd 3. */
    if (rc == 0 && fd3 >= 0) rc = posix_spawn_file_actions_adddup2(&actions, fd3, 3);
    /* Nothing else the parent had open, close-on-exec or not: a descriptor
     * its own parent watches for the end of the process (Foundation's
     * Process does) would otherwise stay open as long as this child, which
     * may outlive the parent by far. */
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, fd3 >= 0 ? 4 : 3);
    if (rc == 0) rc = posix_spawnp(&pid, file, &actions, &attributes, argv, environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (rc == 0) *pid_out = (int)pid;
    return rc;
}

int radio_spawn_command(const char *file, char *const argv[], char *const envp[], int *pid_out) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    pid_t pid;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = child_attributes(&attributes, 0);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    /* Its stdio is the parent's (a command run under a lease talks to the
     * user); any other descriptor is closed, so the lease's connection is
     * the parent's alone and ends with it. */
    rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (rc == 0) rc = posix_spawnp(&pid, file, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (rc == 0) *pid_out = (int)pid;
    return rc;
}
