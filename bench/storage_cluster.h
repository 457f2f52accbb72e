/*
 * storage_cluster.h - a throwaway storage cluster on this machine for benchmarks:
 * one mgmtd (embedded LMDB) and three storage processes, each with several targets in
 * its own directory under one parent directory (so on one disk), started from this
 * very binary (/proc/self/exe) and stopped by pid.
 *
 * Node ids: mgmtd 1, storage 11, 12, 13. Target t (1-based) of storage node n has id
 * n * 100 + t and lives in <dir>/disk-<n>/target-<id>.
 */
#ifndef CHAINFS_BENCH_STORAGE_CLUSTER_H
#define CHAINFS_BENCH_STORAGE_CLUSTER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mgmtd/routing_cache.h"

#define STORAGE_CLUSTER_NODES 3
#define STORAGE_CLUSTER_FIRST_NODE 11

struct storage_cluster {
    char dir[PATH_MAX / 2];
    pid_t mgmtd_pid;
    pid_t storage_pids[STORAGE_CLUSTER_NODES];
    char mgmtd_address[128];
};

/* Starts the processes in dir (which must exist) with targets_per_node targets each;
 * returns once every process published its address. sync: the storage nodes'
 * storage.sync setting. 0 or a status (explained on stderr); on failure whatever
 * started is stopped. */
int storage_cluster_start(struct storage_cluster *cluster, const char *dir, unsigned targets_per_node,
                          bool sync);

/* Waits until routing shows target_count targets (they register with their first
 * heartbeat), then uploads the chains of chains_csv ("ChainId,TargetId,..." lines
 * after a header) and a chain table of them (table_id), and waits until every target
 * of those chains is serving. 0 or a status (explained on stderr). */
int storage_cluster_create_chains(struct storage_cluster *cluster, struct routing_cache *routing,
                                  size_t target_count, const char *chains_csv, uint32_t table_id,
                                  const uint32_t *chain_ids, size_t chain_count);

/* SIGTERM to every process, SIGKILL after 15 s; reaps them. */
void storage_cluster_stop(struct storage_cluster *cluster);

#endif /* CHAINFS_BENCH_STORAGE_CLUSTER_H */
