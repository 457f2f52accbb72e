/*
 * fuse_operations.h - the low-level FUSE operations of the daemon (one function per
 * request type; see fuse_lowlevel.h for their contracts). fuse_daemon.c puts them in
 * the operations table.
 */
#ifndef CHAINFS_FUSE_FUSE_OPERATIONS_H
#define CHAINFS_FUSE_FUSE_OPERATIONS_H

#include "fuse/fuse_internal.h"

/* names and attributes (fuse_namespace_ops.c) */
void fuse_op_lookup(fuse_req_t request, fuse_ino_t parent, const char *name);
void fuse_op_forget(fuse_req_t request, fuse_ino_t inode, uint64_t lookups);
void fuse_op_forget_multi(fuse_req_t request, size_t count, struct fuse_forget_data *forgets);
void fuse_op_getattr(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info);
void fuse_op_setattr(fuse_req_t request, fuse_ino_t inode, struct stat *stat, int to_set,
                     struct fuse_file_info *file_info);
void fuse_op_mknod(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode,
                   dev_t device);
void fuse_op_mkdir(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode);
void fuse_op_symlink(fuse_req_t request, const char *target, fuse_ino_t parent, const char *name);
void fuse_op_readlink(fuse_req_t request, fuse_ino_t inode);
void fuse_op_link(fuse_req_t request, fuse_ino_t inode, fuse_ino_t new_parent, const char *new_name);
void fuse_op_unlink(fuse_req_t request, fuse_ino_t parent, const char *name);
void fuse_op_rmdir(fuse_req_t request, fuse_ino_t parent, const char *name);
void fuse_op_rename(fuse_req_t request, fuse_ino_t parent, const char *name, fuse_ino_t new_parent,
                    const char *new_name, unsigned int flags);
void fuse_op_access(fuse_req_t request, fuse_ino_t inode, int mask);
void fuse_op_statfs(fuse_req_t request, fuse_ino_t inode);
void fuse_op_setxattr(fuse_req_t request, fuse_ino_t inode, const char *name, const char *value,
                      size_t size, int flags);
void fuse_op_getxattr(fuse_req_t request, fuse_ino_t inode, const char *name, size_t size);
void fuse_op_listxattr(fuse_req_t request, fuse_ino_t inode, size_t size);
void fuse_op_removexattr(fuse_req_t request, fuse_ino_t inode, const char *name);

/* open files (fuse_file_ops.c) */
void fuse_op_open(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info);
void fuse_op_create(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode,
                    struct fuse_file_info *file_info);
void fuse_op_read(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                  struct fuse_file_info *file_info);
void fuse_op_write(fuse_req_t request, fuse_ino_t inode, const char *buffer, size_t size,
                   off_t offset, struct fuse_file_info *file_info);
void fuse_op_flush(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info);
void fuse_op_fsync(fuse_req_t request, fuse_ino_t inode, int data_only,
                   struct fuse_file_info *file_info);
void fuse_op_release(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info);
void fuse_op_fallocate(fuse_req_t request, fuse_ino_t inode, int mode, off_t offset, off_t length,
                       struct fuse_file_info *file_info);

/* directories (fuse_directory_ops.c) */
void fuse_op_opendir(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info);
void fuse_op_readdir(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                     struct fuse_file_info *file_info);
void fuse_op_readdirplus(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                         struct fuse_file_info *file_info);
void fuse_op_releasedir(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info);
void fuse_op_fsyncdir(fuse_req_t request, fuse_ino_t inode, int data_only,
                      struct fuse_file_info *file_info);

#endif /* CHAINFS_FUSE_FUSE_OPERATIONS_H */
