/* monitor/flight.c - single-flight of drift reports (monitor/flight.h).
 *
 * Under load many clients ask for the drift of the same version at once (a
 * dashboard per operator, alert rules, the scheduler): measured with
 * tests/bench/bench_load, 64 connections queued behind the version's
 * live-window cache entry one report after another, p50 3.9 s. A report
 * that is waiting to start (for the cache entry, for an admission slot)
 * can answer every request for the same window that arrives meanwhile.
 *
 * When a request may join a flight, and why the answer stays right:
 *  - Only before the flight takes its read snapshot (mon__flight_seal). A
 *    joiner's answer then includes every row committed before it asked,
 *    as its own report would: a client that wrote and then asks sees its
 *    rows. After the seal, newcomers start a flight of their own.
 *  - Same version and the same window; or, for a window that ends "now"
 *    (within MON_FLIGHT_SLACK_MS of the request's time), a window whose
 *    start and end are each at most MON_FLIGHT_SLACK_MS earlier (the
 *    default window "the last hour" asked a moment later, or a fixed start
 *    and the end moved on). The answer's window says which it is.
 *  - Nothing outlives the flight: an error reaches the requests that
 *    joined (they would have met the same state), and the next request
 *    computes afresh; a result is not a cache entry either.
 * The leader runs the report on its own connection; joiners use none.
 * Each gets its own copy of the result. tests/unit/test_monitor.c
 * (test_flight_*) checks one computation for N threads, the shared error,
 * and that nothing is kept. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/flight.h"

struct mon_flight {
  mon_flight *next;
  mon_flights *tab;
  int64_t version_id, from, to;
  bool sealed; /* snapshot taken: no joiners */
  bool landed; /* st, out, err are final */
  int refs;    /* the leader and the joiners that still read it */
  pthread_cond_t cv;
  mw_status st;
  cJSON *out; /* a copy for the joiners (NULL when none joined) */
  mw_err err;
};

/* The flight the calling thread leads while its report runs. */
static __thread mon_flight *x__leading;

void mon__flights_init(mon_flights *f) {
  memset(f, 0, sizeof *f);
  pthread_mutex_init(&f->mu, NULL);
}

void mon__flights_destroy(mon_flights *f) {
  assert(f->head == NULL);
  pthread_mutex_destroy(&f->mu);
}

static void flight_free(mon_flight *fl) {
  cJSON_Delete(fl->out);
  mw_err_clear(&fl->err);
  pthread_cond_destroy(&fl->cv);
  free(fl);
}

/* Under f->mu: a flight the request may join, or NULL. */
static mon_flight *find(mon_flights *f, int64_t version_id, int64_t from, int64_t to,
                        int64_t now_ms) {
  const bool ends_now =
      to >= now_ms - MON_FLIGHT_SLACK_MS && to <= now_ms + MON_FLIGHT_SLACK_MS;
  for(mon_flight *fl = f->head; fl; fl = fl->next) {
    if(fl->sealed || fl->version_id != version_id)
      continue;
    if(fl->from == from && fl->to == to)
      return fl;
    /* "The last hour" asked a moment later: both ends may have moved on
     * (the default window), or only the end (a fixed start). */
    if(ends_now && fl->to <= to && to - fl->to <= MON_FLIGHT_SLACK_MS &&
       fl->from <= from && from - fl->from <= MON_FLIGHT_SLACK_MS)
      return fl;
  }
  return NULL;
}

static void unlink_flight(mon_flights *f, mon_flight *fl) {
  for(mon_flight **pp = &f->head; *pp; pp = &(*pp)->next)
    if(*pp == fl) {
      *pp = fl->next;
      return;
    }
}

/* The joiner's side: waits for the landing, copies the result. */
static mw_status join(mon_flights *f, mon_flight *fl, cJSON **out, mw_err *err) {
  fl->refs++;
  f->joined++;
  while(!fl->landed)
    pthread_cond_wait(&fl->cv, &f->mu);
  pthread_mutex_unlock(&f->mu);
  /* Landed: st, out and err no longer change; our reference keeps fl. */
  mw_status st = fl->st;
  if(!st && !(*out = cJSON_Duplicate(fl->out, 1)))
    st = MW_ENOMEM;
  if(fl->st && err) {
    mw_err_clear(err);
    memcpy(err->msg, fl->err.msg, sizeof err->msg);
    err->details = fl->err.details ? cJSON_Duplicate(fl->err.details, 1) : NULL;
  }
  pthread_mutex_lock(&f->mu);
  bool last = --fl->refs == 0;
  pthread_mutex_unlock(&f->mu);
  if(last)
    flight_free(fl);
  return st;
}

mw_status mon__flight_do(mon_flights *f, int64_t version_id, int64_t from,
                         int64_t to, int64_t now_ms, mon_flight_fn fn, void *ctx,
                         cJSON **out, mw_err *err) {
  *out = NULL;
  if(!f || x__leading) /* no table, or nested: compute */
    return fn(ctx, out, err);
  pthread_mutex_lock(&f->mu);
  mon_flight *fl = find(f, version_id, from, to, now_ms);
  if(fl)
    return join(f, fl, out, err); /* unlocks */
  fl = calloc(1, sizeof *fl);
  if(!fl) {
    pthread_mutex_unlock(&f->mu);
    return fn(ctx, out, err);
  }
  fl->tab = f;
  fl->version_id = version_id;
  fl->from = from;
  fl->to = to;
  fl->refs = 1;
  pthread_cond_init(&fl->cv, NULL);
  fl->next = f->head;
  f->head = fl;
  f->led++;
  pthread_mutex_unlock(&f->mu);

  x__leading = fl;
  mw_status st = fn(ctx, out, err);
  x__leading = NULL;

  pthread_mutex_lock(&f->mu);
  unlink_flight(f, fl);
  fl->sealed = true;
  bool joined = fl->refs > 1;
  pthread_mutex_unlock(&f->mu);
  /* Sealed and unlinked: nobody new can join; copy outside the lock. */
  fl->st = st;
  if(joined && !st && *out && !(fl->out = cJSON_Duplicate(*out, 1)))
    fl->st = MW_ENOMEM; /* the joiners fail; the leader has its result */
  if(joined && st && err) {
    memcpy(fl->err.msg, err->msg, sizeof fl->err.msg);
    fl->err.details = err->details ? cJSON_Duplicate(err->details, 1) : NULL;
  }
  pthread_mutex_lock(&f->mu);
  fl->landed = true;
  pthread_cond_broadcast(&fl->cv);
  bool last = --fl->refs == 0;
  pthread_mutex_unlock(&f->mu);
  if(last)
    flight_free(fl);
  return st;
}

void mon__flight_seal(void) {
  mon_flight *fl = x__leading;
  if(!fl)
    return;
  pthread_mutex_lock(&fl->tab->mu);
  fl->sealed = true;
  pthread_mutex_unlock(&fl->tab->mu);
}
