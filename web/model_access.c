/* web/model_access.c - what a token limited to models (core/auth.h:
 * mw_token_sees) may reach. Kept apart from the handlers so that the whole
 * policy reads in one table:
 *  - every route under /api/v1/models/{name} checks {name}: a model the
 *    token does not see answers 404 exactly as a missing one does, so its
 *    name does not leak;
 *  - the lists of models, alert rules and alerts are filtered to the
 *    models the token sees, and one alert rule of another model is a 404;
 *  - creating a model checks its name (web/api_registry.c);
 *  - sign-in, sign-out and "who am I" work as for any token;
 *  - every other route is refused (403): tokens, channels, subscriptions,
 *    nodes, deliveries, silences, acknowledgements, the cluster and
 *    /metrics are shared by every model.
 * An unlimited token (t->models "") is never affected. */
#include <stdio.h>
#include <string.h>

#include "web/web_internal.h"

enum access {
  ACCESS_DENIED,
  ACCESS_OPEN,   /* as for any token */
  ACCESS_FILTER, /* the answer is filtered (filters[]) */
};

static const struct {
  const char *method, *pattern;
  enum access access;
  const char *list;    /* the array of the answer (NULL: the answer itself) */
  const char *key;     /* the model's name in each item */
  const char *missing; /* the 404 of a hidden answer, given {name} */
} routes[] = {
    /* Filtered by the registry's listing, so that pages and their tokens
     * hold only models the token sees (web/api_registry.c). */
    {"GET", "/api/v1/models", ACCESS_OPEN, NULL, NULL, NULL},
    {"POST", "/api/v1/models", ACCESS_OPEN, NULL, NULL, NULL},
    {"GET", "/api/v1/alert-rules", ACCESS_FILTER, "rules", "model", NULL},
    {"GET", "/api/v1/alert-rules/{name}", ACCESS_FILTER, NULL, "model",
     "no alert rule named '%.128s'"},
    {"GET", "/api/v1/alerts", ACCESS_FILTER, "alerts", "model", NULL},
    {"POST", "/api/v1/session", ACCESS_OPEN, NULL, NULL, NULL},
    {"GET", "/api/v1/session", ACCESS_OPEN, NULL, NULL, NULL},
    {"DELETE", "/api/v1/session", ACCESS_OPEN, NULL, NULL, NULL},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])
#define MODEL_PREFIX "/api/v1/models/{name}"

static int limited(const struct web_req *r) {
  return r->route && r->token.models[0];
}

static int find(const struct web_req *r) {
  for(size_t i = 0; i < N_ROUTES; i++)
    if(!strcmp(routes[i].method, r->route->method) &&
       !strcmp(routes[i].pattern, r->route->pattern))
      return (int)i;
  return -1;
}

int web_model_access(struct web_req *r) {
  if(!limited(r))
    return 1;
  if(!strncmp(r->route->pattern, MODEL_PREFIX, strlen(MODEL_PREFIX))) {
    const char *model = web_param(r, "name");
    if(mw_token_sees(&r->token, model))
      return 1;
    char msg[200];
    snprintf(msg, sizeof msg, "no model named '%.128s'", model);
    web_reply_error(r, 404, "not_found", msg, NULL);
    return 0;
  }
  int i = find(r);
  if(i >= 0 && routes[i].access != ACCESS_DENIED)
    return 1;
  web_reply_error(r, 403, "forbidden",
                  "this token is limited to models: it cannot reach what every "
                  "model shares",
                  NULL);
  return 0;
}

/* The channels a rule notifies are shared by every model: a limited token
 * sees the list empty. */
static void hide_channels(cJSON *item) {
  if(cJSON_GetObjectItemCaseSensitive(item, "channels"))
    cJSON_ReplaceItemInObjectCaseSensitive(item, "channels", cJSON_CreateArray());
}

/* Whether item's key names a model the token sees. */
static int visible(const struct web_req *r, const cJSON *item, const char *key) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(item, key);
  return cJSON_IsString(m) && mw_token_sees(&r->token, m->valuestring);
}

int web_model_access_filter(struct web_req *r, cJSON *out) {
  if(!limited(r) || !out)
    return 1;
  int i = find(r);
  if(i < 0 || routes[i].access != ACCESS_FILTER)
    return 1;
  if(!routes[i].list) {
    if(visible(r, out, routes[i].key)) {
      hide_channels(out);
      return 1;
    }
    char msg[200];
    snprintf(msg, sizeof msg, routes[i].missing, web_param(r, "name"));
    web_reply_error(r, 404, "not_found", msg, NULL);
    return 0;
  }
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(out, routes[i].list);
  for(cJSON *it = arr ? arr->child : NULL, *next; it; it = next) {
    next = it->next;
    if(!visible(r, it, routes[i].key))
      cJSON_Delete(cJSON_DetachItemViaPointer(arr, it));
    else
      hide_channels(it);
  }
  return 1;
}
