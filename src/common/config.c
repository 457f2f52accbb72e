/*
 * config.c - schema-driven INI configuration on top of inih.
 *
 * inih does the lexing (sections, comments, continuation); this file maps each
 * (section, key) to its typed slot and validates the value. inih reports the line
 * of the first error as ini_parse()'s return value; the handler records the first
 * message, and the two are joined into "file:line: message".
 */
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chainfs/error.h"
#include "common/config.h"

static const char *const type_names[] = {"string", "int", "bool", "size", "duration"};

bool config_parse_int(const char *text, int64_t *value)
{
    char *end;
    errno = 0;
    long long parsed = strtoll(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0')
        return false;
    *value = parsed;
    return true;
}

bool config_parse_bool(const char *text, bool *value)
{
    static const char *const truths[] = {"true", "yes", "on", "1"};
    static const char *const falsehoods[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, truths[i]) == 0) {
            *value = true;
            return true;
        }
        if (strcasecmp(text, falsehoods[i]) == 0) {
            *value = false;
            return true;
        }
    }
    return false;
}

/* Parses "<number><unit>" where unit is one of units[] (multipliers[] alongside). */
static bool parse_with_unit(const char *text, const char *const *units,
                            const int64_t *multipliers, size_t unit_count, int64_t *result)
{
    char *end;
    errno = 0;
    long long number = strtoll(text, &end, 10);
    if (errno != 0 || end == text || number < 0)
        return false;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < unit_count; i++) {
        if (strcasecmp(end, units[i]) == 0) {
            if (multipliers[i] != 0 && number > INT64_MAX / multipliers[i])
                return false;
            *result = number * multipliers[i];
            return true;
        }
    }
    return false;
}

bool config_parse_size(const char *text, int64_t *bytes)
{
    static const char *const units[] = {"", "b", "k", "kib", "m", "mib", "g", "gib", "t", "tib"};
    static const int64_t multipliers[] = {1, 1, 1LL << 10, 1LL << 10, 1LL << 20,
                                          1LL << 20, 1LL << 30, 1LL << 30, 1LL << 40, 1LL << 40};
    return parse_with_unit(text, units, multipliers, 10, bytes);
}

bool config_parse_duration_ms(const char *text, int64_t *milliseconds)
{
    static const char *const units[] = {"", "ms", "s", "m", "h"};
    static const int64_t multipliers[] = {1, 1, 1000, 60000, 3600000};
    return parse_with_unit(text, units, multipliers, 5, milliseconds);
}

static const struct config_setting *find_setting(const struct config_schema *schema,
                                                 const char *section, const char *key)
{
    for (size_t i = 0; i < schema->count; i++) {
        const struct config_setting *setting = &schema->settings[i];
        if (strcmp(setting->section, section) == 0 && strcmp(setting->key, key) == 0)
            return setting;
    }
    return NULL;
}

static bool section_exists(const struct config_schema *schema, const char *section)
{
    for (size_t i = 0; i < schema->count; i++)
        if (strcmp(schema->settings[i].section, section) == 0)
            return true;
    return false;
}

static const char *value_shape(enum config_type type)
{
    switch (type) {
    case CONFIG_TYPE_INT: return "an integer";
    case CONFIG_TYPE_BOOL: return "true or false";
    case CONFIG_TYPE_SIZE: return "a size such as 4096, 64KiB or 1GiB";
    case CONFIG_TYPE_DURATION: return "a duration such as 500ms, 10s or 2m";
    default: return "a string";
    }
}

