/*
 * fuse_file_ops.c - FUSE operations on open files: open, create, read, write, flush,
 * fsync, release, fallocate. fi->fh holds the chainfs_file.
 *
 * Files are opened with direct I/O unless the page cache option is set: every read
 * and write reaches the daemon with the caller's offset and size, up to max_write
 * (1 MiB) per request, and goes straight to storage (DESIGN §1).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fuse/fuse_operations.h"

#define DAEMON(request) ((struct fuse_daemon *)fuse_req_userdata(request))
#define FILE_OF(file_info) ((struct chainfs_file *)(uintptr_t)(file_info)->fh)

static void set_caching(const struct fuse_daemon *daemon, struct fuse_file_info *file_info)
{
    file_info->direct_io = !daemon->options.page_cache;
    file_info->keep_cache = 0; /* another client may have changed the file since */
}

void fuse_op_open(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(inode)) {
        fuse_reply_err(request, EISDIR);
        return;
    }
    struct chainfs_credentials credentials;
    struct chainfs_file *file;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_open(daemon->client, &credentials, inode, file_info->flags, &file, NULL);
    if (status != 0) {
        fuse_reply_status(request, status);
        return;
    }
    file_info->fh = (uint64_t)(uintptr_t)file;
    set_caching(daemon, file_info);
    if (fuse_reply_open(request, file_info) == -ENOENT)
        chainfs_close(file); /* the caller was interrupted and gave up */
}

void fuse_op_create(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode,
                    struct fuse_file_info *file_info)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(parent)) {
        fuse_reply_err(request, EPERM);
        return;
    }
    struct chainfs_credentials credentials;
    struct chainfs_attributes attributes;
    struct chainfs_file *file;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_create(daemon->client, &credentials, parent, name, mode & 07777,
                                file_info->flags, &file, &attributes);
    if (status != 0) {
        fuse_reply_status(request, status);
        return;
    }
    file_info->fh = (uint64_t)(uintptr_t)file;
    set_caching(daemon, file_info);
    struct fuse_entry_param entry = {.ino = attributes.inode_id,
                                     .generation = 1,
                                     .entry_timeout = daemon->options.entry_timeout,
                                     .attr_timeout = daemon->options.attr_timeout};
    fuse_fill_stat(&attributes, &entry.attr);
    if (fuse_reply_create(request, &entry, file_info) == -ENOENT)
        chainfs_close(file);
}

/* Each request thread reads into its own buffer, kept for the thread's life (freed by
 * the key's destructor when libfuse ends an idle thread): a fresh 1 MiB buffer per
 * read cost page faults on every request. Grown when a larger read comes. */
struct read_buffer {
    size_t size;
    void *bytes;
};

static pthread_key_t read_buffer_key;
static pthread_once_t read_buffer_once = PTHREAD_ONCE_INIT;
static bool read_buffer_key_made;

static void free_read_buffer(void *argument)
{
    struct read_buffer *buffer = argument;
    free(buffer->bytes);
    free(buffer);
}

static void make_read_buffer_key(void)
{
    read_buffer_key_made = pthread_key_create(&read_buffer_key, free_read_buffer) == 0;
}

/* This thread's buffer of at least size bytes, or NULL. */
static void *thread_read_buffer(size_t size)
{
    pthread_once(&read_buffer_once, make_read_buffer_key);
    if (!read_buffer_key_made)
        return NULL;
    struct read_buffer *buffer = pthread_getspecific(read_buffer_key);
    if (!buffer) {
        buffer = calloc(1, sizeof(*buffer));
        if (!buffer || pthread_setspecific(read_buffer_key, buffer) != 0) {
            free(buffer);
            return NULL;
        }
    }
    if (buffer->size < size) {
        void *bytes = malloc(size);
        if (!bytes)
            return NULL;
        free(buffer->bytes);
        buffer->bytes = bytes;
        buffer->size = size;
    }
    return buffer->bytes;
}

void fuse_op_read(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                  struct fuse_file_info *file_info)
{
    if (offset < 0) {
        fuse_reply_err(request, EINVAL);
        return;
    }
    void *buffer = thread_read_buffer(size ? size : 1);
    if (!buffer) {
        fuse_reply_err(request, ENOMEM);
        return;
    }
    size_t done = 0;
    int status = chainfs_pread(FILE_OF(file_info), buffer, size, (uint64_t)offset, &done);
    if (status == CHAINFS_PERMISSION_DENIED)
        fuse_reply_err(request, EBADF); /* not open for reading */
    else if (status != 0)
        fuse_reply_status(request, status);
    else
        fuse_reply_buf(request, buffer, done);
}

void fuse_op_write(fuse_req_t request, fuse_ino_t inode, const char *buffer, size_t size,
                   off_t offset, struct fuse_file_info *file_info)
{
    if (offset < 0) {
        fuse_reply_err(request, EINVAL);
        return;
    }
    int status = chainfs_pwrite(FILE_OF(file_info), buffer, size, (uint64_t)offset, NULL);
    if (status == CHAINFS_PERMISSION_DENIED)
        fuse_reply_err(request, EBADF); /* not open for writing */
    else if (status != 0)
        fuse_reply_status(request, status);
    else
        fuse_reply_write(request, size);
}

/* close(2) of one descriptor: make the length exact, so that a stat right after the
 * close (here or on another client) sees the whole file. */
void fuse_op_flush(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info)
{
    fuse_reply_err(request, chainfs_error_to_errno(chainfs_fsync(FILE_OF(file_info))));
}

void fuse_op_fsync(fuse_req_t request, fuse_ino_t inode, int data_only,
                   struct fuse_file_info *file_info)
{
    /* data is durable on every replica when a write returns; fsync settles the length */
    fuse_reply_err(request, chainfs_error_to_errno(chainfs_fsync(FILE_OF(file_info))));
}

void fuse_op_release(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info)
{
    fuse_reply_err(request, chainfs_error_to_errno(chainfs_close(FILE_OF(file_info))));
}

void fuse_op_fallocate(fuse_req_t request, fuse_ino_t inode, int mode, off_t offset, off_t length,
                       struct fuse_file_info *file_info)
{
    /* FALLOC_FL_KEEP_SIZE only; other modes (punching holes, zeroing, collapsing)
     * answer EOPNOTSUPP for that call (not ENOSYS, which would turn fallocate off) */
    if (offset < 0 || length <= 0) {
        fuse_reply_err(request, EINVAL);
        return;
    }
    if (mode & ~FALLOC_FL_KEEP_SIZE) {
        fuse_reply_err(request, EOPNOTSUPP);
        return;
    }
    unsigned flags = (mode & FALLOC_FL_KEEP_SIZE) ? CHAINFS_FALLOCATE_KEEP_SIZE : 0;
    int status = chainfs_fallocate(FILE_OF(file_info), flags, (uint64_t)offset, (uint64_t)length);
    if (status == CHAINFS_PERMISSION_DENIED)
        fuse_reply_err(request, EBADF); /* not open for writing */
    else
        fuse_reply_err(request, chainfs_error_to_errno(status));
}
