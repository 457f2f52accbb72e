/*
 * chainfs/client.h - the native client library of chainfs (DESIGN §8).
 *
 * A chainfs_client is one connection to a cluster: it keeps the routing info fresh,
 * talks to any metadata server (failing over), and maps byte ranges of files onto
 * (chain, chunk, offset, length) pieces that it reads and writes on the storage
 * services in parallel. The FUSE daemon (`chainfs mount`) is built on it; so can any
 * program that wants to bypass FUSE.
 *
 * Conventions:
 *  - Every function that can fail returns a status: 0 (CHAINFS_OK) or a CHAINFS_*
 *    code of chainfs/error.h; chainfs_error_to_errno() gives the errno a POSIX caller
 *    expects (ENOENT, EACCES, ENOTEMPTY, ...). Out-parameters are written only on 0.
 *  - Permissions are enforced by the metadata service against the credentials the
 *    caller passes (uid, gid, supplementary groups); root (uid 0) bypasses them.
 *  - Inodes are named by their 64-bit id; the root directory is CHAINFS_ROOT_INODE.
 *  - Every function is thread-safe; a chainfs_file may be used by several threads at
 *    once (reads and writes of one file run concurrently).
 *  - There is no data cache: every read goes to the storage services. A file's length
 *    as seen by other clients may lag while it is being written; it is exact after
 *    chainfs_fsync() or chainfs_close() (write sessions, DESIGN §6).
 */
#ifndef CHAINFS_CLIENT_H
#define CHAINFS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chainfs/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CHAINFS_ROOT_INODE 1
#define CHAINFS_NAME_MAX 255
#define CHAINFS_SYMLINK_MAX 4095
#define CHAINFS_GROUPS_MAX 32

struct chainfs_client;
struct chainfs_file;

struct chainfs_client_options {
    /* The cluster: "host:port[,host:port...]" of its mgmtd servers (at most 8). */
    const char *mgmtd_addresses;
    /* Instead of a cluster: a whole file system inside this process, kept in this
     * directory (namespace in an embedded LMDB store, chunks in files). For tests and
     * single-machine use; mgmtd_addresses must then be NULL. */
    const char *embedded_dir;
    /* Identifies this client to the cluster (write sessions, exactly-once retries).
     * NULL: "<hostname>-<pid>-<random>". At most 63 bytes. */
    const char *client_id;
    uint64_t call_timeout_ns;            /* one metadata or storage call; 0: 10 s */
    uint64_t length_report_interval_ns;  /* lengths of files open for write; 0: 1 s */
    uint64_t session_interval_ns;        /* client session with mgmtd; 0: 10 s */
    /* embedded only: layout of new files */
    uint32_t embedded_chunk_size;        /* 0: 1 MiB */
    uint32_t embedded_stripe;            /* 0: 4 */
    uint32_t embedded_chains;            /* 0: 8 */
};

/* Fills options with the defaults above (no cluster chosen). */
void chainfs_client_default_options(struct chainfs_client_options *options);

/* Connects to the cluster (or opens the embedded file system). Returns 0,
 * CHAINFS_INVALID_ARGUMENT (bad options), CHAINFS_CONNECT_FAILED / TIMEOUT (no
 * mgmtd answered), CHAINFS_NO_MEMORY or a store error. */
int chainfs_client_connect(const struct chainfs_client_options *options,
                           struct chainfs_client **client);

/* Closes the files still open (final length reports, end of their write sessions),
 * ends the client session and frees the client. No call may be in progress, and no
 * chainfs_file may be used afterwards. NULL accepted. */
void chainfs_client_disconnect(struct chainfs_client *client);

/* The client id this client uses (from the options or generated). */
const char *chainfs_client_id(const struct chainfs_client *client);

/* Who is asking. Pass the credentials of the process the request is made for. */
struct chainfs_credentials {
    uint32_t uid;
    uint32_t gid;
    uint32_t group_count; /* supplementary groups, at most CHAINFS_GROUPS_MAX */
    uint32_t groups[CHAINFS_GROUPS_MAX];
};

/* Credentials of the calling process (getuid, getgid, getgroups). */
void chainfs_credentials_of_process(struct chainfs_credentials *credentials);

enum chainfs_file_type {
    CHAINFS_TYPE_FILE = 1,
    CHAINFS_TYPE_DIRECTORY = 2,
    CHAINFS_TYPE_SYMLINK = 3,
};

