/* alerts/matchers.c - label matchers of silences: checked and compiled
 * once, kept in a cache shared by every thread, matched anchored at both
 * ends like Alertmanager's ("^(?:value)$").
 *
 * Engine: RE2 (alerts/re2_shim.cc), chosen over PCRE2 with
 * tests/bench/bench_regex.sh (2 cores, label values of 1024 bytes built
 * to make backtracking explode):
 *   - RE2 matches in time linear in text x program, never gives up and
 *     never answers wrongly; its syntax is Alertmanager's (Go's regexp).
 *     With max_mem 1 MB and programs of at most 1000 instructions the
 *     worst match measured was 1.7 ms ((a|aa){1,160}b), the heap of a
 *     compiled pattern after matching at most ~100 KB, compiling 0.3 ms;
 *     the report's patterns - (.*){1,1000}, (a?){1,1000}, (a*){1,400},
 *     (x|y*){1,600}, (.*){1,288}: 10002, 3002, 1202, 3003, 2882
 *     instructions - are refused (422) in at most 8 ms. Without the cap
 *     (RE2's defaults) (a?){1,1000} matched in 36 ms and held 2.2 MB.
 *   - PCRE2 (interpreter, match limit 100000, depth 10000, heap 1 MB)
 *     compiles all of them, but backtracks: (a?){1,1000} took 463 ms for
 *     one match, (x|y*){1,142} 72 ms, ((a+)+)+$ 2.5 ms, and each then
 *     stopped at a limit - no answer, so a silence would silently fail to
 *     match. Tighter limits make it faster and wrong more often.
 * So: RE2, one compilation per distinct pattern (this cache), patterns of
 * at most 1024 bytes, 1 MB and 1000 instructions, refused at creation with
 * the matcher's index otherwise. The cache holds ALERT__RX_CACHE_MAX
 * patterns, each bounded by max_mem. */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/internal.h"

const struct alert__re_limits alert__matcher_limits = {
    .max_len = 1024,
    .max_mem = 1 << 20,
    .max_program = 1000,
};

/* ---- the compiled-expression cache ---- */

#define RX_BUCKETS 256

struct rx_entry {
  struct rx_entry *hnext;       /* hash chain */
  struct rx_entry *prev, *next; /* LRU list, most recent first */
  uint32_t hash;
  int refs;      /* handles held by matcher sets, plus one while cached */
  int cached;    /* in the table and the list */
  alert__re *re; /* NULL: the pattern does not compile, why says so */
  char why[256];
  char pattern[]; /* NUL-terminated */
};

/* The one process-wide piece of mutable state in alerts/: a memo of a
 * pure function (pattern -> compiled program), bounded, behind a mutex.
 * CivetWeb's handler threads and the scheduler all share it, so a pattern
 * is compiled once however many threads match it. */
