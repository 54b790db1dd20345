/* core/log.h - one-line log records on stderr. */
#ifndef MW_CORE_LOG_H
#define MW_CORE_LOG_H

#include <stddef.h>

#include "core/status.h"

enum mw_log_level { MW_LOG_DEBUG, MW_LOG_INFO, MW_LOG_WARN, MW_LOG_ERROR };

/* Sets the minimum level written to stderr (thread-safe to call at start). */
void mw_log_set_level(enum mw_log_level lvl);
/* Parses "debug"/"info"/"warn"/"error"; returns MW_EINVAL for others. */
mw_status mw_log_parse_level(const char *s, enum mw_log_level *out);
/* Writes one line "<time> <LEVEL> <subsystem>: <message>" to stderr. */
void mw_log(enum mw_log_level lvl, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes one raw, already formatted line to stderr in a single write. */
void mw_log_raw(const char *line, size_t len);

#endif
