/* alerts/alerts_internal.h - shared by the files of alerts/ only (and
 * their unit tests). */
#ifndef MW_ALERTS_INTERNAL_H
#define MW_ALERTS_INTERNAL_H

#include "alerts/rules.h"

/* Sends the grouped notifications that are due at `now` (Alertmanager's
 * group wait, group interval and repeat interval), as outbox rows. */
void alert__notify_flush(mw_conn *c, const struct alert_env *env, int64_t now);

/* ---- regular expressions (alerts/re2_shim.cc, C++ over RE2) ---- */

/* A compiled RE2 expression. Matching one from several threads at once is
 * safe (RE2 objects are const after compilation). */
typedef struct alert__re alert__re;

/* What a pattern may cost. */
struct alert__re_limits {
  size_t max_len;    /* bytes of the pattern */
  int64_t max_mem;   /* RE2's budget: program plus its DFA caches, bytes */
  int max_program;   /* instructions of the compiled program */
};

/* Compiles pattern (RE2 syntax, which is Alertmanager's) within lim. On
 * success *out is the expression, the caller frees it with
 * alert__re_free. MW_EVALIDATION when the pattern is invalid or past a
 * limit: err's message then completes "matchers[i].value ..." (e.g. "is
 * not a valid regular expression: missing ): (a"). MW_ENOMEM. */
mw_status alert__re_compile(const char *pattern, const struct alert__re_limits *lim,
                            alert__re **out, mw_err *err);
/* 1 when re matches the whole of text[0..len) (anchored at both ends, as
 * Alertmanager's "^(?:value)$"), else 0. Linear in len times the program
 * size at worst. */
int alert__re_full_match(const alert__re *re, const char *text, size_t len);
/* Instructions in re's program (0 for NULL). */
int alert__re_program_size(const alert__re *re);
/* NULL is fine. */
void alert__re_free(alert__re *re);

/* ---- label matchers (alerts/matchers.c) ---- */

/* The limits matchers' regular expressions are compiled with. */
extern const struct alert__re_limits alert__matcher_limits;
/* Distinct compiled patterns kept (least recently used dropped first). */
#define ALERT__RX_CACHE_MAX 128

/* A silence's matchers, checked and with their regular expressions
 * compiled (through a process-wide cache: each distinct pattern is
 * compiled once and shared by every thread). Immutable once built, so it
 * may be matched from several threads. */
struct alert__matchers;

/* Checks a JSON matcher array as the API takes it ([{name, value,
 * is_regex?}], 1-32 of them, names of 1-128 bytes, values of at most
 * 1024) and compiles its regular expressions. MW_EVALIDATION with err
 * naming the matcher ("matchers[2].value is not a valid regular
 * expression: ...", details {index, field}); MW_ENOMEM. Caller frees *out
 * with alert__matchers_free. */
mw_status alert__matchers_compile(const cJSON *arr, struct alert__matchers **out,
                                  mw_err *err);
/* 1 when every matcher matches labels (an object of strings; a missing
 * label is the empty string, as in Alertmanager). */
int alert__matchers_eval(const struct alert__matchers *m, const cJSON *labels);
/* NULL is fine. */
void alert__matchers_free(struct alert__matchers *m);

/* Counters of the compiled-expression cache, for tests and benchmarks. */
struct alert__rx_stats {
  uint64_t compiles; /* patterns compiled (misses) */
  uint64_t hits;     /* lookups answered from the cache */
  size_t entries;    /* patterns cached now */
};
void alert__rx_stats(struct alert__rx_stats *out);

/* ---- silences (alerts/silences.c) ---- */

/* The silences active at one time, loaded once and matched against many
 * alerts (GET /api/v1/alerts, a notification flush). */
struct alert__silence_set {
  struct alert__matchers **s;
  size_t n;
};

/* Loads the silences active at now into *out (emptied first). A stored
 * silence whose matchers no longer compile never matches (and is logged).
 * Caller clears *out with alert__silences_clear, also on failure. */
mw_status alert__silences_load(mw_conn *c, int64_t now,
                               struct alert__silence_set *out);
/* 1 when a silence of set matches labels. */
int alert__silences_match(const struct alert__silence_set *set, const cJSON *labels);
void alert__silences_clear(struct alert__silence_set *set);

#endif
