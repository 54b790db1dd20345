/* alerts/retry.c - the delivery worker's policies, kept free of I/O so the
 * unit tests can pin them down: which answers are retried (HTTP answers,
 * and a mail server's SMTP replies), the backoff schedule with jitter,
 * Retry-After parsing and when a message goes dead.
 * (Which addresses a webhook may connect to is core/url.c's
 * mw_addr_classify, shared with the URL check at creation.) */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "alerts/internal.h"

enum alert__outcome alert__classify(long http_status, int curl_code, int refused) {
  if(refused)
    return ALERT__PERMANENT;
  if(curl_code != CURLE_OK) {
    /* A URL we cannot even parse or speak will not get better by waiting;
     * everything else (DNS, refused connections, timeouts, TLS hiccups,
     * resets) is the network and worth another try. */
    switch(curl_code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
      return ALERT__PERMANENT;
    default:
      return ALERT__RETRY;
    }
  }
  if(http_status >= 200 && http_status <= 299)
    return ALERT__DELIVERED;
  if(http_status >= 500 || http_status == 408 || http_status == 429 ||
     http_status == 0)
    return ALERT__RETRY;
  return ALERT__PERMANENT;
}

enum alert__outcome alert__classify_smtp(long smtp_code, int curl_code,
                                         int refused) {
  if(refused)
    return ALERT__PERMANENT;
  /* The server's reply decides when there is one: RFC 5321 section 4.2.1,
   * 4yz is a transient failure, 5yz a permanent one. */
  if(smtp_code >= 500 && smtp_code <= 599)
    return ALERT__PERMANENT;
  if(smtp_code >= 400 && smtp_code <= 499)
    return ALERT__RETRY;
  if(curl_code == CURLE_OK)
    return ALERT__DELIVERED;
  switch(curl_code) {
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_NOT_BUILT_IN:
    return ALERT__PERMANENT;
  default:
    return ALERT__RETRY;
  }
}

/* Standard Webhooks (Svix) schedule, as delays after each failed attempt:
 * the first attempt runs immediately, then 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h and 10 h. */
static const int64_t schedule_ms[] = {
    5000LL, 300000LL, 1800000LL, 7200000LL, 18000000LL, 36000000LL, 36000000LL,
};
#define NSCHEDULE ((int)(sizeof schedule_ms / sizeof schedule_ms[0]))

int64_t alert__backoff_base_ms(int failed_attempts) {
  if(failed_attempts < 1)
    failed_attempts = 1;
  if(failed_attempts > NSCHEDULE)
    failed_attempts = NSCHEDULE;
  return schedule_ms[failed_attempts - 1];
}

int64_t alert__backoff_ms(int failed_attempts, uint64_t rnd) {
  int64_t base = alert__backoff_base_ms(failed_attempts);
  int64_t lo = base < 1000 ? base : 1000;
  return lo + (int64_t)(rnd % (uint64_t)(base - lo + 1));
}

/* ---- Retry-After ---- */