static struct {
  pthread_mutex_t lock;
  struct rx_entry *buckets[RX_BUCKETS];
  struct rx_entry *head, *tail;
  size_t n;
  uint64_t compiles, hits;
} rx_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint32_t fnv1a(const char *s) {
  uint32_t h = 2166136261u;
  for(; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static void rx_destroy(struct rx_entry *e) {
  if(!e)
    return;
  alert__re_free(e->re);
  free(e);
}

/* The rest of these run with rx_cache.lock held. */

static struct rx_entry *rx_find(uint32_t h, const char *pattern) {
  for(struct rx_entry *e = rx_cache.buckets[h % RX_BUCKETS]; e; e = e->hnext)
    if(e->hash == h && !strcmp(e->pattern, pattern))
      return e;
  return NULL;
}

static void lru_unlink(struct rx_entry *e) {
  if(e->prev)
    e->prev->next = e->next;
  else
    rx_cache.head = e->next;
  if(e->next)
    e->next->prev = e->prev;
  else
    rx_cache.tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_front(struct rx_entry *e) {
  e->prev = NULL;
  e->next = rx_cache.head;
  if(rx_cache.head)
    rx_cache.head->prev = e;
  rx_cache.head = e;
  if(!rx_cache.tail)
    rx_cache.tail = e;
}

/* Takes the least recently used entry out of the cache; returns it when
 * nobody else holds it (the caller frees it after unlocking). */
static struct rx_entry *rx_evict_tail(void) {
  struct rx_entry *e = rx_cache.tail;
  assert(e && e->cached);
  lru_unlink(e);
  struct rx_entry **pp = &rx_cache.buckets[e->hash % RX_BUCKETS];
  while(*pp != e)
    pp = &(*pp)->hnext;
  *pp = e->hnext;
  e->hnext = NULL;
  e->cached = 0;
  rx_cache.n--;
  return --e->refs == 0 ? e : NULL;
}

/* A handle on the compiled form of pattern (compiled now if it is not
 * cached). NULL only when out of memory. Release with rx_put. */
static struct rx_entry *rx_get(const char *pattern) {
  uint32_t h = fnv1a(pattern);
  pthread_mutex_lock(&rx_cache.lock);
  struct rx_entry *e = rx_find(h, pattern);
  if(e) {
    e->refs++;
    rx_cache.hits++;
    lru_unlink(e);
    lru_push_front(e);
  }
  pthread_mutex_unlock(&rx_cache.lock);
  if(e)
    return e;

  /* Compiled outside the lock: other threads keep matching meanwhile. */
  size_t n = strlen(pattern);
  struct rx_entry *fresh = calloc(1, sizeof *fresh + n + 1);
  if(!fresh)
    return NULL;
  memcpy(fresh->pattern, pattern, n + 1);
  fresh->hash = h;
  fresh->refs = 1;
  mw_err err = {0};
  mw_status s = alert__re_compile(pattern, &alert__matcher_limits, &fresh->re, &err);
  mw_strlcpy(fresh->why, err.msg, sizeof fresh->why);
  mw_err_clear(&err);
  if(s == MW_ENOMEM) {
    free(fresh);
    return NULL;
  }

  struct rx_entry *gone[2] = {NULL, NULL};
  pthread_mutex_lock(&rx_cache.lock);
  rx_cache.compiles++;
  e = rx_find(h, pattern);
  if(e) {
    /* Another thread compiled it meanwhile: use theirs. */
    e->refs++;
    lru_unlink(e);
    lru_push_front(e);
    gone[0] = fresh;
  } else {
    e = fresh;
    e->refs++;
    e->cached = 1;
    e->hnext = rx_cache.buckets[h % RX_BUCKETS];
    rx_cache.buckets[h % RX_BUCKETS] = e;
    lru_push_front(e);
    if(++rx_cache.n > ALERT__RX_CACHE_MAX)
      gone[1] = rx_evict_tail();
  }
  pthread_mutex_unlock(&rx_cache.lock);
  rx_destroy(gone[0]);
  rx_destroy(gone[1]);
  return e;
}

static void rx_put(struct rx_entry *e) {
  if(!e)
    return;
  pthread_mutex_lock(&rx_cache.lock);
  assert(e->refs > 0);
  int last = --e->refs == 0;
  pthread_mutex_unlock(&rx_cache.lock);
  if(last)
    rx_destroy(e);
}

void alert__rx_stats(struct alert__rx_stats *out) {
  pthread_mutex_lock(&rx_cache.lock);
  out->compiles = rx_cache.compiles;
  out->hits = rx_cache.hits;
  out->entries = rx_cache.n;
  pthread_mutex_unlock(&rx_cache.lock);
}

/* ---- matcher sets ---- */

struct matcher {
  char *name;
  char *value;
  struct rx_entry *rx; /* for a regex matcher; else NULL */
};

struct alert__matchers {
  size_t n;
  struct matcher m[];
};

void alert__matchers_free(struct alert__matchers *ms) {
  if(!ms)
    return;
  for(size_t i = 0; i < ms->n; i++) {
    free(ms->m[i].name);
    free(ms->m[i].value);
    rx_put(ms->m[i].rx);
  }
  free(ms);
}

/* MW_EVALIDATION for matcher i, with details {index, field}. */
static mw_status matcher_error(mw_err *err, int i, const char *field,
                               const char *msg) {
  mw_status s = mw_errf(err, MW_EVALIDATION, "matchers[%d]%s%s %s", i,
                        field ? "." : "", field ? field : "", msg);
  if(err) {
    cJSON_Delete(err->details);
    err->details = cJSON_CreateObject();
    cJSON_AddNumberToObject(err->details, "index", i);
    cJSON_AddStringToObject(err->details, "field", field ? field : "");
  }
  return s;
}

mw_status alert__matchers_compile(const cJSON *arr, struct alert__matchers **out,
                                  mw_err *err) {
  *out = NULL;
  int count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
  if(count < 1 || count > 32)
    return mw_errf(err, MW_EVALIDATION,
                   "matchers must be an array of 1-32 {name, value, is_regex}");
  struct alert__matchers *ms =
      calloc(1, sizeof *ms + (size_t)count * sizeof ms->m[0]);
  if(!ms)
    return MW_ENOMEM;
  mw_status s = MW_OK;
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, arr) {
    const char *name = mw_json_str(m, "name");
    const char *value = mw_json_str(m, "value");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(m, "is_regex");
    if(!name || !*name || strlen(name) > 128 || !value ||
       strlen(value) > alert__matcher_limits.max_len || (re && !cJSON_IsBool(re))) {
      s = matcher_error(err, i, NULL,
                        "must be {name: 1-128 bytes, value: at most 1024 bytes, "
                        "is_regex?: bool}");
      goto out;
    }
    struct matcher *x = &ms->m[i];
    x->name = strdup(name);
    x->value = strdup(value);
    ms->n = (size_t)i + 1; /* freed from here on */
    if(!x->name || !x->value) {
      s = MW_ENOMEM;
      goto out;
    }
    if(cJSON_IsTrue(re)) {
      x->rx = rx_get(value);
      if(!x->rx) {
        s = MW_ENOMEM;
        goto out;
      }
      if(!x->rx->re) {
        s = matcher_error(err, i, "value", x->rx->why);
        goto out;
      }
    }
    i++;
  }
  assert(ms->n == (size_t)count);
out:
  if(s) {
    alert__matchers_free(ms);
    return s;
  }
  *out = ms;
  return MW_OK;
}

int alert__matchers_eval(const struct alert__matchers *ms, const cJSON *labels) {
  if(!ms || ms->n == 0)
    return 0;
  for(size_t i = 0; i < ms->n; i++) {
    const struct matcher *x = &ms->m[i];
    const char *have = mw_json_str(labels, x->name);
    if(!have)
      have = "";
    if(!x->rx) {
      if(strcmp(have, x->value))
        return 0;
    } else if(!alert__re_full_match(x->rx->re, have, strlen(have))) {
      return 0;
    }
  }
  return 1;
}

int alert_matchers_match(const cJSON *matchers, const cJSON *labels) {
  struct alert__matchers *ms = NULL;
  if(alert__matchers_compile(matchers, &ms, NULL))
    return 0;
  int hit = alert__matchers_eval(ms, labels);
  alert__matchers_free(ms);
  return hit;
}
