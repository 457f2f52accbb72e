/*
 * test_common.c - unit tests of src/common: CRC32C vectors, wire codec bounds,
 * config parsing and errors, status table, deadlines, aligned buffers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/aligned_buffer.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/crc32c.h"
#include "common/wire.h"

static void crc32c_matches_known_vectors(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c(0, "", 0), 0);
    uint8_t zeros[32] = {0};
    assert_int_equal(crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu); /* RFC 3720 B.4 */
    uint8_t ones[32];
    memset(ones, 0xff, sizeof(ones));
    assert_int_equal(crc32c(0, ones, sizeof(ones)), 0x62A8AB43u);
}

static void crc32c_chains_across_pieces(void **state)
{
    (void)state;
    const char *text = "chain replication with apportioned queries";
    size_t length = strlen(text);
    uint32_t whole = crc32c(0, text, length);
    for (size_t split = 0; split <= length; split++)
        assert_int_equal(crc32c(crc32c(0, text, split), text + split, length - split), whole);
}

static void wire_round_trips_every_type(void **state)
{
    (void)state;
    struct wire_writer writer;
    wire_writer_init(&writer);
    wire_put_u8(&writer, 0xab);
    wire_put_u16(&writer, 0xbeef);
    wire_put_u32(&writer, 0xdeadbeef);
    wire_put_u64(&writer, 0x0123456789abcdefULL);
    wire_put_i64(&writer, -42);
    wire_put_bool(&writer, true);
    wire_put_string(&writer, "chunk");
    wire_put_bytes(&writer, "\0\1\2", 3);
    assert_true(wire_writer_ok(&writer));
    /* Little-endian on the wire regardless of host order. */
    assert_int_equal(writer.data[1], 0xef);
    assert_int_equal(writer.data[2], 0xbe);

    struct wire_reader reader;
    wire_reader_init(&reader, writer.data, writer.length);
    assert_int_equal(wire_get_u8(&reader), 0xab);
    assert_int_equal(wire_get_u16(&reader), 0xbeef);
    assert_int_equal(wire_get_u32(&reader), 0xdeadbeef);
    assert_true(wire_get_u64(&reader) == 0x0123456789abcdefULL);
    assert_true(wire_get_i64(&reader) == -42);
    assert_true(wire_get_bool(&reader));
    char text[16];
    assert_true(wire_get_string(&reader, text, sizeof(text)));
    assert_string_equal(text, "chunk");
    const void *bytes;
    size_t length;
    assert_true(wire_get_bytes(&reader, 16, &bytes, &length));
    assert_int_equal(length, 3);
    assert_memory_equal(bytes, "\0\1\2", 3);
    assert_true(wire_reader_done(&reader));
    wire_writer_free(&writer);
}

static void wire_reader_rejects_every_truncation(void **state)
{
    (void)state;
    struct wire_writer writer;
    wire_writer_init(&writer);
    wire_put_u64(&writer, 7);
    wire_put_string(&writer, "name");
    for (size_t cut = 0; cut < writer.length; cut++) {
        struct wire_reader reader;
        wire_reader_init(&reader, writer.data, cut);
        (void)wire_get_u64(&reader);
        char text[16];
        (void)wire_get_string(&reader, text, sizeof(text));
        assert_false(wire_reader_ok(&reader));
    }
    wire_writer_free(&writer);
}

static void wire_reader_rejects_lies_and_garbage(void **state)
{
    (void)state;
    /* A length prefix larger than the buffer. */
    uint8_t lying[8] = {0xff, 0xff, 0xff, 0x7f, 'a', 'b', 'c', 'd'};
    struct wire_reader reader;
    wire_reader_init(&reader, lying, sizeof(lying));
    const void *bytes;
    size_t length;
    assert_false(wire_get_bytes(&reader, SIZE_MAX, &bytes, &length));
    /* The reader stays failed: later reads return zero. */
    assert_int_equal(wire_get_u32(&reader), 0);
    assert_false(wire_reader_ok(&reader));

    /* A string with an embedded NUL, a string too long for the destination. */
    uint8_t with_nul[7] = {3, 0, 0, 0, 'a', 0, 'b'};
    wire_reader_init(&reader, with_nul, sizeof(with_nul));
    char text[8];
    assert_false(wire_get_string(&reader, text, sizeof(text)));
    uint8_t long_text[9] = {5, 0, 0, 0, 'a', 'b', 'c', 'd', 'e'};
    wire_reader_init(&reader, long_text, sizeof(long_text));
    assert_false(wire_get_string(&reader, text, 5));

    /* Bool accepts 0 and 1 only. */
    uint8_t two = 2;
    wire_reader_init(&reader, &two, 1);
    (void)wire_get_bool(&reader);
    assert_false(wire_reader_ok(&reader));

    /* Trailing bytes make a body not done. */
    uint8_t extra[5] = {1, 0, 0, 0, 9};
    wire_reader_init(&reader, extra, sizeof(extra));
    assert_int_equal(wire_get_u32(&reader), 1);
    assert_true(wire_reader_ok(&reader));
    assert_false(wire_reader_done(&reader));
}

