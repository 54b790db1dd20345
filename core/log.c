/* core/log.c - leveled log lines on stderr, one write(2) per line so that
 * lines from concurrent threads never interleave. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

static enum mw_log_level g_level = MW_LOG_INFO;

void mw_log_set_level(enum mw_log_level lvl) { g_level = lvl; }

mw_status mw_log_parse_level(const char *s, enum mw_log_level *out) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  for(int i = 0; i < 4; i++) {
    if(strcmp(s, names[i]) == 0) {
      *out = (enum mw_log_level)i;
      return MW_OK;
    }
  }
  return MW_EINVAL;
}

void mw_log_raw(const char *line, size_t len) {
  while(len > 0) {
    ssize_t n = write(STDERR_FILENO, line, len);
    if(n <= 0)
      return;
    line += n;
    len -= (size_t)n;
  }
}

void mw_log(enum mw_log_level lvl, const char *subsys, const char *fmt, ...) {
  static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  if(lvl < g_level)
    return;
  char line[2048];
  char ts[40];
  mw_time_format(mw_now_ms(), ts, sizeof ts);
  int n = snprintf(line, sizeof line, "%s %s %s: ", ts, tags[lvl], subsys);
  if(n < 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if(m < 0)
    m = 0;
  size_t len = (size_t)n + (size_t)m;
  if(len > sizeof line - 2)
    len = sizeof line - 2;
  line[len++] = '\n';
  mw_log_raw(line, len);
}
