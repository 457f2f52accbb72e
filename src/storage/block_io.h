/*
 * block_io.h - O_DIRECT reads, writes and data syncs of block files through io_uring.
 *
 * Any thread may call block_io_read/write/sync; each call submits its request to the
 * calling thread's own io_uring (set up at the thread's first request, freed when the
 * thread ends) and waits there for its completion. Short transfers are resubmitted for
 * the remainder. When the kernel refuses io_uring (old kernel, seccomp), the failure is
 * logged and calls fall back to pread/pwrite/fdatasync on the caller's thread.
 *
 * Buffers, offsets and lengths must be multiples of ALIGNED_BUFFER_ALIGNMENT for
 * O_DIRECT files (use common/aligned_buffer.h).
 */
#ifndef CHAINFS_STORAGE_BLOCK_IO_H
#define CHAINFS_STORAGE_BLOCK_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct block_io;

/* Opens block I/O; queue_depth is unused (each thread has one request in flight on its
 * own ring). force_synchronous skips io_uring (tests of the fallback). Whether io_uring
 * works is tried on the calling thread's ring. Returns 0 or a CHAINFS_* status. */
int block_io_open(unsigned queue_depth, bool force_synchronous, struct block_io **io_out);

/* Frees io. No request may be in flight. The threads' rings live until the threads end. */
void block_io_close(struct block_io *io);

/* True when requests go through io_uring, false in the synchronous fallback. */
bool block_io_uses_uring(const struct block_io *io);

/* Reads exactly length bytes at offset of fd into buffer. 0, CHAINFS_IO (errno
 * logged) or CHAINFS_IO for a read that hits the end of the file. */
int block_io_read(struct block_io *io, int fd, void *buffer, size_t length, uint64_t offset);

/* Writes exactly length bytes from buffer at offset of fd. 0, CHAINFS_NO_SPACE or
 * CHAINFS_IO. */
int block_io_write(struct block_io *io, int fd, const void *buffer, size_t length,
                   uint64_t offset);

/* fdatasync of fd. 0 or CHAINFS_IO. */
int block_io_sync(struct block_io *io, int fd);

#endif /* CHAINFS_STORAGE_BLOCK_IO_H */
