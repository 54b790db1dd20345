/* monitor/flight.h - single-flight of drift reports: requests for the same
 * version and window that arrive while a report of it is waiting to start
 * share that report's result instead of computing it again
 * (monitor/flight.c says when a request may join).
 *
 * Operations: mon__flight_do (one table lookup under a mutex; a joiner
 * then waits for the leader and copies its result: one cJSON_Duplicate),
 * mon__flight_seal (constant). Nothing is kept once a flight lands: an
 * answer or an error reaches the requests that joined it, never a later
 * one. Ownership: the table owns its flights; each caller owns the result
 * it is handed. */
#ifndef MW_MONITOR_FLIGHT_H
#define MW_MONITOR_FLIGHT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/status.h"

/* A request for a window ending "now" (within this of the time it was
 * asked) joins a waiting flight of the same version whose start and end
 * are each at most this much earlier: "the last hour" asked twice within a
 * second is one report. */
#define MON_FLIGHT_SLACK_MS 1000

typedef struct mon_flight mon_flight;

typedef struct mon_flights {
  pthread_mutex_t mu;
  mon_flight *head;
  uint64_t led, joined; /* computations run, requests that shared one */
} mon_flights;

void mon__flights_init(mon_flights *f);
/* No flight may be in the air. */
void mon__flights_destroy(mon_flights *f);

/* Computes *out with fn(ctx, out, err) (the leader), or waits for the
 * waiting flight of the same key and gets a copy of its result, or its
 * status and error message. key: version id, window [from, to); now_ms
 * the time of the request (a window ending within MON_FLIGHT_SLACK_MS of
 * it may be answered by a flight ending up to that much earlier, which
 * its JSON then says). f NULL: fn is called directly. */
typedef mw_status (*mon_flight_fn)(void *ctx, cJSON **out, mw_err *err);
mw_status mon__flight_do(mon_flights *f, int64_t version_id, int64_t from,
                         int64_t to, int64_t now_ms, mon_flight_fn fn, void *ctx,
                         cJSON **out, mw_err *err);
/* Called by fn when it takes its read snapshot: from then on the flight
 * led by this thread takes no more requests (they would miss rows
 * committed after it). No-op outside a flight. */
void mon__flight_seal(void);

#endif