/* Parses text into the setting's slot; on failure fills error (without location). */
static bool apply_value(const struct config_setting *setting, void *target, const char *text,
                        struct config_error *error)
{
    void *slot = (char *)target + setting->offset;
    int64_t number = 0;
    bool parsed;
    switch (setting->type) {
    case CONFIG_TYPE_STRING: {
        char *copy = strdup(text);
        if (!copy) {
            snprintf(error->message, sizeof(error->message), "out of memory");
            return false;
        }
        free(*(char **)slot);
        *(char **)slot = copy;
        return true;
    }
    case CONFIG_TYPE_BOOL: {
        bool flag;
        if (!config_parse_bool(text, &flag))
            break;
        *(bool *)slot = flag;
        return true;
    }
    case CONFIG_TYPE_INT: parsed = config_parse_int(text, &number); goto bounded;
    case CONFIG_TYPE_SIZE: parsed = config_parse_size(text, &number); goto bounded;
    case CONFIG_TYPE_DURATION:
        parsed = config_parse_duration_ms(text, &number);
    bounded:
        if (!parsed)
            break;
        if ((setting->min != 0 || setting->max != 0) &&
            (number < setting->min || number > setting->max)) {
            snprintf(error->message, sizeof(error->message),
                     "[%s] %s = '%s' is out of range (%" PRId64 " to %" PRId64 ")",
                     setting->section, setting->key, text, setting->min, setting->max);
            return false;
        }
        *(int64_t *)slot = number;
        return true;
    }
    snprintf(error->message, sizeof(error->message), "[%s] %s: expected %s, got '%s'",
             setting->section, setting->key, value_shape(setting->type), text);
    return false;
}

int config_schema_combine(const char *name, const struct config_part *parts, size_t part_count,
                          struct config_schema *combined)
{
    size_t count = 0;
    for (size_t i = 0; i < part_count; i++)
        count += parts[i].schema->count;
    struct config_setting *settings = calloc(count ? count : 1, sizeof(*settings));
    if (!settings)
        return CHAINFS_NO_MEMORY;
    size_t next = 0;
    for (size_t i = 0; i < part_count; i++) {
        for (size_t k = 0; k < parts[i].schema->count; k++) {
            settings[next] = parts[i].schema->settings[k];
            settings[next++].offset += parts[i].offset;
        }
    }
    *combined = (struct config_schema){name, settings, count};
    return 0;
}

void config_schema_release(struct config_schema *merged)
{
    free((void *)merged->settings);
    merged->settings = NULL;
    merged->count = 0;
}

int config_apply_defaults(const struct config_schema *schema, void *target,
                          struct config_error *error)
{
    for (size_t i = 0; i < schema->count; i++) {
        if (!apply_value(&schema->settings[i], target, schema->settings[i].default_value,
                         error))
            return CHAINFS_CONFIG; /* a bad default is a programming error caught by tests */
    }
    return 0;
}

struct load_context {
    const struct config_schema *schema;
    void *target;
    struct config_error *error;
    bool failed;
};

static int handle_ini_entry(void *user, const char *section, const char *key, const char *value)
{
    struct load_context *context = user;
    if (context->failed)
        return 0; /* keep only the first message; inih keeps the first line */
    const struct config_setting *setting = find_setting(context->schema, section, key);
    if (!setting) {
        if (section_exists(context->schema, section))
            snprintf(context->error->message, sizeof(context->error->message),
                     "unknown key '%s' in section [%s]", key, section);
        else
            snprintf(context->error->message, sizeof(context->error->message),
                     "unknown section [%s] (key '%s')", section, key);
        context->failed = true;
        return 0;
    }
    if (!apply_value(setting, context->target, value, context->error)) {
        context->failed = true;
        return 0;
    }
    return 1;
}

/* Turns inih's result into 0 or CHAINFS_CONFIG with "origin:line: detail". */
static int load_result(int line, const struct load_context *context, const char *origin,
                       struct config_error *error)
{
    if (line == 0)
        return 0;
    char detail[sizeof(error->message)];
    if (line == -1)
        snprintf(detail, sizeof(detail), "cannot open: %s", strerror(errno));
    else if (line == -2)
        snprintf(detail, sizeof(detail), "out of memory");
    else if (!context->failed)
        snprintf(detail, sizeof(detail), "syntax error (expected [section] or key = value)");
    else
        snprintf(detail, sizeof(detail), "%s", error->message);
    if (line > 0)
        snprintf(error->message, sizeof(error->message), "%.200s:%d: %.290s", origin, line, detail);
    else
        snprintf(error->message, sizeof(error->message), "%.200s: %.300s", origin, detail);
    return CHAINFS_CONFIG;
}

