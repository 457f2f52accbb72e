/*
 * kv_lmdb_data.c - the LMDB data table: storing user keys up to KV_KEY_MAX bytes in a
 * B-tree whose keys are limited to 511 bytes, without changing their order.
 *
 * Every LMDB key starts with the tag byte 0x01 (LMDB rejects empty keys; the user's
 * empty key is legal). A user key of at most DIRECT_MAX bytes is stored directly as
 * tag + key. Longer keys are stored in a "group" record per DIRECT_MAX-byte prefix p:
 * LMDB key tag + p + 0x00, value = the members (suffix after p, value) in suffix order.
 * This keeps the order: every key longer than p that starts with p sorts after p and
 * before any other direct key (a direct key is at most as long as p, so it must differ
 * from p inside p), and all of them are >= p + 0x00, so the group record sits exactly
 * where its members belong. Long keys are rare in chainfs (its keys are a 4-byte prefix,
 * ids and a file name), so rewriting a whole group on change is fine.
 *
 * Group member encoding: u32 LE suffix length, suffix, u32 LE value length, value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_key.h"
#include "kv/kv_lmdb.h"

#define DIRECT_MAX 499
#define KEY_TAG 0x01
#define GROUP_KEY_LENGTH (DIRECT_MAX + 2)
#define RECORD_KEY_BUFFER (GROUP_KEY_LENGTH + 1)

struct record_key {
    uint8_t bytes[RECORD_KEY_BUFFER];
    size_t length;
};

struct group_member {
    const uint8_t *suffix;
    size_t suffix_length;
    const uint8_t *value;
    size_t value_length;
};

/* ---- record keys ---- */

static void encode_direct(const uint8_t *key, size_t key_length, struct record_key *out)
{
    out->bytes[0] = KEY_TAG;
    if (key_length)
        memcpy(out->bytes + 1, key, key_length);
    out->length = key_length + 1;
}

static void encode_group(const uint8_t *key, struct record_key *out)
{
    encode_direct(key, DIRECT_MAX, out);
    out->bytes[out->length++] = 0x00;
}

static MDB_val record_val(const struct record_key *key)
{
    return (MDB_val){key->length, (void *)key->bytes};
}

static bool is_group_record(const MDB_val *key) { return key->mv_size == GROUP_KEY_LENGTH; }

/* The user key a direct record stores, or the group key's p + 0x00. */
static const uint8_t *user_bytes(const MDB_val *key) { return (const uint8_t *)key->mv_data + 1; }
static size_t user_length(const MDB_val *key) { return key->mv_size - 1; }

/* ---- group records ---- */

