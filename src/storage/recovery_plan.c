/*
 * recovery_plan.c - the per-chunk recovery rules and the merge of two dumps
 * (recovery_plan.h).
 */
#include "storage/recovery_plan.h"

#include <stdlib.h>

#include "chainfs/error.h"

static bool present(const struct storage_chunk_record *record)
{
    return record != NULL && record->committed.version != 0;
}

enum recovery_action recovery_plan_decide(const struct storage_chunk_record *local,
                                          const struct storage_chunk_record *remote)
{
    if (!present(local))
        return remote != NULL ? RECOVERY_REMOVE : RECOVERY_LEAVE;
    if (remote == NULL)
        return RECOVERY_TRANSFER;
    /* Nothing prepares pending versions at a syncing target (new writes reach it as
     * whole-chunk replaces), so a pending version there is the leftover of an update
     * its failure interrupted; only a replace clears it. */
    if (remote->pending.version != 0)
        return RECOVERY_TRANSFER;
    if (local->committed.chain_version > remote->committed.chain_version)
        return RECOVERY_TRANSFER;
    if (local->committed.chain_version == remote->committed.chain_version &&
        local->committed.version != remote->committed.version)
        return RECOVERY_TRANSFER;
    return RECOVERY_LEAVE;
}

static bool sorted(const struct storage_chunk_record *records, size_t count)
{
    for (size_t i = 1; i < count; i++)
        if (chunk_id_compare(&records[i - 1].chunk_id, &records[i].chunk_id) >= 0)
            return false;
    return true;
}

int recovery_plan_build(const struct storage_chunk_record *local, size_t local_count,
                        const struct storage_chunk_record *remote, size_t remote_count,
                        struct recovery_step **steps, size_t *step_count)
{
    *steps = NULL;
    *step_count = 0;
    if (!sorted(local, local_count) || !sorted(remote, remote_count))
        return CHAINFS_INVALID_ARGUMENT;
    size_t capacity = local_count + remote_count;
    if (capacity == 0)
        return 0;
    struct recovery_step *out = malloc(capacity * sizeof *out);
    if (out == NULL)
        return CHAINFS_NO_MEMORY;
    size_t count = 0, i = 0, j = 0;
    while (i < local_count || j < remote_count) {
        int order = i == local_count    ? 1
                    : j == remote_count ? -1
                                        : chunk_id_compare(&local[i].chunk_id, &remote[j].chunk_id);
        const struct storage_chunk_record *l = order <= 0 ? &local[i++] : NULL;
        const struct storage_chunk_record *r = order >= 0 ? &remote[j++] : NULL;
        enum recovery_action action = recovery_plan_decide(l, r);
        if (action != RECOVERY_LEAVE)
            out[count++] = (struct recovery_step){l ? l->chunk_id : r->chunk_id, action};
    }
    if (count == 0) {
        free(out);
        return 0;
    }
    *steps = out;
    *step_count = count;
    return 0;
}
