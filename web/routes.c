/* web/routes.c - joins the per-resource route tables into one array whose
 * indexes name routes in /metrics. Patterns never overlap, so order only
 * matters for readability. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "web/web_internal.h"

static const struct {
  const struct web_route *routes;
  const size_t *count;
} tables[] = {
    {web_routes_ops, &web_routes_ops_count},
    {web_routes_tokens, &web_routes_tokens_count},
    {web_routes_registry, &web_routes_registry_count},
    {web_routes_nodes, &web_routes_nodes_count},
    {web_routes_monitor, &web_routes_monitor_count},
    {web_routes_alerts, &web_routes_alerts_count},
    {web_routes_session, &web_routes_session_count},
    {web_routes_channels, &web_routes_channels_count},
};

static struct web_route *joined;
static size_t njoined;
static pthread_once_t join_once = PTHREAD_ONCE_INIT;

static void join_tables(void) {
  size_t total = 0;
  for(size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    total += *tables[i].count;
  joined = calloc(total ? total : 1, sizeof *joined);
  if(!joined)
    abort(); /* at start-up, before any request: nothing to save */
  for(size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    memcpy(joined + njoined, tables[i].routes,
           *tables[i].count * sizeof *joined);
    njoined += *tables[i].count;
  }
}

const struct web_route *web_route_table(size_t *n) {
  pthread_once(&join_once, join_tables);
  *n = njoined;
  return joined;
}
