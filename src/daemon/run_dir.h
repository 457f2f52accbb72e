/*
 * run_dir.h - the run directory where a daemon publishes its pid and address.
 *
 *   <run_dir>/<name>.pid      the process id; claimed exclusively at start
 *   <run_dir>/<name>.address  "host:port" of the RPC listener, written atomically
 *                             (temp file + rename) once the server accepts calls
 *
 * Tools (chainfs up/down/status, the test harness) read these files instead of
 * guessing ports, and stop daemons by the recorded pid.
 */
#ifndef CHAINFS_DAEMON_RUN_DIR_H
#define CHAINFS_DAEMON_RUN_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whether pid is a live process: it exists (kill(pid, 0)) and is not a zombie. */
bool run_dir_pid_alive(pid_t pid);

/* Creates run_dir (with parents) and writes <name>.pid. Fails if a live process
 * already holds it; a stale file (dead pid) is replaced. Returns 0 or a status. */
int run_dir_claim_pid(const char *run_dir, const char *name);
/* Removes <name>.pid if it still names this process. */
void run_dir_release_pid(const char *run_dir, const char *name);

int run_dir_publish_address(const char *run_dir, const char *name, const char *address);
void run_dir_remove_address(const char *run_dir, const char *name);

/* Reads <name>.pid; returns 0 or CHAINFS_NOT_FOUND. */
int run_dir_read_pid(const char *run_dir, const char *name, pid_t *pid);

/* Reads <name>.address into address[capacity]; returns 0 or CHAINFS_NOT_FOUND. */
int run_dir_read_address(const char *run_dir, const char *name, char *address, size_t capacity);

/* Creates a directory and its parents (mode 0755); 0 or an errno value. */
int run_dir_make_directories(const char *path);

#endif /* CHAINFS_DAEMON_RUN_DIR_H */
