/*
 * error.c - names, messages and errno mapping of chainfs status codes.
 *
 * The table itself lives in include/chainfs/error.h as an X-macro so that the enum
 * and these lookups can never drift apart.
 */
#include <errno.h>
#include <stddef.h>

#include "chainfs/error.h"

struct error_entry {
    int number;
    int errno_value;
    const char *name;
    const char *message;
};

static const struct error_entry error_table[] = {
#define ERROR_ENTRY(name, number, errno_value, message) {number, errno_value, #name, message},
    CHAINFS_ERROR_LIST(ERROR_ENTRY)
#undef ERROR_ENTRY
};

static const struct error_entry *error_lookup(int status)
{
    for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
        if (error_table[i].number == status)
            return &error_table[i];
    return NULL;
}

const char *chainfs_error_name(int status)
{
    const struct error_entry *entry = error_lookup(status);
    return entry ? entry->name : "UNKNOWN";
}

const char *chainfs_error_message(int status)
{
    const struct error_entry *entry = error_lookup(status);
    return entry ? entry->message : "unknown error";
}

int chainfs_error_to_errno(int status)
{
    const struct error_entry *entry = error_lookup(status);
    return entry ? entry->errno_value : EIO;
}

int chainfs_error_is_retryable(int status)
{
    switch (status) {
    case CHAINFS_TIMEOUT:
    case CHAINFS_DISCONNECTED:
    case CHAINFS_CONNECT_FAILED:
    case CHAINFS_BUSY:
    case CHAINFS_CONFLICT:
    case CHAINFS_UNAVAILABLE:
    case CHAINFS_NOT_PRIMARY:
    case CHAINFS_NOT_COMMITTED:
        return 1;
    default:
        return 0;
    }
}
