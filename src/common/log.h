/*
 * log.h - leveled logging for chainfs services.
 *
 * One line per message: "2026-11-29T04:58:58.123456Z ERROR net: message". Output goes
 * to stderr unless log_open_file() redirected it. Each .c file names its component
 * by defining LOG_COMPONENT before including this header.
 */
#ifndef CHAINFS_COMMON_LOG_H
#define CHAINFS_COMMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR, LOG_LEVEL_OFF };

/* Messages below this level are dropped. Default: LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn", "error", "off"; returns false on anything else. */
bool log_level_parse(const char *text, enum log_level *level);

/* Appends to the file at path (created 0644). Returns 0 or an errno value. */
int log_open_file(const char *path);

void log_message(enum log_level level, const char *component, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#ifndef LOG_COMPONENT
#define LOG_COMPONENT "chainfs"
#endif

#define log_at(level, ...)                                                                 \
    do {                                                                                   \
        if ((level) >= log_get_level())                                                    \
            log_message((level), LOG_COMPONENT, __VA_ARGS__);                              \
    } while (0)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif /* CHAINFS_COMMON_LOG_H */
