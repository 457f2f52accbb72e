/*
 * storage_test_util.h - helpers shared by the chunk engine tests: scratch target
 * directories and deterministic chunk contents.
 */
#ifndef CHAINFS_TESTS_STORAGE_TEST_UTIL_H
#define CHAINFS_TESTS_STORAGE_TEST_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int remove_path(const char *path, const struct stat *status, int type,
                       struct FTW *walk)
{
    (void)status;
    (void)type;
    (void)walk;
    return remove(path);
}

/* Deletes a directory tree. */
static inline void remove_tree(const char *dir)
{
    nftw(dir, remove_path, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates a fresh directory under TMPDIR (or /tmp) into dir[size]. */
static inline int make_scratch_dir(char *dir, size_t size, const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/chainfs-%s-XXXXXX", base != NULL ? base : "/tmp", name);
    return mkdtemp(dir) != NULL ? 0 : -1;
}

/* Fills buffer with bytes determined by seed (xorshift). */
static inline void fill_pattern(void *buffer, size_t length, uint64_t seed)
{
    uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 1;
    uint8_t *bytes = buffer;
    for (size_t i = 0; i < length; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes[i] = (uint8_t)state;
    }
}

#endif /* CHAINFS_TESTS_STORAGE_TEST_UTIL_H */
