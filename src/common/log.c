/*
 * log.c - leveled, timestamped log lines to stderr or a file.
 *
 * A message is formatted into one buffer and written with a single write(2), so lines
 * from concurrent threads (and processes sharing a file in append mode) never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static atomic_int current_level = LOG_LEVEL_INFO;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

void log_set_level(enum log_level level) { atomic_store(&current_level, (int)level); }

enum log_level log_get_level(void) { return (enum log_level)atomic_load(&current_level); }

bool log_level_parse(const char *text, enum log_level *level)
{
    for (int i = LOG_LEVEL_DEBUG; i <= LOG_LEVEL_OFF; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *level = (enum log_level)i;
            return true;
        }
    }
    return false;
}

int log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    int old = atomic_exchange(&log_fd, fd);
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

void log_message(enum log_level level, const char *component, const char *format, ...)
{
    char line[2048];
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    int used = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &utc);
    used += snprintf(line + used, sizeof(line) - (size_t)used, ".%06ldZ %s %s: ",
                     now.tv_nsec / 1000, level_names[level], component);
    va_list args;
    va_start(args, format);
    int body = vsnprintf(line + used, sizeof(line) - (size_t)used - 1, format, args);
    va_end(args);
    if (body < 0)
        body = 0;
    used += body;
    if (used > (int)sizeof(line) - 2)
        used = (int)sizeof(line) - 2; /* truncated: keep the newline */
    line[used++] = '\n';
    ssize_t ignored = write(atomic_load(&log_fd), line, (size_t)used);
    (void)ignored; /* nowhere left to report a failed log write */
}