struct chainfs_attributes {
    uint64_t inode_id;
    uint8_t type;   /* enum chainfs_file_type */
    uint32_t mode;  /* permission bits with setuid/setgid/sticky (no S_IFMT bits) */
    uint32_t uid;
    uint32_t gid;
    uint32_t nlink;
    uint32_t flags; /* 1: immutable */
    uint64_t length; /* files: bytes; symlinks: target length; directories: 0 */
    int64_t atime_ns;
    int64_t mtime_ns;
    int64_t ctime_ns;
    uint32_t chunk_size; /* files: of their layout; directories: default for children */
    uint32_t stripe;     /* chains a file's chunks are spread over */
};

/* The attributes of an inode. For a file this client has open for write, length
 * includes what it wrote and has not reported yet. */
int chainfs_stat(struct chainfs_client *client, uint64_t inode_id,
                 struct chainfs_attributes *attributes);

/* The entry `name` of directory parent_id (execute permission on it needed). */
int chainfs_lookup(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                   uint64_t parent_id, const char *name, struct chainfs_attributes *attributes);

/* Resolves an absolute path inside the file system ("/a/b"), following symlinks (the
 * last component only if follow_last). */
int chainfs_resolve(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                    const char *path, bool follow_last, struct chainfs_attributes *attributes);

enum chainfs_set_field {
    CHAINFS_SET_MODE = 1u << 0,
    CHAINFS_SET_UID = 1u << 1,
    CHAINFS_SET_GID = 1u << 2,
    CHAINFS_SET_ATIME = 1u << 3,
    CHAINFS_SET_MTIME = 1u << 4,
    CHAINFS_SET_ATIME_NOW = 1u << 5,
    CHAINFS_SET_MTIME_NOW = 1u << 6,
    CHAINFS_SET_LENGTH = 1u << 7,
};

struct chainfs_attribute_changes {
    unsigned fields; /* CHAINFS_SET_* */
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    int64_t atime_ns;
    int64_t mtime_ns;
    uint64_t length;
};

/* chmod, chown, utimens and truncate, with a local file system's permission rules.
 * A length change first cuts the file's chunks on storage at the new length (chunks
 * past it removed, the chunk it falls in truncated), then sets the length in meta, so
 * growing a file afterwards reads zeros, never old data. */
int chainfs_setattr(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                    uint64_t inode_id, const struct chainfs_attribute_changes *changes,
                    struct chainfs_attributes *attributes);

int chainfs_mkdir(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                  uint64_t parent_id, const char *name, uint32_t mode,
                  struct chainfs_attributes *attributes);

int chainfs_symlink(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                    uint64_t parent_id, const char *name, const char *target,
                    struct chainfs_attributes *attributes);

/* The target of a symlink, NUL-terminated. CHAINFS_INVALID_ARGUMENT if inode_id is not
 * a symlink, CHAINFS_NAME_TOO_LONG if it does not fit in capacity. */
int chainfs_readlink(struct chainfs_client *client, uint64_t inode_id, char *target,
                     size_t capacity);

/* A hard link to inode_id (not a directory) as new_parent_id/new_name. */
int chainfs_link(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                 uint64_t inode_id, uint64_t new_parent_id, const char *new_name,
                 struct chainfs_attributes *attributes);

/* Removes a non-directory entry. The file's data goes when its last link is gone and
 * no client has it open for write. */
int chainfs_unlink(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                   uint64_t parent_id, const char *name);

/* Removes an empty directory (CHAINFS_NOT_EMPTY otherwise). */
int chainfs_rmdir(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                  uint64_t parent_id, const char *name);

/* Removes an entry and, for a directory, the whole tree under it, on the server. */
int chainfs_remove_recursive(struct chainfs_client *client,
                             const struct chainfs_credentials *credentials, uint64_t parent_id,
                             const char *name);

enum chainfs_rename_flag {
    CHAINFS_RENAME_NOREPLACE = 1u << 0, /* CHAINFS_EXISTS if the destination exists */
    CHAINFS_RENAME_EXCHANGE = 1u << 1,  /* swap two existing entries */
};

/* Atomically moves an entry; an existing destination is replaced (unless flags say
 * otherwise): readers see either the old or the new file, never none. */