struct sample_config {
    char *listen;
    int64_t workers;
    bool verbose;
    int64_t max_frame;
    int64_t heartbeat;
};

static const struct config_setting sample_settings[] = {
    {"net", "listen", CONFIG_TYPE_STRING, "127.0.0.1:0", "address", offsetof(struct sample_config, listen), 0, 0},
    {"net", "workers", CONFIG_TYPE_INT, "4", "worker threads", offsetof(struct sample_config, workers), 1, 64},
    {"log", "verbose", CONFIG_TYPE_BOOL, "false", "chatty", offsetof(struct sample_config, verbose), 0, 0},
    {"net", "max_frame", CONFIG_TYPE_SIZE, "16MiB", "frame limit", offsetof(struct sample_config, max_frame), 0, 0},
    {"mgmtd", "heartbeat", CONFIG_TYPE_DURATION, "10s", "heartbeat interval", offsetof(struct sample_config, heartbeat), 0, 0},
};
static const struct config_schema sample_schema = {"sample", sample_settings, 5};

static char *write_temp_file(const char *content)
{
    char *path = strdup("/tmp/chainfs-config-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static int load_sample(const char *content, struct sample_config *config,
                       struct config_error *error)
{
    memset(config, 0, sizeof(*config));
    assert_int_equal(config_apply_defaults(&sample_schema, config, error), 0);
    char *path = write_temp_file(content);
    int status = config_load_file(&sample_schema, config, path, error);
    unlink(path);
    free(path);
    return status;
}

static void config_defaults_and_file_values(void **state)
{
    (void)state;
    struct sample_config config;
    struct config_error error;
    assert_int_equal(load_sample("; comment\n[net]\nworkers = 8\nmax_frame = 1MiB\n"
                                 "[mgmtd]\nheartbeat = 250ms\n", &config, &error), 0);
    assert_string_equal(config.listen, "127.0.0.1:0");
    assert_int_equal(config.workers, 8);
    assert_int_equal(config.max_frame, 1 << 20);
    assert_int_equal(config.heartbeat, 250);
    assert_false(config.verbose);
    assert_int_equal(config_apply_override(&sample_schema, &config, "log.verbose=yes", &error), 0);
    assert_true(config.verbose);
    config_free(&sample_schema, &config);
}

static void config_errors_name_file_line_and_key(void **state)
{
    (void)state;
    struct sample_config config;
    struct config_error error;
    assert_int_equal(load_sample("[net]\nworkers = 2\nlisen = x\n", &config, &error), CHAINFS_CONFIG);
    assert_non_null(strstr(error.message, ":3: unknown key 'lisen' in section [net]"));
    config_free(&sample_schema, &config);

    assert_int_equal(load_sample("[net]\n\nworkers = many\n", &config, &error), CHAINFS_CONFIG);
    assert_non_null(strstr(error.message, ":3: [net] workers: expected an integer, got 'many'"));
    config_free(&sample_schema, &config);

    assert_int_equal(load_sample("[net]\nworkers = 65\n", &config, &error), CHAINFS_CONFIG);
    assert_non_null(strstr(error.message, ":2: [net] workers = '65' is out of range"));
    config_free(&sample_schema, &config);

    assert_int_equal(load_sample("[nett]\nworkers = 1\n", &config, &error), CHAINFS_CONFIG);
    assert_non_null(strstr(error.message, ":2: unknown section [nett]"));
    config_free(&sample_schema, &config);

    assert_int_equal(load_sample("[net]\nthis line has no equals sign\n", &config, &error), CHAINFS_CONFIG);
    assert_non_null(strstr(error.message, ":2: syntax error"));
    config_free(&sample_schema, &config);

    memset(&config, 0, sizeof(config));
    assert_int_equal(config_load_file(&sample_schema, &config, "/nonexistent/chainfs.conf", &error),
                     CHAINFS_CONFIG);
    assert_non_null(strstr(error.message, "/nonexistent/chainfs.conf: cannot open"));

    assert_int_equal(config_apply_override(&sample_schema, &config, "net.nope=1", &error), CHAINFS_CONFIG);
    assert_int_equal(config_apply_override(&sample_schema, &config, "garbage", &error), CHAINFS_CONFIG);
}

static void config_text_and_changes(void **state)
{
    (void)state;
    struct sample_config before, after;
    struct config_error error;
    assert_int_equal(load_sample("[net]\nworkers = 2\n", &before, &error), 0);
    assert_int_equal(load_sample("[net]\nworkers = 2\n", &after, &error), 0);
    char names[128];
    assert_int_equal(config_describe_changes(&sample_schema, &before, &after, names, sizeof(names)), 0);
    assert_string_equal(names, "");

    /* Text over a file-loaded config: later values win, the rest is kept. */
    assert_int_equal(config_load_text(&sample_schema, &after,
                                      "[log]\nverbose = on\n[mgmtd]\nheartbeat = 2s\n",
                                      "mgmtd config v2", &error), 0);
    assert_int_equal(after.workers, 2);
    assert_int_equal(after.heartbeat, 2000);
    assert_int_equal(config_describe_changes(&sample_schema, &before, &after, names, sizeof(names)), 2);
    assert_string_equal(names, "log.verbose, mgmtd.heartbeat");
    /* A short buffer is cut, the count is still right. */
    char short_names[8];
    assert_int_equal(config_describe_changes(&sample_schema, &before, &after, short_names,
                                             sizeof(short_names)), 2);
    assert_int_equal(strlen(short_names), 7);

    /* Errors name the origin and line. */
    assert_int_equal(config_load_text(&sample_schema, &after, "[net]\nworkers = 99\n",
                                      "mgmtd config v3", &error), CHAINFS_CONFIG);
    assert_non_null(strstr(error.message, "mgmtd config v3:2: [net] workers = '99' is out of range"));
    assert_int_equal(after.workers, 2);
    config_free(&sample_schema, &before);
    config_free(&sample_schema, &after);
}

static void config_value_parsers(void **state)
{
    (void)state;
    int64_t value;
    assert_true(config_parse_size("64KiB", &value) && value == 65536);
    assert_true(config_parse_size("2G", &value) && value == 2LL << 30);
    assert_true(config_parse_size("4096", &value) && value == 4096);
    assert_false(config_parse_size("-1", &value));
    assert_false(config_parse_size("12XB", &value));
    assert_false(config_parse_size("99999999999999T", &value));
    assert_true(config_parse_duration_ms("10s", &value) && value == 10000);
    assert_true(config_parse_duration_ms("2m", &value) && value == 120000);
    assert_true(config_parse_duration_ms("15", &value) && value == 15);
    assert_false(config_parse_duration_ms("soon", &value));
    bool flag;
    assert_true(config_parse_bool("On", &flag) && flag);
    assert_true(config_parse_bool("0", &flag) && !flag);
    assert_false(config_parse_bool("maybe", &flag));
}

static void error_table_is_consistent(void **state)
{
    (void)state;
    assert_string_equal(chainfs_error_name(CHAINFS_TIMEOUT), "TIMEOUT");
    assert_int_equal(chainfs_error_to_errno(CHAINFS_NOT_FOUND), ENOENT);
    assert_int_equal(chainfs_error_to_errno(CHAINFS_OK), 0);
    assert_string_equal(chainfs_error_name(99999), "UNKNOWN");
    assert_int_equal(chainfs_error_to_errno(99999), EIO);
    assert_true(chainfs_error_is_retryable(CHAINFS_CONFLICT));
    assert_false(chainfs_error_is_retryable(CHAINFS_MALFORMED));
}

static void deadlines_and_aligned_buffers(void **state)
{
    (void)state;
    uint64_t deadline = deadline_after_ns(20 * CLOCK_NS_PER_MS);
    assert_false(deadline_expired(deadline));
    assert_true(deadline_remaining_ns(deadline) <= 20 * CLOCK_NS_PER_MS);
    clock_sleep_ns(25 * CLOCK_NS_PER_MS);
    assert_true(deadline_expired(deadline));
    assert_true(deadline_after_ns(DEADLINE_NEVER) == DEADLINE_NEVER);
    assert_false(deadline_expired(DEADLINE_NEVER));

    void *buffer = aligned_buffer_alloc(5000);
    assert_non_null(buffer);
    assert_int_equal((uintptr_t)buffer % ALIGNED_BUFFER_ALIGNMENT, 0);
    memset(buffer, 1, 8192); /* the size class is usable */
    assert_int_equal(aligned_buffer_round_up(5000), 8192);
    aligned_buffer_free(buffer, 5000);
    /* A freed buffer of the same class is handed out again (no fresh page faults). */
    void *again = aligned_buffer_alloc(6000);
    assert_ptr_equal(again, buffer);
    aligned_buffer_free(again, 6000);
    void *huge = aligned_buffer_alloc((size_t)3 << 30); /* beyond the classes: not pooled */
    if (huge)
        aligned_buffer_free(huge, (size_t)3 << 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_matches_known_vectors),
        cmocka_unit_test(crc32c_chains_across_pieces),
        cmocka_unit_test(wire_round_trips_every_type),
        cmocka_unit_test(wire_reader_rejects_every_truncation),
        cmocka_unit_test(wire_reader_rejects_lies_and_garbage),
        cmocka_unit_test(config_defaults_and_file_values),
        cmocka_unit_test(config_errors_name_file_line_and_key),
        cmocka_unit_test(config_text_and_changes),
        cmocka_unit_test(config_value_parsers),
        cmocka_unit_test(error_table_is_consistent),
        cmocka_unit_test(deadlines_and_aligned_buffers),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
