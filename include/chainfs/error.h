/*
 * chainfs/error.h - status codes shared by every chainfs component and the wire.
 *
 * Every chainfs function that can fail returns an int status: 0 (CHAINFS_OK) on
 * success or one of the positive codes below. The numbers are stable: they travel
 * in RPC replies, so a code is never renumbered or reused once released.
 */
#ifndef CHAINFS_ERROR_H
#define CHAINFS_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, number, errno equivalent, message) */
#define CHAINFS_ERROR_LIST(X)                                                          \
    X(OK, 0, 0, "success")                                                             \
    X(INVALID_ARGUMENT, 1, EINVAL, "invalid argument")                                 \
    X(NOT_FOUND, 2, ENOENT, "not found")                                               \
    X(EXISTS, 3, EEXIST, "already exists")                                             \
    X(NO_MEMORY, 4, ENOMEM, "out of memory")                                           \
    X(IO, 5, EIO, "input/output error")                                                \
    X(TIMEOUT, 6, ETIMEDOUT, "deadline exceeded")                                      \
    X(CANCELLED, 7, ECANCELED, "cancelled")                                            \
    X(DISCONNECTED, 8, ECONNRESET, "connection lost")                                  \
    X(CONNECT_FAILED, 9, ECONNREFUSED, "cannot connect")                               \
    X(MALFORMED, 10, EBADMSG, "malformed message")                                     \
    X(UNKNOWN_SERVICE, 11, ENOSYS, "unknown service")                                  \
    X(UNKNOWN_METHOD, 12, ENOSYS, "unknown method")                                    \
    X(TOO_LARGE, 13, EMSGSIZE, "message or value too large")                           \
    X(BUSY, 14, EBUSY, "too many requests in flight")                                  \
    X(SHUTTING_DOWN, 15, ESHUTDOWN, "server is shutting down")                         \
    X(CONFIG, 16, EINVAL, "configuration error")                                       \
    X(CHECKSUM, 17, EBADMSG, "checksum mismatch")                                      \
    X(CONFLICT, 18, EAGAIN, "transaction conflict, retry")                             \
    X(NO_SPACE, 19, ENOSPC, "no space left")                                           \
    X(PERMISSION_DENIED, 20, EACCES, "permission denied")                              \
    X(NOT_PERMITTED, 21, EPERM, "operation not permitted")                             \
    X(UNSUPPORTED, 22, ENOTSUP, "operation not supported")                             \
    X(INTERNAL, 23, EIO, "internal error")                                             \
    X(RETRY_EXHAUSTED, 24, EAGAIN, "retries exhausted")                                \
    X(UNAVAILABLE, 25, EAGAIN, "backend unavailable, retry")                           \
    X(NOT_PRIMARY, 26, EAGAIN, "not the primary cluster manager")                      \
    X(NOT_EMPTY, 27, ENOTEMPTY, "directory not empty")                                 \
    X(IS_DIRECTORY, 28, EISDIR, "is a directory")                                      \
    X(NOT_DIRECTORY, 29, ENOTDIR, "not a directory")                                   \
    X(CROSS_DEVICE, 30, EXDEV, "cross-device link")                                    \
    X(SYMLINK_LOOP, 31, ELOOP, "too many levels of symbolic links")                    \
    X(NAME_TOO_LONG, 32, ENAMETOOLONG, "file name too long")                           \
    X(ROUTING_STALE, 33, EAGAIN, "routing stale (chain version or target state)")      \
    X(NOT_COMMITTED, 34, EAGAIN, "chunk has an uncommitted update, retry")

enum chainfs_error {
#define CHAINFS_ERROR_ENUM(name, number, errno_value, message) CHAINFS_##name = number,
    CHAINFS_ERROR_LIST(CHAINFS_ERROR_ENUM)
#undef CHAINFS_ERROR_ENUM
};

/* Upper-case symbolic name of a status ("TIMEOUT"); "UNKNOWN" for an unknown code. */
const char *chainfs_error_name(int status);

/* Human-readable message for a status ("deadline exceeded"). */
const char *chainfs_error_message(int status);

/* The errno a POSIX caller should see for a status (0 for CHAINFS_OK, EIO if unknown). */
int chainfs_error_to_errno(int status);

/* True for statuses a caller may retry after backing off (timeouts, lost connections,
 * conflicts, busy servers). */
int chainfs_error_is_retryable(int status);

#ifdef __cplusplus
}
#endif

#endif /* CHAINFS_ERROR_H */
