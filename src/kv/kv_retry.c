/*
 * kv_retry.c - kv_run_transaction: the retry loop every caller of the KV layer would
 * otherwise write, with bounded exponential backoff and jitter.
 */
#include <stdlib.h>
#include <time.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "kv/kv.h"

#define KV_DEFAULT_MAX_ATTEMPTS 100
#define KV_DEFAULT_INITIAL_BACKOFF_NS (1 * CLOCK_NS_PER_MS)
#define KV_DEFAULT_MAX_BACKOFF_NS (1 * CLOCK_NS_PER_S)

static bool retryable(int status)
{
    return status == CHAINFS_CONFLICT || status == CHAINFS_UNAVAILABLE;
}

/* A random duration in [backoff / 2, backoff). */
static uint64_t jittered(uint64_t backoff, unsigned *seed)
{
    uint64_t half = backoff / 2;
    uint64_t random = ((uint64_t)rand_r(seed) << 31) ^ (uint64_t)rand_r(seed);
    return half + (half ? random % half : 0);
}

int kv_run_transaction(struct kv_store *store, kv_transaction_function function,
                       void *argument, const struct kv_retry_options *options)
{
    if (!store || !function)
        return CHAINFS_INVALID_ARGUMENT;
    unsigned max_attempts = options && options->max_attempts ? options->max_attempts
                                                             : KV_DEFAULT_MAX_ATTEMPTS;
    uint64_t backoff = options && options->initial_backoff_ns ? options->initial_backoff_ns
                                                              : KV_DEFAULT_INITIAL_BACKOFF_NS;
    uint64_t max_backoff = options && options->max_backoff_ns ? options->max_backoff_ns
                                                              : KV_DEFAULT_MAX_BACKOFF_NS;
    unsigned seed = (unsigned)clock_now_ns() ^ (unsigned)(uintptr_t)&seed;
    for (unsigned attempt = 1;; attempt++) {
        struct kv_transaction *transaction;
        int status = kv_begin(store, &transaction);
        if (status == 0) {
            status = function(transaction, argument);
            if (status == 0)
                status = kv_commit(transaction);
            else
                kv_abort(transaction);
        }
        if (!retryable(status))
            return status;
        if (attempt >= max_attempts)
            return CHAINFS_RETRY_EXHAUSTED;
        clock_sleep_ns(jittered(backoff, &seed));
        backoff = backoff > max_backoff / 2 ? max_backoff : backoff * 2;
    }
}
