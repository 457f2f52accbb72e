/*
 * test_file_client.c - the file client's view of an open file against an embedded file
 * system: the length it cuts reads at and appends after, and how meta's facts from
 * opens, stats and truncates that raced each other are taken in.
 *
 * The mount serves every process through one client, so a reader's open or stat can
 * return from meta after a writer's truncate in the same client has already been
 * taken in. That older reply must not move the file back to before the truncate
 * (found through the mount: appends landed past the old length, length reports were
 * dropped by meta as stale, readers saw short files and wrong bytes).
 * Also fallocate's length rules.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/client.h"
#include "client/client_internal.h"

struct fixture {
    char directory[64];
    struct chainfs_client *client;
    struct chainfs_credentials credentials;
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    snprintf(fixture->directory, sizeof(fixture->directory), "/tmp/chainfs-file-client-XXXXXX");
    assert_non_null(mkdtemp(fixture->directory));
    struct chainfs_client_options options;
    chainfs_client_default_options(&options);
    options.embedded_dir = fixture->directory;
    options.embedded_chunk_size = 64 << 10;
    assert_int_equal(chainfs_client_connect(&options, &fixture->client), 0);
    chainfs_credentials_of_process(&fixture->credentials);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    chainfs_client_disconnect(fixture->client);
    char command[128];
    snprintf(command, sizeof(command), "rm -rf %s", fixture->directory);
    assert_int_equal(system(command), 0);
    free(fixture);
    return 0;
}

static struct chainfs_file *create(struct fixture *fixture, const char *name, int flags)
{
    struct chainfs_file *file;
    struct chainfs_attributes attributes;
    assert_int_equal(chainfs_create(fixture->client, &fixture->credentials, 1, name, 0644,
                                    O_CREAT | flags, &file, &attributes),
                     0);
    return file;
}

static struct chainfs_file *open_file(struct fixture *fixture, uint64_t inode_id, int flags)
{
    struct chainfs_file *file;
    assert_int_equal(chainfs_open(fixture->client, &fixture->credentials, inode_id, flags, &file,
                                  NULL),
                     0);
    return file;
}

static void write_bytes(struct chainfs_file *file, int byte, size_t length, uint64_t offset)
{
    uint8_t *data = malloc(length);
    memset(data, byte, length);
    assert_int_equal(chainfs_pwrite(file, data, length, offset, NULL), 0);
    free(data);
}

static void truncate_to(struct fixture *fixture, uint64_t inode_id, uint64_t length)
{
    struct chainfs_attribute_changes changes = {.fields = CHAINFS_SET_LENGTH, .length = length};
    assert_int_equal(chainfs_setattr(fixture->client, &fixture->credentials, inode_id, &changes,
                                     NULL),
                     0);
}

static struct inode meta_inode(struct fixture *fixture, uint64_t inode_id)
{
    struct inode inode;
    struct chainfs_client *client = fixture->client;
    assert_int_equal(client->backend.meta->stat(client->backend.meta_context, inode_id, &inode), 0);
    return inode;
}

static uint64_t file_length(struct fixture *fixture, uint64_t inode_id)
{
    struct chainfs_attributes attributes;
    assert_int_equal(chainfs_stat(fixture->client, inode_id, &attributes), 0);
    return attributes.length;
}

/* A reader's open that meta answered before a truncate, taken in after it. */
static void stale_open_after_truncate_is_ignored(void **state)
{
    struct fixture *fixture = *state;
    struct chainfs_file *writer = create(fixture, "f", O_RDWR);
    uint64_t inode_id = chainfs_file_inode(writer);
    write_bytes(writer, 'a', 100000, 0);
    assert_int_equal(chainfs_fsync(writer), 0);
    struct inode before_truncate = meta_inode(fixture, inode_id);
    assert_int_equal(before_truncate.length, 100000);

    truncate_to(fixture, inode_id, 1000);
    struct open_inode *stale;
    assert_int_equal(open_inode_acquire(fixture->client, &before_truncate, &stale), 0);
    assert_ptr_equal(stale, writer->inode);
    pthread_mutex_lock(&stale->lock);
    uint64_t length = stale->length, truncate_version = stale->truncate_version;
    pthread_mutex_unlock(&stale->lock);
    open_inode_release(fixture->client, stale);
    assert_int_equal(length, 1000);
    assert_true(truncate_version > before_truncate.truncate_version);

    /* an append lands at the truncated length, and meta takes its length report */
    assert_int_equal(chainfs_close(writer), 0);
    struct chainfs_file *appender = open_file(fixture, inode_id, O_WRONLY | O_APPEND);
    struct open_inode *raced;
    assert_int_equal(open_inode_acquire(fixture->client, &before_truncate, &raced), 0);
    write_bytes(appender, 'b', 10, 0);
    open_inode_release(fixture->client, raced);
    assert_int_equal(chainfs_close(appender), 0);
    assert_int_equal(meta_inode(fixture, inode_id).length, 1010);

    struct chainfs_file *reader = open_file(fixture, inode_id, O_RDONLY);
    uint8_t buffer[2000];
    size_t done = 0;
    assert_int_equal(chainfs_pread(reader, buffer, sizeof(buffer), 0, &done), 0);
    assert_int_equal(done, 1010);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(buffer[i], 'a');
    for (size_t i = 1000; i < 1010; i++)
        assert_int_equal(buffer[i], 'b');
    assert_int_equal(chainfs_close(reader), 0);
}

