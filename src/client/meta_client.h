/*
 * meta_client.h - calling the metadata service: one function per operation.
 *
 * Any meta server can answer any request (they share one KV store), so the client
 * keeps a list of server addresses (configured, or the live meta nodes of the routing
 * info) and sends every call of every thread to one of them (a client starts at a
 * place of its own in the list, so clients spread over the servers). On a connection
 * error, a timeout, BUSY or SHUTTING_DOWN it fails over to the next server, where the
 * calls of all threads go from then on, and tries again: `attempts` times in all if
 * set, otherwise for one call timeout (with pauses that double after each round over the list, up to 0.5 s), so a
 * moment when every server restarts is a pause to the caller, not an error.
 *
 * Every mutating call carries (client id, request id); a retry of one call reuses
 * its request id, so when only the reply was lost the server answers with the
 * recorded result instead of applying the operation twice (e.g. a retried unlink
 * does not fail with ENOENT, a retried O_EXCL create does not fail with EEXIST).
 *
 * All functions are thread-safe and return 0 or a CHAINFS_* status; for namespace
 * errors that is the one whose errno (chainfs_error_to_errno) a local file system
 * would return. Inode results use struct inode (meta/inode.h); a file's chunks map
 * to chains with meta/file_layout.h.
 */
#ifndef CHAINFS_CLIENT_META_CLIENT_H
#define CHAINFS_CLIENT_META_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/credentials.h"
#include "meta/inode.h"
#include "meta/meta_protocol.h"
#include "meta/namespace.h"
#include "mgmtd/routing_info.h"
#include "net/rpc_client.h"

#define META_CLIENT_SERVERS_MAX 32

struct meta_client;

struct meta_client_options {
    struct rpc_client *rpc;  /* must outlive the meta client */
    const char *servers;     /* "host:port[,host:port...]"; may be NULL when set later
                                from routing info (meta_client_use_routing) */
    const char *client_id;   /* at most META_CLIENT_ID_MAX bytes; NULL: a fresh random
                                id (host, pid, random) */
    uint64_t timeout_ns;     /* per attempt; 0: 5 s */
    int attempts;            /* tries over all servers; 0: for timeout_ns, at least 2 x servers */
};

/* Creates a client. INVALID_ARGUMENT for a bad address list or client id. */
int meta_client_create(const struct meta_client_options *options, struct meta_client **client);
void meta_client_destroy(struct meta_client *client);

/* Replaces the server list ("host:port,..."). */
int meta_client_set_servers(struct meta_client *client, const char *servers);

/* Replaces the server list with the alive, enabled meta nodes of the routing info;
 * NOT_FOUND (list unchanged) when there are none. */
int meta_client_use_routing(struct meta_client *client, const struct routing_info *info);

/* The client id this client sends (for sessions and for mgmtd client sessions). */
const char *meta_client_id(const struct meta_client *client);

/* A fresh request id (for meta_client_call). */
uint64_t meta_client_next_request_id(struct meta_client *client);

/* Sends one request as it is (request->client_id and request_id are filled in for a
 * mutating method when empty / 0) with failover, and decodes the reply. The generic
 * entry point under every function below; tools use it to resend a request id. */
int meta_client_call(struct meta_client *client, struct meta_request *request,
                     struct meta_reply *reply);

/* --- reading ------------------------------------------------------------------------ */

int meta_client_stat(struct meta_client *client, const struct meta_credentials *credentials,
                     uint64_t inode_id, struct inode *inode);
/* Absolute path; follow_last: stat rather than lstat. */
int meta_client_stat_path(struct meta_client *client, const struct meta_credentials *credentials,
                          const char *path, bool follow_last, struct inode *inode);
/* Up to META_BATCH_MAX inodes; statuses[i] is 0 (inodes[i] valid) or e.g. NOT_FOUND. */
int meta_client_batch_stat(struct meta_client *client, const struct meta_credentials *credentials,
                           const uint64_t *ids, size_t count, int *statuses, struct inode *inodes);
int meta_client_lookup(struct meta_client *client, const struct meta_credentials *credentials,
                       uint64_t parent_id, const char *name, struct inode *inode);
/* Target of a symlink (capacity META_PATH_MAX + 1 always suffices). */
int meta_client_readlink(struct meta_client *client, const struct meta_credentials *credentials,
                         uint64_t inode_id, char *target, size_t capacity);
/* One page of a directory after `after` ("" first): up to capacity (at most
 * META_BATCH_MAX) entries in name order; with attributes != NULL each entry's inode
 * too (readdirplus). */