static uint32_t read_u32(const uint8_t *at)
{
    return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

static void write_u32(uint8_t *at, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        at[i] = (uint8_t)(value >> (8 * i));
}

/* The member at *offset: 1 and advances, 0 at the end, -1 when the record is corrupt. */
static int group_next(const MDB_val *group, size_t *offset, struct group_member *member)
{
    const uint8_t *bytes = group->mv_data;
    size_t left = group->mv_size - *offset;
    if (left == 0)
        return 0;
    if (left < 4 || read_u32(bytes + *offset) > left - 4)
        return -1;
    member->suffix_length = read_u32(bytes + *offset);
    member->suffix = bytes + *offset + 4;
    left -= 4 + member->suffix_length;
    if (left < 4 || read_u32(member->suffix + member->suffix_length) > left - 4)
        return -1;
    member->value_length = read_u32(member->suffix + member->suffix_length);
    member->value = member->suffix + member->suffix_length + 4;
    *offset = (size_t)(member->value + member->value_length - bytes);
    return 1;
}

static int compare_suffix(const struct group_member *member, const uint8_t *suffix,
                          size_t suffix_length)
{
    return kv_key_compare(member->suffix, member->suffix_length, suffix, suffix_length);
}

static size_t member_size(const struct group_member *member)
{
    return 8 + member->suffix_length + member->value_length;
}

static uint8_t *put_member(uint8_t *at, const struct group_member *member)
{
    write_u32(at, (uint32_t)member->suffix_length);
    memcpy(at + 4, member->suffix, member->suffix_length);
    at += 4 + member->suffix_length;
    write_u32(at, (uint32_t)member->value_length);
    memcpy(at + 4, member->value, member->value_length);
    return at + 4 + member->value_length;
}

/* Whether the group's member (full key prefix + suffix) lies in range. */
static bool member_in_range(const uint8_t *prefix, const struct group_member *member,
                            const struct kv_key_range *range, uint8_t *key_buffer)
{
    memcpy(key_buffer, prefix, DIRECT_MAX);
    memcpy(key_buffer + DIRECT_MAX, member->suffix, member->suffix_length);
    return kv_range_contains(range, key_buffer, DIRECT_MAX + member->suffix_length);
}

struct group_edit {
    const uint8_t *prefix;
    const struct kv_key_range *drop_range;   /* members to remove, or NULL */
    const struct group_member *insert;       /* member to add or replace, or NULL */
    uint8_t *key_buffer;                     /* KV_KEY_MAX bytes, for drop_range */
};

static bool edit_drops(const struct group_edit *edit, const struct group_member *member)
{
    if (edit->insert && compare_suffix(member, edit->insert->suffix,
                                       edit->insert->suffix_length) == 0)
        return true;
    return edit->drop_range &&
           member_in_range(edit->prefix, member, edit->drop_range, edit->key_buffer);
}

/* Writes the edited members to buffer (NULL: only measures). Returns the size, or
 * SIZE_MAX when the old record is corrupt. */
static size_t build_group(const MDB_val *old, const struct group_edit *edit, uint8_t *buffer)
{
    size_t offset = 0, size = 0;
    bool inserted = edit->insert == NULL;
    struct group_member member;
    int more;
    while (old && (more = group_next(old, &offset, &member)) != 0) {
        if (more < 0)
            return SIZE_MAX;
        if (!inserted && compare_suffix(&member, edit->insert->suffix,
                                        edit->insert->suffix_length) >= 0) {
            size += member_size(edit->insert);
            buffer = buffer ? put_member(buffer, edit->insert) : NULL;
            inserted = true;
        }
        if (edit_drops(edit, &member))
            continue;
        size += member_size(&member);
        buffer = buffer ? put_member(buffer, &member) : NULL;
    }
    if (!inserted) {
        size += member_size(edit->insert);
        if (buffer)
            put_member(buffer, edit->insert);
    }
    return size;
}

/* Replaces the group record at key with the edited one (deleting it when empty). */
static int rewrite_group(MDB_txn *txn, MDB_dbi data, const struct record_key *key,
                         const MDB_val *old, const struct group_edit *edit)
{
    size_t size = build_group(old, edit, NULL);
    if (size == SIZE_MAX)
        return MDB_CORRUPTED;
    MDB_val record_key = record_val(key);
    if (size == 0)
        return old ? mdb_del(txn, data, &record_key, NULL) : 0;
    uint8_t *buffer = malloc(size);
    if (!buffer)
        return ENOMEM;
    build_group(old, edit, buffer);
    MDB_val value = {size, buffer};
    int result = mdb_put(txn, data, &record_key, &value, 0);
    free(buffer);
    return result;
}

/* ---- point access ---- */

int lmdb_data_get(MDB_txn *txn, MDB_dbi data, const uint8_t *key, size_t key_length,
                  MDB_val *value)
{
    struct record_key record;
    if (key_length <= DIRECT_MAX) {
        encode_direct(key, key_length, &record);
        MDB_val record_key = record_val(&record);
        return mdb_get(txn, data, &record_key, value);
    }
    encode_group(key, &record);
    MDB_val record_key = record_val(&record), group;
    int result = mdb_get(txn, data, &record_key, &group);
    if (result != 0)
        return result;
    struct group_member member;
    size_t offset = 0;
    int more;
    while ((more = group_next(&group, &offset, &member)) > 0)
        if (compare_suffix(&member, key + DIRECT_MAX, key_length - DIRECT_MAX) == 0) {
            *value = (MDB_val){member.value_length, (void *)member.value};
            return 0;
        }
    return more < 0 ? MDB_CORRUPTED : MDB_NOTFOUND;
}

/* Applies edit to the group holding the long key. */
static int edit_group_of(MDB_txn *txn, MDB_dbi data, const uint8_t *key,
                         const struct group_edit *edit)
{
    struct record_key record;
    encode_group(key, &record);
    MDB_val record_key = record_val(&record), old;
    int result = mdb_get(txn, data, &record_key, &old);
    if (result != 0 && result != MDB_NOTFOUND)
        return result;
    if (result == MDB_NOTFOUND && !edit->insert)
        return 0;
    return rewrite_group(txn, data, &record, result == 0 ? &old : NULL, edit);
}

int lmdb_data_put(MDB_txn *txn, MDB_dbi data, const uint8_t *key, size_t key_length,
                  const uint8_t *value, size_t value_length)
{
    if (key_length <= DIRECT_MAX) {
        struct record_key record;
        encode_direct(key, key_length, &record);
        MDB_val record_key = record_val(&record), stored = {value_length, (void *)value};
        return mdb_put(txn, data, &record_key, &stored, 0);
    }
    struct group_member member = {key + DIRECT_MAX, key_length - DIRECT_MAX, value, value_length};
    struct group_edit edit = {key, NULL, &member, NULL};
    return edit_group_of(txn, data, key, &edit);
}

int lmdb_data_delete(MDB_txn *txn, MDB_dbi data, const uint8_t *key, size_t key_length)
{
    if (key_length <= DIRECT_MAX) {
        struct record_key record;
        encode_direct(key, key_length, &record);
        MDB_val record_key = record_val(&record);
        int result = mdb_del(txn, data, &record_key, NULL);
        return result == MDB_NOTFOUND ? 0 : result;
    }
    uint8_t end[KV_KEY_MAX + 1];
    memcpy(end, key, key_length);
    end[key_length] = 0;
    struct kv_key_range only_key = {key, key_length, end, key_length + 1};
    uint8_t key_buffer[KV_KEY_MAX + 1];
    struct group_edit edit = {key, &only_key, NULL, key_buffer};
    return edit_group_of(txn, data, key, &edit);
}

/* ---- range scans ---- */

struct scan {
    const struct kv_key_range *range;
    kv_row_sink sink;
    void *context;
    uint8_t *key_buffer; /* KV_KEY_MAX bytes for assembling long keys */
    bool stopped;
};

/* Sends one group member to the sink when it lies in range; stops the scan past it. */
static void scan_member(struct scan *scan, const uint8_t *prefix,
                        const struct group_member *member, bool reverse)
{
    size_t key_length = DIRECT_MAX + member->suffix_length;
    memcpy(scan->key_buffer, prefix, DIRECT_MAX);
    memcpy(scan->key_buffer + DIRECT_MAX, member->suffix, member->suffix_length);
    const struct kv_key_range *range = scan->range;
    bool below = kv_key_compare(scan->key_buffer, key_length, range->begin, range->begin_length) < 0;
    bool above = kv_key_compare(scan->key_buffer, key_length, range->end, range->end_length) >= 0;
    if (reverse ? below : above)
        scan->stopped = true;
    else if (!below && !above &&
             !scan->sink(scan->context, scan->key_buffer, key_length, member->value,
                         member->value_length))
        scan->stopped = true;
}

static int scan_group(struct scan *scan, const MDB_val *key, const MDB_val *group, bool reverse)
{
    size_t count = 0, offset = 0;
    struct group_member member;
    int more;
    while ((more = group_next(group, &offset, &member)) > 0)
        count++;
    if (more < 0)
        return MDB_CORRUPTED;
    struct group_member *members = malloc((count ? count : 1) * sizeof(*members));
    if (!members)
        return ENOMEM;
    offset = 0;
    for (size_t i = 0; i < count; i++)
        group_next(group, &offset, &members[i]);
    for (size_t i = 0; i < count && !scan->stopped; i++)
        scan_member(scan, user_bytes(key), &members[reverse ? count - 1 - i : i], reverse);
    free(members);
    return 0;
}

/* Handles one record of a forward scan. */
static int scan_forward_record(struct scan *scan, const MDB_val *key, const MDB_val *value)
{
    const struct kv_key_range *range = scan->range;
    int past_end = kv_key_compare(user_bytes(key), user_length(key), range->end, range->end_length);
    if (past_end >= 0) {
        scan->stopped = true;
        return 0;
    }
    if (is_group_record(key))
        return scan_group(scan, key, value, false);
    if (kv_key_compare(user_bytes(key), user_length(key), range->begin, range->begin_length) >= 0 &&
        !scan->sink(scan->context, user_bytes(key), user_length(key), value->mv_data,
                    value->mv_size))
        scan->stopped = true;
    return 0;
}

/* Handles one record of a reverse scan. */
static int scan_reverse_record(struct scan *scan, const MDB_val *key, const MDB_val *value)
{
    const struct kv_key_range *range = scan->range;
    int below_begin =
        kv_key_compare(user_bytes(key), user_length(key), range->begin, range->begin_length) < 0;
    if (is_group_record(key)) {
        int result = scan_group(scan, key, value, true);
        if (below_begin)
            scan->stopped = true;
        return result;
    }
    if (below_begin) {
        scan->stopped = true;
        return 0;
    }
    if (kv_key_compare(user_bytes(key), user_length(key), range->end, range->end_length) < 0 &&
        !scan->sink(scan->context, user_bytes(key), user_length(key), value->mv_data,
                    value->mv_size))
        scan->stopped = true;
    return 0;
}

/* The first record that can hold keys >= begin. */
static void forward_seek_key(const struct kv_key_range *range, struct record_key *seek)
{
    encode_direct(range->begin, range->begin_length <= DIRECT_MAX ? range->begin_length : DIRECT_MAX,
                  seek);
}

/* Positions the cursor on the last record that can hold keys < end. */
static int position_reverse(MDB_cursor *cursor, const struct kv_key_range *range, MDB_val *key,
                            MDB_val *value)
{
    struct record_key seek;
    bool long_end = range->end_length > DIRECT_MAX;
    if (long_end)
        encode_group(range->end, &seek);
    else
        encode_direct(range->end, range->end_length, &seek);
    *key = record_val(&seek);
    int result = mdb_cursor_get(cursor, key, value, MDB_SET_RANGE);
    if (result == MDB_NOTFOUND)
        return mdb_cursor_get(cursor, key, value, MDB_LAST);
    if (result != 0)
        return result;
    bool on_group_of_end = long_end && key->mv_size == seek.length &&
                           memcmp(key->mv_data, seek.bytes, seek.length) == 0;
    return on_group_of_end ? 0 : mdb_cursor_get(cursor, key, value, MDB_PREV);
}

int lmdb_data_scan(MDB_txn *txn, MDB_dbi data, const struct kv_key_range *range, bool reverse,
                   kv_row_sink sink, void *context)
{
    MDB_cursor *cursor;
    int result = mdb_cursor_open(txn, data, &cursor);
    if (result != 0)
        return result;
    uint8_t key_buffer[KV_KEY_MAX + 1];
    struct scan scan = {range, sink, context, key_buffer, false};
    MDB_val key, value;
    if (reverse) {
        result = position_reverse(cursor, range, &key, &value);
    } else {
        struct record_key seek;
        forward_seek_key(range, &seek);
        key = record_val(&seek);
        result = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    }
    while (result == 0 && !scan.stopped) {
        result = reverse ? scan_reverse_record(&scan, &key, &value)
                         : scan_forward_record(&scan, &key, &value);
        if (result == 0 && !scan.stopped)
            result = mdb_cursor_get(cursor, &key, &value, reverse ? MDB_PREV : MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return result == MDB_NOTFOUND ? 0 : result;
}

/* ---- clearing a range ---- */

/* Removes what the record at key holds inside range. */
static int clear_record(MDB_txn *txn, MDB_dbi data, const struct record_key *key,
                        const MDB_val *value, const struct kv_key_range *range,
                        uint8_t *key_buffer)
{
    MDB_val record_key = record_val(key);
    if (key->length != GROUP_KEY_LENGTH)
        return kv_range_contains(range, key->bytes + 1, key->length - 1)
                   ? mdb_del(txn, data, &record_key, NULL)
                   : 0;
    struct group_edit edit = {key->bytes + 1, range, NULL, key_buffer};
    return rewrite_group(txn, data, key, value, &edit);
}

int lmdb_data_clear_range(MDB_txn *txn, MDB_dbi data, const struct kv_key_range *range)
{
    MDB_cursor *cursor;
    int result = mdb_cursor_open(txn, data, &cursor);
    if (result != 0)
        return result;
    uint8_t key_buffer[KV_KEY_MAX + 1];
    struct record_key position;
    forward_seek_key(range, &position);
    for (;;) {
        MDB_val key = record_val(&position), value;
        result = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
        if (result != 0)
            break;
        if (kv_key_compare(user_bytes(&key), user_length(&key), range->end, range->end_length) >= 0)
            break;
        /* Remember where we are before the record changes; the next seek starts just
         * after it (record keys are at most GROUP_KEY_LENGTH bytes, so + 0x00 fits). */
        memcpy(position.bytes, key.mv_data, key.mv_size);
        position.length = key.mv_size;
        result = clear_record(txn, data, &position, &value, range, key_buffer);
        if (result != 0)
            break;
        position.bytes[position.length++] = 0x00;
    }
    mdb_cursor_close(cursor);
    return result == MDB_NOTFOUND ? 0 : result;
}