/* The same truncate version only grows the length; a newer one replaces it. */
static void learning_is_monotonic_in_truncate_version(void **state)
{
    (void)state;
    struct open_inode open = {.length = 500, .reported_length = 400, .truncate_version = 3};
    struct inode older = {.length = 9000, .truncate_version = 2};
    struct inode same_shorter = {.length = 300, .truncate_version = 3};
    struct inode same_longer = {.length = 700, .truncate_version = 3};
    struct inode newer_shorter = {.length = 10, .truncate_version = 4};
    open_inode_learn(&open, &older);
    assert_int_equal(open.length, 500);
    assert_int_equal(open.truncate_version, 3);
    open_inode_learn(&open, &same_shorter);
    assert_int_equal(open.length, 500);
    open_inode_learn(&open, &same_longer);
    assert_int_equal(open.length, 700);
    assert_int_equal(open.reported_length, 400);
    open_inode_learn(&open, &newer_shorter);
    assert_int_equal(open.length, 10);
    assert_int_equal(open.reported_length, 10);
    assert_int_equal(open.truncate_version, 4);
}

/* Truncating to the length meta already has still cuts what this client wrote past
 * it and has not reported: the unreported length must not come back afterwards. */
static void truncate_to_meta_length_drops_unreported_length(void **state)
{
    struct fixture *fixture = *state;
    struct chainfs_file *writer = create(fixture, "g", O_RDWR);
    uint64_t inode_id = chainfs_file_inode(writer);
    write_bytes(writer, 'a', 1000, 0);
    assert_int_equal(chainfs_fsync(writer), 0);
    write_bytes(writer, 'c', 5000, 1000); /* not reported yet */
    assert_int_equal(meta_inode(fixture, inode_id).length, 1000);
    truncate_to(fixture, inode_id, 1000);
    assert_int_equal(file_length(fixture, inode_id), 1000);
    assert_int_equal(chainfs_close(writer), 0);
    assert_int_equal(meta_inode(fixture, inode_id).length, 1000);
    assert_int_equal(file_length(fixture, inode_id), 1000);
}

/* fallocate grows the length in meta at once (the range reads as zeros), never
 * shrinks it; KEEP_SIZE and refused calls change nothing. */
static void fallocate_grows_the_length_in_meta(void **state)
{
    struct fixture *fixture = *state;
    struct chainfs_file *writer = create(fixture, "h", O_RDWR);
    uint64_t inode_id = chainfs_file_inode(writer);
    write_bytes(writer, 'a', 1000, 0);
    assert_int_equal(chainfs_fallocate(writer, 0, 70000, 130000), 0);
    assert_int_equal(meta_inode(fixture, inode_id).length, 200000);
    assert_int_equal(chainfs_fallocate(writer, 0, 0, 10), 0); /* inside: no shrink */
    assert_int_equal(chainfs_fallocate(writer, CHAINFS_FALLOCATE_KEEP_SIZE, 0, 900000), 0);
    assert_int_equal(meta_inode(fixture, inode_id).length, 200000);
    assert_int_equal(chainfs_fallocate(writer, 0, 0, 0), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chainfs_fallocate(writer, 0, UINT64_MAX - 10, 20), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chainfs_fallocate(writer, 0x2 /* punch hole */, 0, 10), CHAINFS_UNSUPPORTED);
    struct chainfs_statfs space;
    assert_int_equal(chainfs_statfs(fixture->client, &space), 0);
    assert_int_equal(chainfs_fallocate(writer, 0, 0, space.free_bytes + (1ull << 30)),
                     CHAINFS_NO_SPACE);
    assert_int_equal(meta_inode(fixture, inode_id).length, 200000);
    /* appends go after the allocated range */
    assert_int_equal(chainfs_close(writer), 0);
    struct chainfs_file *appender = open_file(fixture, inode_id, O_WRONLY | O_APPEND);
    write_bytes(appender, 'b', 10, 0);
    assert_int_equal(chainfs_close(appender), 0);
    assert_int_equal(meta_inode(fixture, inode_id).length, 200010);

    struct chainfs_file *reader = open_file(fixture, inode_id, O_RDONLY);
    assert_int_equal(chainfs_fallocate(reader, 0, 0, 300000), CHAINFS_PERMISSION_DENIED);
    uint8_t *buffer = malloc(300000);
    size_t done = 0;
    assert_int_equal(chainfs_pread(reader, buffer, 300000, 0, &done), 0);
    assert_int_equal(done, 200010);
    for (size_t i = 0; i < done; i++)
        assert_int_equal(buffer[i], i < 1000 ? 'a' : i < 200000 ? 0 : 'b');
    free(buffer);
    assert_int_equal(chainfs_close(reader), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stale_open_after_truncate_is_ignored, setup, teardown),
        cmocka_unit_test(learning_is_monotonic_in_truncate_version),
        cmocka_unit_test_setup_teardown(truncate_to_meta_length_drops_unreported_length, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(fallocate_grows_the_length_in_meta, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