int meta_client_readdir(struct meta_client *client, const struct meta_credentials *credentials,
                        uint64_t directory_id, const char *after,
                        struct meta_directory_entry *entries, struct inode *attributes,
                        size_t capacity, size_t *count, bool *more);
int meta_client_statfs(struct meta_client *client, const struct meta_credentials *credentials,
                       struct meta_statfs *statfs);
/* The canonical absolute path of path (symlinks resolved, no "." or ".."). */
int meta_client_realpath(struct meta_client *client, const struct meta_credentials *credentials,
                         const char *path, char *resolved, size_t capacity);

/* --- files and write sessions -------------------------------------------------------- */

/* O_CREAT (flags META_CREATE_EXCLUSIVE / META_CREATE_TRUNCATE). session_id != 0
 * records a write session for it in the same transaction (open for write). */
int meta_client_create_file(struct meta_client *client,
                            const struct meta_credentials *credentials, uint64_t parent_id,
                            const char *name, uint32_t mode, unsigned flags,
                            uint64_t session_id, struct inode *inode);
/* Opens an existing file, flags META_OPEN_MODE_* (meta/namespace.h): READ and WRITE
 * check permission, WRITE records the write session session_id (not 0), TRUNCATE
 * (with WRITE) empties the file. Read-only opens leave no trace on the server. */
int meta_client_open(struct meta_client *client, const struct meta_credentials *credentials,
                     uint64_t inode_id, unsigned flags, uint64_t session_id, struct inode *inode);
/* Ends a write session. META_CLOSE_LENGTH: length is the highest offset written,
 * adopted when larger and truncate_version is still the file's (the one the client
 * last saw, i.e. no truncate intervened); META_CLOSE_SYNC_LENGTH: the length is made
 * exact from storage. Returns the inode after the close. */
int meta_client_close(struct meta_client *client, const struct meta_credentials *credentials,
                      uint64_t inode_id, uint64_t session_id, unsigned flags, uint64_t length,
                      uint64_t truncate_version, struct inode *inode);
/* Periodic length report of a write session: adopted when larger than the stored
 * length and truncate_version is still the file's (the one seen at open). */
int meta_client_report_length(struct meta_client *client, const struct meta_credentials *credentials,
                              uint64_t inode_id, uint64_t session_id, uint64_t length,
                              uint64_t truncate_version, struct inode *inode);
/* fsync of the length: exact length from the last chunk on each of the file's chains. */
int meta_client_sync_length(struct meta_client *client, const struct meta_credentials *credentials,
                            uint64_t inode_id, struct inode *inode);

/* --- namespace changes ------------------------------------------------------------- */

int meta_client_mkdir(struct meta_client *client, const struct meta_credentials *credentials,
                      uint64_t parent_id, const char *name, uint32_t mode, struct inode *inode);
/* mkdir -p of an absolute path; existing directories are fine. */
int meta_client_mkdirs(struct meta_client *client, const struct meta_credentials *credentials,
                       const char *path, uint32_t mode, struct inode *inode);
int meta_client_symlink(struct meta_client *client, const struct meta_credentials *credentials,
                        uint64_t parent_id, const char *name, const char *target,
                        struct inode *inode);
int meta_client_link(struct meta_client *client, const struct meta_credentials *credentials,
                     uint64_t inode_id, uint64_t new_parent_id, const char *new_name,
                     struct inode *inode);
int meta_client_unlink(struct meta_client *client, const struct meta_credentials *credentials,
                       uint64_t parent_id, const char *name);
int meta_client_rmdir(struct meta_client *client, const struct meta_credentials *credentials,
                      uint64_t parent_id, const char *name);
/* rm -r of parent/name on the server (a file or a whole tree); *removed (may be NULL)
 * counts the inodes removed. */
int meta_client_remove_tree(struct meta_client *client, const struct meta_credentials *credentials,
                            uint64_t parent_id, const char *name, uint64_t *removed);
/* flags: META_RENAME_NOREPLACE, META_RENAME_EXCHANGE. */
int meta_client_rename(struct meta_client *client, const struct meta_credentials *credentials,
                       uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                       const char *to_name, unsigned flags);
int meta_client_setattr(struct meta_client *client, const struct meta_credentials *credentials,
                        uint64_t inode_id, const struct meta_setattr *changes,
                        struct inode *inode);
/* Admin (root): the default layout new children of a directory inherit. */
int meta_client_set_layout(struct meta_client *client, const struct meta_credentials *credentials,
                           uint64_t directory_id, const struct file_layout *layout,
                           struct inode *inode);

#endif /* CHAINFS_CLIENT_META_CLIENT_H */
