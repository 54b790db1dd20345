/* core/clock.h - wall and monotonic clocks, RFC 3339 times. */
#ifndef MW_CORE_CLOCK_H
#define MW_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Wall-clock milliseconds since the Unix epoch. */
int64_t mw_now_ms(void);
/* Monotonic clock in nanoseconds, for latencies. */
int64_t mw_mono_ns(void);
/* Formats ms since epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-27T08:00:00.123Z") into buf (at least 32 bytes). Returns buf. */
char *mw_time_format(int64_t ms, char *buf, size_t cap);
/* Parses RFC 3339 ("2026-11-27T08:00:00Z", optional fraction and numeric
 * offset) into ms since epoch. MW_EINVAL if malformed. */
mw_status mw_time_parse(const char *s, int64_t *out_ms);

#endif
