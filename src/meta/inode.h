/*
 * inode.h - the records of the namespace: inodes and directory entries (DESIGN §6).
 *
 * An inode holds the attributes every file-system object has, plus per type: a file's
 * length, truncate version and layout; a directory's parent, own name and the default
 * layout its new children inherit; a symlink's target. A directory entry maps
 * (parent, name) to an inode id and its type.
 */
#ifndef CHAINFS_META_INODE_H
#define CHAINFS_META_INODE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/wire.h"

#define META_NAME_MAX 255
#define META_SYMLINK_MAX 4095
#define META_ROOT_ID 1

enum inode_type {
    INODE_FILE = 1,
    INODE_DIRECTORY = 2,
    INODE_SYMLINK = 3,
};

enum inode_flag {
    INODE_FLAG_IMMUTABLE = 1u << 0,
};

/* Where a file's chunks live: chunk i is on chain perm[i mod stripe] of the table,
 * where perm permutes stripe consecutive chains from first_chain_index with seed. */
struct file_layout {
    uint32_t table_id;
    uint32_t table_version;
    uint32_t chunk_size;
    uint32_t stripe;
    uint32_t first_chain_index; /* taken modulo the table's chain count by clients */
    uint64_t seed;
};

struct inode {
    uint64_t id;
    uint8_t type;
    uint32_t mode; /* permission bits, setuid/setgid/sticky (no S_IFMT bits) */
    uint32_t uid;
    uint32_t gid;
    uint32_t nlink;
    uint32_t flags;
    int64_t atime_ns;
    int64_t mtime_ns;
    int64_t ctime_ns;
    /* files */
    uint64_t length;
    uint64_t truncate_version;
    struct file_layout layout; /* files: their layout; directories: the default */
    /* directories */
    uint64_t parent_id;
    char name[META_NAME_MAX + 1];
    /* symlinks */
    char symlink_target[META_SYMLINK_MAX + 1];
};

/* A layout inside an inode or a message: 5 x u32, u64 seed. */
void file_layout_encode(struct wire_writer *writer, const struct file_layout *layout);
void file_layout_decode(struct wire_reader *reader, struct file_layout *layout);

void inode_encode(struct wire_writer *writer, const struct inode *inode);
/* Returns false on a malformed or unknown record. */
bool inode_decode(struct wire_reader *reader, struct inode *inode);
/* An inode inside a longer message: the reader stays after it (need not be done). */
bool inode_decode_part(struct wire_reader *reader, struct inode *inode);

struct directory_entry {
    uint64_t inode_id;
    uint8_t type;
};

void directory_entry_encode(struct wire_writer *writer, const struct directory_entry *entry);
bool directory_entry_decode(struct wire_reader *reader, struct directory_entry *entry);

#endif /* CHAINFS_META_INODE_H */
