/*
 * block_reference.c - reference counting of blocks (see block_reference.h).
 */
#include <stdlib.h>

#include "storage/block_reference.h"

struct block_reference *block_reference_new(struct block_location location)
{
    struct block_reference *reference = calloc(1, sizeof(*reference));
    if (reference != NULL)
        reference->location = location;
    return reference;
}

static void free_block(struct block_reference *reference, struct block_pool *pool)
{
    block_pool_free(pool, reference->location);
    free(reference);
}

void block_reference_release_version(struct block_reference *reference, struct block_pool *pool,
                                     struct block_reference_counts *counts)
{
    if (reference == NULL)
        return;
    reference->versions--;
    if (reference->versions > 0)
        return;
    if (reference->readers == 0)
        free_block(reference, pool);
    else
        counts->held_by_readers++;
}

void block_reference_acquire_reader(struct block_reference *reference)
{
    if (reference != NULL)
        reference->readers++;
}

void block_reference_release_reader(struct block_reference *reference, struct block_pool *pool,
                                    struct block_reference_counts *counts)
{
    if (reference == NULL)
        return;
    reference->readers--;
    if (reference->readers > 0 || reference->versions > 0)
        return;
    counts->held_by_readers--;
    free_block(reference, pool);
}
