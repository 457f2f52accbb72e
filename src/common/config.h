/*
 * config.h - typed configuration files (INI: [section] and key = value).
 *
 * Each component describes its settings in a table (struct config_setting): section,
 * key, type, default, bounds, a one-line description, and where the value lives in
 * the component's config struct. The same table fills defaults, parses the file
 * (through inih), applies command-line overrides, and prints the documentation, so
 * no setting exists without a documented type and default. An unknown key or a bad
 * value is an error naming the file, line and key.
 */
#ifndef CHAINFS_COMMON_CONFIG_H
#define CHAINFS_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type {
    CONFIG_TYPE_STRING,   /* char * (owned, freed by config_free) */
    CONFIG_TYPE_INT,      /* int64_t */
    CONFIG_TYPE_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
    CONFIG_TYPE_SIZE,     /* int64_t bytes: 4096, 64KiB, 1MiB, 2GiB (K/M/G = KiB/MiB/GiB) */
    CONFIG_TYPE_DURATION, /* int64_t milliseconds: 500ms, 10s, 2m, 1h; bare number = ms */
};

struct config_setting {
    const char *section;
    const char *key;
    enum config_type type;
    const char *default_value;
    const char *description;
    size_t offset; /* offsetof() the value in the component's config struct */
    int64_t min;   /* bounds for INT/SIZE/DURATION; min == max == 0 means unbounded */
    int64_t max;
};

struct config_schema {
    const char *name; /* component, for messages */
    const struct config_setting *settings;
    size_t count;
};

struct config_error {
    char message[512];
};

/* One piece of a combined schema: settings whose offsets are relative to `offset`
 * inside the combined struct (e.g. the KV settings of a service's config). */
struct config_part {
    const struct config_schema *schema;
    size_t offset;
};

/* Joins parts into one schema (in order) whose settings array is allocated: release
 * it with config_schema_release(). Returns 0 or CHAINFS_NO_MEMORY. */
int config_schema_combine(const char *name, const struct config_part *parts, size_t part_count,
                          struct config_schema *combined);
void config_schema_release(struct config_schema *combined);

/* Sets every setting to its default. Returns 0 or CHAINFS_CONFIG. */
int config_apply_defaults(const struct config_schema *schema, void *target,
                          struct config_error *error);

/* Reads an INI file over the current values. Returns 0 or CHAINFS_CONFIG with a
 * message such as "a.conf:7: unknown key 'lisen' in section [net]". */
int config_load_file(const struct config_schema *schema, void *target, const char *path,
                     struct config_error *error);

/* Reads INI text (e.g. a cluster-wide config fetched from mgmtd) over the current
 * values; origin names it in messages ("mgmtd config v3:2: ..."). */
int config_load_text(const struct config_schema *schema, void *target, const char *text,
                     const char *origin, struct config_error *error);

/* Counts the settings whose values differ between two filled structs and writes
 * their names ("log.level, rpc.max_in_flight", cut to capacity) into text. */
size_t config_describe_changes(const struct config_schema *schema, const void *before,
                               const void *after, char *text, size_t capacity);

/* Applies one "section.key=value" override (from the command line). */
int config_apply_override(const struct config_schema *schema, void *target,
                          const char *assignment, struct config_error *error);

/* Frees owned strings. */
void config_free(const struct config_schema *schema, void *target);

/* Writes one documented line per setting (section, key, type, default, description). */
void config_print_reference(const struct config_schema *schema, FILE *out);

/* Value parsers, exposed for tests and command-line options. Return false on bad input. */
bool config_parse_int(const char *text, int64_t *value);
bool config_parse_bool(const char *text, bool *value);
bool config_parse_size(const char *text, int64_t *bytes);
bool config_parse_duration_ms(const char *text, int64_t *milliseconds);

#endif /* CHAINFS_COMMON_CONFIG_H */
