/*
 * run_dir.c - pid and address files of running daemons.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_COMPONENT "run_dir"
#include "chainfs/error.h"
#include "common/log.h"
#include "daemon/run_dir.h"

static void file_path(char *out, size_t size, const char *run_dir, const char *name,
                      const char *suffix)
{
    snprintf(out, size, "%s/%s%s", run_dir, name, suffix);
}

int run_dir_make_directories(const char *path)
{
    char partial[PATH_MAX];
    if (snprintf(partial, sizeof(partial), "%s", path) >= (int)sizeof(partial))
        return ENAMETOOLONG;
    for (char *slash = partial + 1; *slash; slash++) {
        if (*slash != '/')
            continue;
        *slash = '\0';
        if (mkdir(partial, 0755) != 0 && errno != EEXIST)
            return errno;
        *slash = '/';
    }
    if (mkdir(partial, 0755) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

static int read_small_file(const char *path, char *out, size_t capacity)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return CHAINFS_NOT_FOUND;
    size_t length = fread(out, 1, capacity - 1, file);
    fclose(file);
    out[length] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return length ? 0 : CHAINFS_NOT_FOUND;
}

int run_dir_read_pid(const char *run_dir, const char *name, pid_t *pid)
{
    char path[PATH_MAX], text[32];
    file_path(path, sizeof(path), run_dir, name, ".pid");
    if (read_small_file(path, text, sizeof(text)) != 0)
        return CHAINFS_NOT_FOUND;
    char *end;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || value <= 0)
        return CHAINFS_NOT_FOUND;
    *pid = (pid_t)value;
    return 0;
}

int run_dir_read_address(const char *run_dir, const char *name, char *address, size_t capacity)
{
    char path[PATH_MAX];
    file_path(path, sizeof(path), run_dir, name, ".address");
    return read_small_file(path, address, capacity);
}

bool run_dir_pid_alive(pid_t pid)
{
    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
        return false;
    /* A zombie (killed, not yet reaped by a parent that may be slow to do so) is dead:
     * it holds no files or sockets, and a restart must not wait for its reaping. */
    char path[64], stat[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_small_file(path, stat, sizeof(stat)) != 0)
        return true; /* no /proc: trust kill() */
    const char *end_of_name = strrchr(stat, ')');
    return !(end_of_name && end_of_name[1] == ' ' && end_of_name[2] == 'Z');
}

int run_dir_claim_pid(const char *run_dir, const char *name)
{
    int error = run_dir_make_directories(run_dir);
    if (error != 0) {
        log_error("cannot create run directory %s: %s", run_dir, strerror(error));
        return CHAINFS_IO;
    }
    char path[PATH_MAX];
    file_path(path, sizeof(path), run_dir, name, ".pid");
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dprintf(fd, "%d\n", (int)getpid());
            close(fd);
            return 0;
        }
        pid_t holder;
        if (errno == EEXIST && run_dir_read_pid(run_dir, name, &holder) == 0 &&
            run_dir_pid_alive(holder)) {
            log_error("%s is already running as pid %d (%s)", name, (int)holder, path);
            return CHAINFS_EXISTS;
        }
        unlink(path); /* stale: its process is gone */
    }
    log_error("cannot create pid file %s: %s", path, strerror(errno));
    return CHAINFS_IO;
}

void run_dir_release_pid(const char *run_dir, const char *name)
{
    /* Only our own: a successor started after this process was taken for dead (a
     * slow graceful stop) may hold the file already. */
    pid_t holder;
    if (run_dir_read_pid(run_dir, name, &holder) != 0 || holder != getpid())
        return;
    char path[PATH_MAX];
    file_path(path, sizeof(path), run_dir, name, ".pid");
    unlink(path);
}

int run_dir_publish_address(const char *run_dir, const char *name, const char *address)
{
    char path[PATH_MAX], temporary[PATH_MAX];
    file_path(path, sizeof(path), run_dir, name, ".address");
    file_path(temporary, sizeof(temporary), run_dir, name, ".address.tmp");
    FILE *file = fopen(temporary, "w");
    if (!file || fprintf(file, "%s\n", address) < 0 || fclose(file) != 0 ||
        rename(temporary, path) != 0) {
        log_error("cannot write %s: %s", path, strerror(errno));
        return CHAINFS_IO;
    }
    return 0;
}

void run_dir_remove_address(const char *run_dir, const char *name)
{
    char path[PATH_MAX];
    file_path(path, sizeof(path), run_dir, name, ".address");
    unlink(path);
}
