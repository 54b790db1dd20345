/* web/routes.c - joins the per-resource route tables into one array whose
 * indexes name routes in /metrics, and holds the body policy: which routes
 * take more (or less) than a small JSON object, and the caps of each kind.
 * Patterns never overlap, so order only matters for readability. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
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
    {web_routes_governance, &web_routes_governance_count},
    {web_routes_nodes, &web_routes_nodes_count},
    {web_routes_monitor, &web_routes_monitor_count},
    {web_routes_alerts, &web_routes_alerts_count},
    {web_routes_session, &web_routes_session_count},
    {web_routes_channels, &web_routes_channels_count},
    {web_routes_subscriptions, &web_routes_subscriptions_count},
    {web_routes_rollouts, &web_routes_rollouts_count},
    {web_routes_privacy, &web_routes_privacy_count},
};

#define VERSION_PATH "/api/v1/models/{name}/versions/{v}"

/* Every route not listed takes WEB_BODY_SMALL (1 MB of JSON), which fits
 * the largest rule, channel, silence, node or drift config the subsystems
 * accept. Listed in one place so the caps of the whole API read together:
 * only ingest, reference and artifact bodies are large, and the one body
 * read before any token is checked is tiny. */
static const struct {
  const char *method;
  const char *pattern;
  enum web_body body;
} bodies[] = {
    {"POST", "/api/v1/session", WEB_BODY_TINY},
    /* tags: up to 1000 keys of 4 KB values; versions add metrics, params
     * (1000 keys each) and a schema of up to 1000 columns. */
    {"POST", "/api/v1/models", WEB_BODY_METADATA},
    {"PATCH", "/api/v1/models/{name}", WEB_BODY_METADATA},
    {"POST", "/api/v1/models/{name}/versions", WEB_BODY_METADATA},
    {"PUT", VERSION_PATH "/artifact", WEB_BODY_ARTIFACT},
    {"POST", VERSION_PATH "/predictions", WEB_BODY_BULK},
    {"POST", VERSION_PATH "/labels", WEB_BODY_BULK},
    {"PUT", VERSION_PATH "/reference", WEB_BODY_BULK},
    /* up to 10,000 ids of up to 256 bytes */
    {"POST", "/api/v1/models/{name}/erasure", WEB_BODY_METADATA},
};

void web_body_limits(enum web_body body, const mw_config *cfg, size_t *bytes,
                     size_t *values) {
  switch(body) {
  case WEB_BODY_TINY:
    *bytes = 4096;
    *values = 16;
    break;
  case WEB_BODY_METADATA:
    *bytes = (size_t)8 << 20;
    *values = 65536;
    break;
  case WEB_BODY_BULK:
    /* A prediction row of short keys and numbers spends about 8 bytes a
     * value; a body of bare zeros would spend 2, and give the parser four
     * times the nodes. */
    *bytes = cfg->max_body;
    *values = cfg->max_body / 8 > 65536 ? cfg->max_body / 8 : 65536;
    break;
  case WEB_BODY_ARTIFACT:
    *bytes = cfg->max_artifact > 0 ? (size_t)cfg->max_artifact : 0;
    *values = 0;
    return; /* raw bytes: --max-body, a cap on JSON, does not apply */
  case WEB_BODY_SMALL:
  default:
    *bytes = (size_t)1 << 20;
    *values = 65536;
    break;
  }
  /* --max-body caps every JSON body. */
  if(*bytes > cfg->max_body)
    *bytes = cfg->max_body;
}

static struct web_route *joined;
static enum web_body *joined_body;
static size_t njoined;
static pthread_once_t join_once = PTHREAD_ONCE_INIT;

static void join_tables(void) {
  size_t total = 0;
  for(size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    total += *tables[i].count;
  joined = calloc(total ? total : 1, sizeof *joined);
  joined_body = calloc(total ? total : 1, sizeof *joined_body);
  if(!joined || !joined_body)
    abort(); /* at start-up, before any request: nothing to save */
  for(size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    memcpy(joined + njoined, tables[i].routes, *tables[i].count * sizeof *joined);
    njoined += *tables[i].count;
  }
  for(size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
    size_t i = 0;
    while(i < njoined && (strcmp(joined[i].method, bodies[b].method) ||
                          strcmp(joined[i].pattern, bodies[b].pattern)))
      i++;
    /* A listed route that does not exist is a typo that would silently
     * leave a route at the default cap. */
    if(i == njoined) {
      fprintf(stderr, "web/routes.c: body listed for no route: %s %s\n",
              bodies[b].method, bodies[b].pattern);
      abort();
    }
    joined_body[i] = bodies[b].body;
  }
}

const struct web_route *web_route_table(size_t *n) {
  pthread_once(&join_once, join_tables);
  *n = njoined;
  return joined;
}

enum web_body web_route_body(size_t i) {
  pthread_once(&join_once, join_tables);
  assert(i < njoined);
  return joined_body[i];
}