int chainfs_rename(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                   uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                   const char *to_name, unsigned flags);

struct chainfs_directory_entry {
    char name[CHAINFS_NAME_MAX + 1];
    uint64_t inode_id;
    uint8_t type; /* enum chainfs_file_type */
};

/* The most entries one chainfs_readdir returns. */
#define CHAINFS_READDIR_MAX 256

/* Up to capacity (at most CHAINFS_READDIR_MAX) entries of a directory in name order,
 * starting after the name `after` ("" for the first page); *more says whether further
 * entries exist. "." and ".." are not listed. Needs read permission on the directory.
 * attributes (may be NULL; capacity entries) receives each entry's attributes in the
 * same call (readdirplus); an entry removed meanwhile gets inode_id 0 there. */
int chainfs_readdir(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                    uint64_t directory_id, const char *after,
                    struct chainfs_directory_entry *entries,
                    struct chainfs_attributes *attributes, size_t capacity, size_t *count,
                    bool *more);

struct chainfs_statfs {
    uint64_t capacity_bytes;
    uint64_t used_bytes;
    uint64_t free_bytes;
    uint32_t chunk_size; /* of the root's default layout: the natural block size */
};

int chainfs_statfs(struct chainfs_client *client, struct chainfs_statfs *statfs);

/* Open flags (a subset of open(2)'s, passed as the O_* values of <fcntl.h>):
 * O_RDONLY/O_WRONLY/O_RDWR, O_TRUNC, O_APPEND; for chainfs_create also O_EXCL. */

/* Opens an existing file. A file opened for writing gets a write session (so the
 * file is not deleted under it and its length is reported). O_TRUNC empties it. */
int chainfs_open(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                 uint64_t inode_id, int open_flags, struct chainfs_file **file,
                 struct chainfs_attributes *attributes);

/* Creates a regular file parent_id/name and opens it (O_CREAT semantics: an existing
 * file is opened, or CHAINFS_EXISTS with O_EXCL). attributes may be NULL. */
int chainfs_create(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                   uint64_t parent_id, const char *name, uint32_t mode, int open_flags,
                   struct chainfs_file **file, struct chainfs_attributes *attributes);

/* The inode an open file refers to. */
uint64_t chainfs_file_inode(const struct chainfs_file *file);

/* Reads up to length bytes at offset into buffer; *done is what was read: short only
 * at the end of the file (0 at or past it). Holes read as zeros. */
int chainfs_pread(struct chainfs_file *file, void *buffer, size_t length, uint64_t offset,
                  size_t *done);

/* Writes length bytes at offset (at the end of the file when it was opened with
 * O_APPEND; *written_at says where). Returns 0 once every replica holds the data.
 * CHAINFS_PERMISSION_DENIED (EBADF for POSIX callers) if not opened for writing.
 * written_at may be NULL. */
int chainfs_pwrite(struct chainfs_file *file, const void *buffer, size_t length, uint64_t offset,
                   uint64_t *written_at);

/* Makes the file's length exact in meta (the data itself is durable once written). */
int chainfs_fsync(struct chainfs_file *file);

/* chainfs_fallocate mode flags (the fallocate(2) flag of the same meaning). */
#define CHAINFS_FALLOCATE_KEEP_SIZE 0x1u

/* Makes [offset, offset + length) part of the file: without KEEP_SIZE the length grows
 * to at least offset + length (reported to meta at once, as chainfs_fsync does; the new
 * range reads as zeros), never shrinks. Chunks are copy-on-write, so no blocks can be
 * set aside ahead of the writes: the call checks that the space it adds fits in what
 * chainfs_statfs reports free (CHAINFS_NO_SPACE otherwise, nothing changed), and later
 * writes can still meet a full target (OpenZFS answers fallocate the same way).
 * CHAINFS_PERMISSION_DENIED if not open for writing, CHAINFS_INVALID_ARGUMENT for an
 * empty or overflowing range, CHAINFS_UNSUPPORTED for other modes (punching holes). */
int chainfs_fallocate(struct chainfs_file *file, unsigned mode, uint64_t offset, uint64_t length);

/* Reports the final length, ends the write session and frees the file. Returns the
 * status of the final length report; the file is freed either way. */
int chainfs_close(struct chainfs_file *file);

#ifdef __cplusplus
}
#endif

#endif /* CHAINFS_CLIENT_H */
