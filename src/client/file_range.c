/*
 * file_range.c - byte ranges of a file to chunk pieces (see file_range.h).
 */
#include "client/file_range.h"

bool file_range_valid_chunk_size(uint32_t chunk_size)
{
    return chunk_size >= 4096 && chunk_size <= (1u << 30) && (chunk_size & (chunk_size - 1)) == 0;
}

size_t file_range_piece_count(uint32_t chunk_size, uint64_t offset, uint64_t length)
{
    if (length == 0 || !file_range_valid_chunk_size(chunk_size) || offset + length < offset)
        return 0;
    uint64_t first = offset / chunk_size;
    uint64_t last = (offset + length - 1) / chunk_size;
    return (size_t)(last - first + 1);
}

size_t file_range_split(const struct file_stripe *stripe, uint64_t offset, uint64_t length,
                        uint8_t *buffer, struct chunk_io *pieces, size_t capacity)
{
    if (stripe->stripe == 0 || stripe->chain_ids == NULL)
        return 0;
    size_t count = file_range_piece_count(stripe->chunk_size, offset, length);
    if (count == 0 || count > capacity)
        return 0;
    uint64_t position = offset;
    uint64_t end = offset + length;
    for (size_t i = 0; i < count; i++) {
        uint64_t index = position / stripe->chunk_size;
        uint32_t in_chunk = (uint32_t)(position % stripe->chunk_size);
        uint64_t chunk_end = (index + 1) * (uint64_t)stripe->chunk_size;
        uint64_t piece_end = end < chunk_end ? end : chunk_end;
        pieces[i] = (struct chunk_io){
            .chain_id = stripe->chain_ids[index % stripe->stripe],
            .inode_id = stripe->inode_id,
            .chunk_index = index,
            .chunk_size = stripe->chunk_size,
            .offset = in_chunk,
            .length = (uint32_t)(piece_end - position),
            .buffer_offset = position - offset,
            .buffer = buffer ? buffer + (position - offset) : NULL,
        };
        position = piece_end;
    }
    return count;
}

void file_range_truncate_plan(uint32_t chunk_size, uint64_t new_length, struct truncate_plan *plan)
{
    uint64_t remainder = new_length % chunk_size;
    plan->partial = remainder != 0;
    plan->partial_index = new_length / chunk_size;
    plan->partial_length = (uint32_t)remainder;
    /* the chunk the new end falls in stays (cut), every later one goes */
    plan->first_removed = plan->partial ? plan->partial_index + 1 : plan->partial_index;
}
