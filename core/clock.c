/* core/clock.c - wall and monotonic clocks, RFC 3339 formatting/parsing. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

int64_t mw_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mw_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

char *mw_time_format(int64_t ms, char *buf, size_t cap) {
  time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int frac = (int)(ms - (int64_t)secs * 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for(int i = 0; i < n; i++) {
    if(s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

mw_status mw_time_parse(const char *s, int64_t *out_ms) {
  int y, mo, d, h, mi, se;
  if(!s || strlen(s) < 20)
    return MW_EINVAL;
  if(!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
     !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
     !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
     s[16] != ':' || !digits(s + 17, 2, &se))
    return MW_EINVAL;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if(mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
    return MW_EINVAL;
  const char *p = s + 19;
  int frac_ms = 0;
  if(*p == '.') {
    p++;
    int n = 0;
    while(*p >= '0' && *p <= '9') {
      if(n < 3)
        frac_ms = frac_ms * 10 + (*p - '0');
      n++;
      p++;
    }
    if(n == 0)
      return MW_EINVAL;
    for(; n < 3; n++)
      frac_ms *= 10;
  }
  int64_t offset_min = 0;
  if(*p == 'Z' || *p == 'z') {
    p++;
  } else if(*p == '+' || *p == '-') {
    int oh, om;
    if(!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
       om > 59)
      return MW_EINVAL;
    offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return MW_EINVAL;
  }
  if(*p)
    return MW_EINVAL;
  if(se == 60)
    se = 59; /* a leap second is folded into the second before it */
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  secs -= offset_min * 60;
  *out_ms = secs * 1000 + frac_ms;
  return MW_OK;
}