int config_load_file(const struct config_schema *schema, void *target, const char *path,
                     struct config_error *error)
{
    struct load_context context = {schema, target, error, false};
    return load_result(ini_parse(path, handle_ini_entry, &context), &context, path, error);
}

int config_load_text(const struct config_schema *schema, void *target, const char *text,
                     const char *origin, struct config_error *error)
{
    struct load_context context = {schema, target, error, false};
    return load_result(ini_parse_string(text, handle_ini_entry, &context), &context, origin,
                       error);
}

int config_apply_override(const struct config_schema *schema, void *target,
                          const char *assignment, struct config_error *error)
{
    const char *dot = strchr(assignment, '.');
    const char *equals = strchr(assignment, '=');
    if (!dot || !equals || dot > equals) {
        snprintf(error->message, sizeof(error->message),
                 "override '%s': expected section.key=value", assignment);
        return CHAINFS_CONFIG;
    }
    char section[128], key[128];
    size_t section_length = (size_t)(dot - assignment);
    size_t key_length = (size_t)(equals - dot - 1);
    if (section_length >= sizeof(section) || key_length >= sizeof(key)) {
        snprintf(error->message, sizeof(error->message), "override '%s': name too long",
                 assignment);
        return CHAINFS_CONFIG;
    }
    memcpy(section, assignment, section_length);
    section[section_length] = '\0';
    memcpy(key, dot + 1, key_length);
    key[key_length] = '\0';
    const struct config_setting *setting = find_setting(schema, section, key);
    if (!setting) {
        snprintf(error->message, sizeof(error->message), "override: unknown setting %s.%s",
                 section, key);
        return CHAINFS_CONFIG;
    }
    if (!apply_value(setting, target, equals + 1, error)) {
        char detail[sizeof(error->message)];
        snprintf(detail, sizeof(detail), "%s", error->message);
        snprintf(error->message, sizeof(error->message), "override: %.480s", detail);
        return CHAINFS_CONFIG;
    }
    return 0;
}

void config_free(const struct config_schema *schema, void *target)
{
    for (size_t i = 0; i < schema->count; i++) {
        if (schema->settings[i].type == CONFIG_TYPE_STRING) {
            char **slot = (char **)((char *)target + schema->settings[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

/* Whether one setting holds the same value in a and b. */
static bool setting_equal(const struct config_setting *setting, const void *a, const void *b)
{
    const char *slot_a = (const char *)a + setting->offset;
    const char *slot_b = (const char *)b + setting->offset;
    switch (setting->type) {
    case CONFIG_TYPE_STRING: {
        const char *text_a = *(char *const *)slot_a, *text_b = *(char *const *)slot_b;
        return text_a == text_b || (text_a && text_b && strcmp(text_a, text_b) == 0);
    }
    case CONFIG_TYPE_BOOL: return *(const bool *)slot_a == *(const bool *)slot_b;
    default: return *(const int64_t *)slot_a == *(const int64_t *)slot_b;
    }
}

size_t config_describe_changes(const struct config_schema *schema, const void *before,
                               const void *after, char *text, size_t capacity)
{
    size_t changed = 0, used = 0;
    if (capacity)
        text[0] = '\0';
    for (size_t i = 0; i < schema->count; i++) {
        const struct config_setting *setting = &schema->settings[i];
        if (setting_equal(setting, before, after))
            continue;
        changed++;
        if (used < capacity) {
            int written = snprintf(text + used, capacity - used, "%s%s.%s", changed > 1 ? ", " : "",
                                   setting->section, setting->key);
            used += written > 0 ? (size_t)written : 0;
        }
    }
    return changed;
}

void config_print_reference(const struct config_schema *schema, FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < schema->count; i++) {
        const struct config_setting *setting = &schema->settings[i];
        if (strcmp(setting->section, section) != 0) {
            section = setting->section;
            fprintf(out, "[%s]\n", section);
        }
        fprintf(out, "%s = %s    ; %s. %s\n", setting->key, setting->default_value,
                type_names[setting->type], setting->description);
    }
}
