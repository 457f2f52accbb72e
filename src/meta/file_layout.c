/*
 * file_layout.c - chunk → chain mapping of a file (see file_layout.h).
 *
 * The shuffle is a Fisher–Yates pass driven by splitmix64 from the file's seed: a
 * fixed, portable generator, because meta and clients on other machines must derive
 * the same order forever (a library rand() could change between releases).
 */
#include "meta/file_layout.h"

#include "chainfs/error.h"

static uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t value = (*state += 0x9e3779b97f4a7c15ull);
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

uint32_t file_layout_stripe_width(const struct file_layout *layout, size_t chain_count)
{
    if (chain_count == 0 || layout->stripe == 0)
        return 0;
    return layout->stripe < chain_count ? layout->stripe : (uint32_t)chain_count;
}

int file_layout_stripe_chains(const struct file_layout *layout, const uint32_t *table_chain_ids,
                              size_t chain_count, uint32_t *out)
{
    uint32_t width = file_layout_stripe_width(layout, chain_count);
    if (width == 0 || layout->stripe > FILE_LAYOUT_STRIPE_MAX)
        return CHAINFS_INVALID_ARGUMENT;
    size_t first = layout->first_chain_index % chain_count;
    for (uint32_t k = 0; k < width; k++)
        out[k] = table_chain_ids[(first + k) % chain_count];
    uint64_t state = layout->seed;
    for (uint32_t k = width - 1; k > 0; k--) {
        uint32_t other = (uint32_t)(splitmix64_next(&state) % (k + 1));
        uint32_t swapped = out[k];
        out[k] = out[other];
        out[other] = swapped;
    }
    return 0;
}

int file_layout_chunk_chain(const struct file_layout *layout, const uint32_t *table_chain_ids,
                            size_t chain_count, uint64_t chunk_index, uint32_t *chain_id)
{
    uint32_t chains[FILE_LAYOUT_STRIPE_MAX];
    int status = file_layout_stripe_chains(layout, table_chain_ids, chain_count, chains);
    if (status == 0)
        *chain_id = chains[chunk_index % file_layout_stripe_width(layout, chain_count)];
    return status;
}

int file_layout_check(const struct file_layout *layout)
{
    uint32_t size = layout->chunk_size;
    bool power_of_two = size && (size & (size - 1)) == 0;
    if (!power_of_two || size < (64u << 10) || size > (64u << 20) || layout->stripe == 0 ||
        layout->stripe > FILE_LAYOUT_STRIPE_MAX || layout->table_id == 0)
        return CHAINFS_INVALID_ARGUMENT;
    return 0;
}