#define RETRY_AFTER_CAP_MS (30LL * 86400 * 1000)

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Reads exactly n digits at *p into *out. */
static int digits(const char **p, int n, int *out) {
  int v = 0;
  for(int i = 0; i < n; i++) {
    if(!isdigit((unsigned char)(*p)[i]))
      return 0;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 1;
}

static int lit(const char **p, const char *s) {
  size_t n = strlen(s);
  if(strncmp(*p, s, n))
    return 0;
  *p += n;
  return 1;
}

static int month(const char **p, int *out) {
  for(int i = 0; i < 12; i++)
    if(!strncmp(*p, months[i], 3)) {
      *p += 3;
      *out = i;
      return 1;
    }
  return 0;
}

/* Skips a day name: three letters, or a full name up to the comma. */
static int dayname(const char **p, int full) {
  const char *s = *p;
  while(isalpha((unsigned char)*s))
    s++;
  size_t n = (size_t)(s - *p);
  if(full ? n < 6 : n != 3)
    return 0;
  *p = s;
  return 1;
}

static int hms(const char **p, struct tm *tm) {
  return digits(p, 2, &tm->tm_hour) && lit(p, ":") && digits(p, 2, &tm->tm_min) &&
         lit(p, ":") && digits(p, 2, &tm->tm_sec);
}

/* Parses the three HTTP-date forms of RFC 9110 section 5.6.7 into seconds
 * since the epoch. */
static int http_date(const char *s, size_t len, int64_t now_ms, int64_t *out) {
  char buf[64];
  if(len >= sizeof buf)
    return 0;
  memcpy(buf, s, len);
  buf[len] = 0;
  const char *p = buf;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int year = 0, ok = 0;
  const char *q = p;
  if(dayname(&q, 0) && lit(&q, ", ")) {
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    ok = digits(&q, 2, &tm.tm_mday) && lit(&q, " ") && month(&q, &tm.tm_mon) &&
         lit(&q, " ") && digits(&q, 4, &year) && lit(&q, " ") && hms(&q, &tm) &&
         lit(&q, " GMT") && !*q;
  } else if((q = p, dayname(&q, 1)) && lit(&q, ", ")) {
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    ok = digits(&q, 2, &tm.tm_mday) && lit(&q, "-") && month(&q, &tm.tm_mon) &&
         lit(&q, "-") && digits(&q, 2, &year) && lit(&q, " ") && hms(&q, &tm) &&
         lit(&q, " GMT") && !*q;
    if(ok) {
      /* A two-digit year more than 50 years ahead is in the past century
       * (RFC 9110). */
      time_t now = (time_t)(now_ms / 1000);
      struct tm nt;
      gmtime_r(&now, &nt);
      int cy = nt.tm_year + 1900;
      year += cy - cy % 100;
      if(year > cy + 50)
        year -= 100;
    }
  } else if((q = p, dayname(&q, 0)) && lit(&q, " ")) {
    /* asctime: Sun Nov  6 08:49:37 1994 */
    ok = month(&q, &tm.tm_mon) && lit(&q, " ");
    if(ok && *q == ' ') {
      q++;
      ok = digits(&q, 1, &tm.tm_mday);
    } else if(ok) {
      ok = digits(&q, 2, &tm.tm_mday);
    }
    ok = ok && lit(&q, " ") && hms(&q, &tm) && lit(&q, " ") &&
         digits(&q, 4, &year) && !*q;
  }
  if(!ok || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
     tm.tm_sec > 60 || year < 1970)
    return 0;
  tm.tm_year = year - 1900;
  time_t t = timegm(&tm);
  if(t == (time_t)-1)
    return 0;
  *out = (int64_t)t;
  return 1;
}

mw_status alert__retry_after_parse(const char *value, int64_t now_ms,
                                   int64_t *delay_ms) {
  if(!value)
    return MW_EINVAL;
  while(*value == ' ' || *value == '\t')
    value++;
  size_t len = strlen(value);
  while(len && (value[len - 1] == ' ' || value[len - 1] == '\t' ||
                value[len - 1] == '\r' || value[len - 1] == '\n'))
    len--;
  if(!len)
    return MW_EINVAL;
  size_t i = 0;
  while(i < len && isdigit((unsigned char)value[i]))
    i++;
  if(i == len) {
    /* delay-seconds; anything absurdly large is the cap. */
    int64_t secs = 0;
    for(size_t k = 0; k < len; k++) {
      secs = secs * 10 + (value[k] - '0');
      if(secs > RETRY_AFTER_CAP_MS / 1000) {
        secs = RETRY_AFTER_CAP_MS / 1000;
        break;
      }
    }
    *delay_ms = secs * 1000;
    return MW_OK;
  }
  int64_t when;
  if(!http_date(value, len, now_ms, &when))
    return MW_EINVAL;
  int64_t d = when * 1000 - now_ms;
  if(d < 0)
    d = 0;
  if(d > RETRY_AFTER_CAP_MS)
    d = RETRY_AFTER_CAP_MS;
  *delay_ms = d;
  return MW_OK;
}

void alert__header_line(const char *p, size_t len, int64_t now_ms,
                        int64_t *retry_after_ms) {
  /* A new status line (after 100 Continue, say) starts a new header set. */
  if(len >= 5 && !strncmp(p, "HTTP/", 5)) {
    *retry_after_ms = -1;
    return;
  }
  static const char name[] = "retry-after:";
  if(len > sizeof name - 1 && !strncasecmp(p, name, sizeof name - 1)) {
    char v[128];
    size_t vl = len - (sizeof name - 1);
    if(vl >= sizeof v)
      vl = sizeof v - 1;
    memcpy(v, p + sizeof name - 1, vl);
    v[vl] = 0;
    int64_t delay;
    if(!alert__retry_after_parse(v, now_ms, &delay))
      *retry_after_ms = delay;
  }
}

void alert__plan_next(const struct alert_delivery_opts *o,
                      enum alert__outcome outcome, int cycle_attempts,
                      int64_t cycle_started_at, int64_t now, int64_t retry_after_ms,
                      uint64_t rnd, struct alert__plan *out) {
  assert(o && out && cycle_attempts >= 1); /* counting the one just made */
  out->why[0] = 0;
  out->next_attempt_at = now;
  if(outcome == ALERT__DELIVERED) {
    out->state = "delivered";
    return;
  }
  if(outcome == ALERT__PERMANENT) {
    out->state = "dead";
    return;
  }
  if(cycle_attempts >= o->max_attempts) {
    out->state = "dead";
    snprintf(out->why, sizeof out->why, "gave up after %d attempts", cycle_attempts);
    return;
  }
  /* Retry-After is the receiver telling us when it can take the message:
   * never earlier (and not below a second, so "0" does not hammer it). */
  int64_t delay = retry_after_ms >= 0
                      ? (retry_after_ms < 1000 ? 1000 : retry_after_ms)
                      : alert__backoff_ms(cycle_attempts, rnd);
  int64_t next = now + delay;
  if(next - cycle_started_at > o->max_age_ms) {
    out->state = "dead";
    snprintf(out->why, sizeof out->why,
             "gave up: the next attempt would come %lld s after the first, past "
             "the maximum age of %lld s",
             (long long)((next - cycle_started_at) / 1000),
             (long long)(o->max_age_ms / 1000));
    return;
  }
  out->state = "failed";
  out->next_attempt_at = next;
}
