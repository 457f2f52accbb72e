/*
 * fuzz_storage_decoders.c - libFuzzer target for the storage service's message
 * decoders (src/storage/storage_protocol.h). The first byte picks the decoder, the
 * rest is the message body; a decoder may refuse it but must not read out of bounds,
 * leak, or accept a list that breaks its rules (REMOVE_LISTED: strictly ascending,
 * at most STORAGE_REMOVE_LISTED_MAX), which is checked here. An accepted body must
 * also encode back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a finding) unless encoding m gives exactly body[0..size). */
#define SAME_BYTES(encode, m, body, size)                                                   \
    do {                                                                                    \
        struct wire_writer writer_;                                                         \
        wire_writer_init(&writer_);                                                         \
        encode(&writer_, m);                                                                \
        if (writer_.length != (size) || memcmp(writer_.data, (body), (size)) != 0)          \
            abort();                                                                        \
        wire_writer_free(&writer_);                                                         \
    } while (0)

static void check_remove_listed(const uint8_t *body, size_t size)
{
    struct wire_reader reader;
    wire_reader_init(&reader, body, size);
    struct storage_remove_listed_request m;
    if (!storage_remove_listed_request_decode(&reader, &m))
        return;
    if (m.count > STORAGE_REMOVE_LISTED_MAX)
        abort();
    for (size_t i = 1; i < m.count; i++)
        if (m.indexes[i] <= m.indexes[i - 1])
            abort();
    SAME_BYTES(storage_remove_listed_request_encode, &m, body, size);
    free(m.indexes);
}

static void check_remove_chunks(const uint8_t *body, size_t size)
{
    struct wire_reader reader;
    wire_reader_init(&reader, body, size);
    struct storage_remove_chunks_request m;
    if (storage_remove_chunks_request_decode(&reader, &m))
        SAME_BYTES(storage_remove_chunks_request_encode, &m, body, size);
}

static void check_update(const uint8_t *body, size_t size)
{
    struct wire_reader reader;
    wire_reader_init(&reader, body, size);
    struct storage_update_request m;
    if (storage_update_request_decode(&reader, &m))
        SAME_BYTES(storage_update_request_encode, &m, body, size);
}

/* Decoders whose results are lists or small structs: run, free. */
static void check_others(uint8_t which, const uint8_t *body, size_t size)
{
    struct wire_reader reader;
    wire_reader_init(&reader, body, size);
    union {
        struct storage_write_request write;
        struct storage_commit_reply commit;
        struct storage_last_chunk_reply last;
        struct storage_truncate_request truncate;
        struct storage_dump_request dump;
        struct storage_create_target_request create;
        struct storage_sync_done_request done;
    } m;
    void *list = NULL;
    size_t count = 0;
    bool more = false;
    switch (which % 9) {
    case 0: (void)storage_write_request_decode(&reader, &m.write); break;
    case 1: (void)storage_commit_reply_decode(&reader, &m.commit); break;
    case 2:
        (void)storage_batch_read_request_decode(&reader, 1 << 26,
                                                (struct storage_read_item **)&list, &count);
        break;
    case 3:
        (void)storage_batch_read_reply_decode(&reader, (struct storage_read_result **)&list,
                                              &count);
        break;
    case 4: (void)storage_last_chunk_reply_decode(&reader, &m.last); break;
    case 5: (void)storage_truncate_request_decode(&reader, &m.truncate); break;
    case 6:
        (void)storage_space_info_reply_decode(&reader, (struct storage_target_info **)&list,
                                              &count);
        break;
    case 7:
        (void)storage_dump_reply_decode(&reader, (struct storage_chunk_record **)&list, &count,
                                        &more);
        break;
    default:
        (void)storage_dump_request_decode(&reader, &m.dump);
        wire_reader_init(&reader, body, size);
        (void)storage_create_target_request_decode(&reader, &m.create);
        wire_reader_init(&reader, body, size);
        (void)storage_sync_done_request_decode(&reader, &m.done);
        break;
    }
    free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *body = data + 1;
    size_t body_size = size - 1;
    switch (data[0] % 4) {
    case 0: check_remove_listed(body, body_size); break;
    case 1: check_remove_chunks(body, body_size); break;
    case 2: check_update(body, body_size); break;
    default: check_others(data[0] >> 2, body, body_size); break;
    }
    return 0;
}
