/* web/metrics.c - HTTP request counters and latency histograms per route,
 * lock-free (atomic adds), rendered in the Prometheus text format. */
#include <stdlib.h>
#include <string.h>

#include "web/web_internal.h"

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])
#define NCODES 500 /* status 100..599 */

struct route_metrics {
  uint64_t codes[NCODES];
  uint64_t bucket[NBUCKETS + 1]; /* non-cumulative; last is +Inf */
  uint64_t sum_us;
  uint64_t count;
};

struct web_metrics {
  size_t nroutes; /* plus one slot for unmatched requests */
  struct route_metrics *r;
};

struct web_metrics *web_metrics_new(size_t nroutes) {
  struct web_metrics *m = calloc(1, sizeof *m);
  if(!m)
    return NULL;
  m->nroutes = nroutes;
  m->r = calloc(nroutes + 1, sizeof *m->r);
  if(!m->r) {
    free(m);
    return NULL;
  }
  return m;
}

void web_metrics_free(struct web_metrics *m) {
  if(!m)
    return;
  free(m->r);
  free(m);
}

void web_metrics_observe(struct web_metrics *m, int route, int status,
                         double seconds) {
  if(route < 0 || (size_t)route > m->nroutes)
    route = (int)m->nroutes;
  struct route_metrics *rm = &m->r[route];
  if(status >= 100 && status < 600)
    __atomic_add_fetch(&rm->codes[status - 100], 1, __ATOMIC_RELAXED);
  size_t b = 0;
  while(b < NBUCKETS && seconds > buckets[b])
    b++;
  __atomic_add_fetch(&rm->bucket[b], 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&rm->sum_us, (uint64_t)(seconds * 1e6), __ATOMIC_RELAXED);
  __atomic_add_fetch(&rm->count, 1, __ATOMIC_RELAXED);
}

static void route_labels(struct web_metrics *m, size_t i, const char **method,
                         const char **pattern) {
  size_t n;
  const struct web_route *routes = web_route_table(&n);
  if(i < m->nroutes && i < n) {
    *method = routes[i].method;
    *pattern = routes[i].pattern;
  } else {
    *method = "";
    *pattern = "unmatched";
  }
}

mw_status web_metrics_render(struct web_metrics *m, mw_buf *out) {
  mw_status st = mw_buf_printf(
      out, "# HELP modelwatch_http_requests_total HTTP requests by route, "
           "method and status code.\n"
           "# TYPE modelwatch_http_requests_total counter\n");
  for(size_t i = 0; i <= m->nroutes && !st; i++) {
    const char *method, *pattern;
    route_labels(m, i, &method, &pattern);
    for(int c = 0; c < NCODES && !st; c++) {
      uint64_t v = __atomic_load_n(&m->r[i].codes[c], __ATOMIC_RELAXED);
      if(v)
        st = mw_buf_printf(out,
                           "modelwatch_http_requests_total{route=\"%s\","
                           "method=\"%s\",code=\"%d\"} %llu\n",
                           pattern, method, c + 100, (unsigned long long)v);
    }
  }
  if(!st)
    st = mw_buf_printf(
        out, "# HELP modelwatch_http_request_duration_seconds HTTP request "
             "latency by route.\n"
             "# TYPE modelwatch_http_request_duration_seconds histogram\n");
  for(size_t i = 0; i <= m->nroutes && !st; i++) {
    uint64_t count = __atomic_load_n(&m->r[i].count, __ATOMIC_RELAXED);
    if(!count)
      continue;
    const char *method, *pattern;
    route_labels(m, i, &method, &pattern);
    uint64_t cum = 0;
    for(size_t b = 0; b <= NBUCKETS && !st; b++) {
      cum += __atomic_load_n(&m->r[i].bucket[b], __ATOMIC_RELAXED);
      if(b < NBUCKETS)
        st = mw_buf_printf(out,
                           "modelwatch_http_request_duration_seconds_bucket{"
                           "route=\"%s\",method=\"%s\",le=\"%g\"} %llu\n",
                           pattern, method, buckets[b], (unsigned long long)cum);
      else
        st = mw_buf_printf(out,
                           "modelwatch_http_request_duration_seconds_bucket{"
                           "route=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n",
                           pattern, method, (unsigned long long)cum);
    }
    if(!st)
      st = mw_buf_printf(
          out,
          "modelwatch_http_request_duration_seconds_sum{route=\"%s\","
          "method=\"%s\"} %.6f\n"
          "modelwatch_http_request_duration_seconds_count{route=\"%s\","
          "method=\"%s\"} %llu\n",
          pattern, method,
          (double)__atomic_load_n(&m->r[i].sum_us, __ATOMIC_RELAXED) / 1e6, pattern,
          method, (unsigned long long)cum);
  }
  return st;
}
