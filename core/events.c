/* core/events.c - event subscriptions (core/events.h).
 *
 * Why through the outbox and not a call at commit: an event is a row of the
 * transaction that caused it, so a subscriber hears of a promotion if and
 * only if it committed, once per subscription (the webhook-id stays the
 * same on every retry), and a crash between commit and send loses nothing.
 * The cost is a read of the subscriptions in every transaction that emits,
 * which stays small: subscriptions are few (tens), read by one statement.
 *
 * Operations and their cost:
 *  - mw_event_emit: one statement reading every subscription, then one
 *    outbox insert per subscription that wants the event;
 *  - mw_subscription_create, mw_subscription_delete: one write transaction
 *    of 2 statements (the row, the audit row);
 *  - mw_subscription_list: one statement. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/audit.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/events.h"
#include "core/json.h"
#include "core/outbox.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/url.h"
#include "core/valid.h"

/* Every event an emitter sends; a subscription may name these, "*", or a
 * family followed by ".*". */
static const char *const event_types[] = {
    "model.created",    "version.created", "version.ready",   "version.approved",
    "version.rejected", "alias.moved",     "rollout.started", "rollout.step",
    "rollout.promoted", "rollout.aborted", "alert.firing",    "alert.resolved",
};
#define N_EVENT_TYPES (sizeof event_types / sizeof event_types[0])
#define MAX_PATTERNS 100

int mw_event_type_known(const char *type) {
  for(size_t i = 0; i < N_EVENT_TYPES; i++)
    if(!strcmp(event_types[i], type))
      return 1;
  return 0;
}

/* An event pattern names at least one known type. */
static int event_pattern_valid(const char *p) {
  size_t n = strlen(p);
  if(!n || strchr(p, '*') != (n && p[n - 1] == '*' ? p + n - 1 : NULL))
    return 0; /* a '*' only at the end */
  if(n > 1 && p[n - 1] == '*' && p[n - 2] != '.')
    return 0; /* "rollout.*", not "roll*" */
  for(size_t i = 0; i < N_EVENT_TYPES; i++)
    if(mw_pattern_match(p, event_types[i]))
      return 1;
  return 0;
}

/* Checks an array of pattern strings (1..MAX_PATTERNS) field of body. */
static mw_status check_patterns(const cJSON *arr, const char *field,
                                int (*valid)(const char *), mw_err *err) {
  if(!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
     cJSON_GetArraySize(arr) > MAX_PATTERNS)
    return mw_errf(err, MW_EVALIDATION, "%s must be an array of 1 to %d strings",
                   field, MAX_PATTERNS);
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if(!cJSON_IsString(it) || !valid(it->valuestring)) {
      cJSON *det = cJSON_CreateObject();
      cJSON_AddStringToObject(det, "field", field);
      cJSON_AddNumberToObject(det, "index", i);
      if(err) {
        cJSON_Delete(err->details);
        err->details = det;
      } else {
        cJSON_Delete(det);
      }
      return mw_errf(err, MW_EVALIDATION,
                     !strcmp(field, "events")
                         ? "events[%d] is not an event type, \"*\" or a family "
                           "such as \"rollout.*\""
                         : "models[%d] is not a model name or a name prefix "
                           "followed by '*'",
                     i);
    }
    i++;
  }
  return MW_OK;
}

/* JSON of subscription r, whose URL in plain text is url. */
static cJSON *subscription_json(const struct mw_subscription_row *r,
                                const char *url) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", r->name);
  cJSON_AddStringToObject(j, "url", url);
  cJSON *ev = cJSON_Parse(r->events);
  cJSON_AddItemToObject(j, "events", ev ? ev : cJSON_CreateArray());
  cJSON *mo = r->models ? cJSON_Parse(r->models) : NULL;
  cJSON_AddItemToObject(j, "models", mo ? mo : cJSON_CreateNull());
  mw_json_add_time(j, "created_at", r->created_at);
  cJSON_AddStringToObject(j, "created_by", r->created_by);
  return j;
}

static mw_status check_subscription(const cJSON *body, int allow_private,
                                    mw_err *err) {
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
  const cJSON *url = cJSON_GetObjectItemCaseSensitive(body, "url");
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(body, "models");
  if(!cJSON_IsObject(body))
    return mw_errf(err, MW_EVALIDATION, "the body must be an object");
  if(!cJSON_IsString(name) || !mw_name_valid(name->valuestring))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  if(!cJSON_IsString(url))
    return mw_errf(err, MW_EVALIDATION, "url must be a string");
  mw_status s = mw_url_check_target(url->valuestring, allow_private, err);
  if(!s)
    s = check_patterns(cJSON_GetObjectItemCaseSensitive(body, "events"), "events",
                       event_pattern_valid, err);
  if(!s && models && !cJSON_IsNull(models))
    s = check_patterns(models, "models", mw_name_pattern_valid, err);
  return s;
}

/* Inserts r with its URL and secret encrypted (core/secrets.h). */
static mw_status insert_sealed(mw_conn *c, const struct mw_subscription_row *r,
                               const char *secret) {
  char *url = NULL, *sec = NULL;
  mw_status s = mw_secret_put(c, MW_SECRET_SUBSCRIPTION_URL, r->name, r->url, &url);
  if(!s)
    s = mw_secret_put(c, MW_SECRET_SUBSCRIPTION_SECRET, r->name, secret, &sec);
  if(!s) {
    struct mw_subscription_row sealed = *r;
    sealed.url = url;
    s = mw__store(c)->subscription_insert(c, &sealed, sec);
  }
  free(url);
  free(sec);
  return s;
}

mw_status mw_subscription_create(mw_conn *c, const cJSON *body, int allow_private,
                                 const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  mw_status s = check_subscription(body, allow_private, err);
  if(s)
    return s;
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(body, "models");
  char secret[48];
  char *events =
      cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(body, "events"));
  char *mtext =
      models && !cJSON_IsNull(models) ? cJSON_PrintUnformatted(models) : NULL;
  struct mw_subscription_row r = {
      0,
      cJSON_GetObjectItemCaseSensitive(body, "name")->valuestring,
      cJSON_GetObjectItemCaseSensitive(body, "url")->valuestring,
      events,
      mtext,
      mw_now_ms(),
      actor ? actor : "system"};
  s = !events || (models && !cJSON_IsNull(models) && !mtext)
          ? MW_ENOMEM
          : mw_webhook_secret_new(secret);
  if(!s)
    s = mw_tx_begin(c);
  if(!s) {
    s = insert_sealed(c, &r, secret);
    if(s == MW_ECONFLICT)
      mw_errf(err, s, "subscription '%s' exists", r.name);
    if(!s)
      s = mw_audit(c, actor, "subscription.create", r.name, NULL);
    if(!s)
      s = mw_tx_commit(c);
    if(s)
      mw_tx_rollback(c);
  }
  if(!s) {
    *out = subscription_json(&r, r.url);
    cJSON_AddStringToObject(*out, "secret", secret);
  }
  OPENSSL_cleanse(secret, sizeof secret);
  cJSON_free(events);
  cJSON_free(mtext);
  return s;
}

struct list_ctx {
  mw_conn *c;
  cJSON *arr;
  mw_err *err;
};

static mw_status add_subscription(void *ctx, const struct mw_subscription_row *r) {
  struct list_ctx *x = ctx;
  char *url = NULL;
  mw_status s =
      mw_secret_get(x->c, MW_SECRET_SUBSCRIPTION_URL, r->name, r->url, &url, x->err);
  if(!s)
    cJSON_AddItemToArray(x->arr, subscription_json(r, url));
  mw_secret_free(url);
  return s;
}

mw_status mw_subscription_list(mw_conn *c, const char *name, cJSON **out,
                               mw_err *err) {
  cJSON *arr = cJSON_CreateArray();
  struct list_ctx x = {c, arr, err};
  mw_status s = mw__store(c)->subscription_list(c, name, add_subscription, &x);
  if(s) {
    cJSON_Delete(arr);
    *out = NULL;
    return s == MW_ENOTFOUND ? mw_errf(err, s, "no subscription '%s'", name) : s;
  }
  if(name) {
    *out = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
  } else {
    *out = cJSON_CreateObject();
    cJSON_AddItemToObject(*out, "subscriptions", arr);
  }
  return MW_OK;
}

mw_status mw_subscription_delete(mw_conn *c, const char *name, const char *actor,
                                 mw_err *err) {
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = mw__store(c)->subscription_delete(c, name);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no subscription '%s'", name);
  /* Its queued events die now: a subscription made again under the same
   * name must not receive them, signed with its new secret. */
  if(!s)
    s = mw__store(c)->outbox_kill_target(c, "subscription", name,
                                         "the subscription was deleted");
  if(!s)
    s = mw_audit(c, actor, "subscription.delete", name, NULL);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

/* ------------------------------------------------------------- emitting */

struct emit_ctx {
  mw_conn *c;
  const char *type, *model;
  const cJSON *payload;
};

/* Whether one of the JSON array's patterns matches s (NULL text: all). */
static int any_match(const char *patterns, const char *s) {
  if(!patterns)
    return 1;
  cJSON *arr = cJSON_Parse(patterns);
  int hit = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if(cJSON_IsString(it) && mw_pattern_match(it->valuestring, s)) {
      hit = 1;
      break;
    }
  }
  cJSON_Delete(arr);
  return hit;
}

static mw_status emit_one(void *ctx, const struct mw_subscription_row *r) {
  const struct emit_ctx *e = ctx;
  if(!any_match(r->events, e->type) || (e->model && !any_match(r->models, e->model)))
    return MW_OK;
  /* The outbox keeps where it goes (scheme and host), not the URL. */
  char shown[1100];
  mw_status s = mw_secret_url_shown(e->c, MW_SECRET_SUBSCRIPTION_URL, r->name,
                                    r->url, shown, sizeof shown);
  return s ? s
           : mw_outbox_enqueue(e->c, e->type, "subscription", r->name, shown,
                               e->payload, NULL);
}

mw_status mw_event_emit(mw_conn *c, const char *type, const char *model,
                        const cJSON *data) {
  assert(mw_tx_state(c) == 1 && mw_event_type_known(type));
  cJSON *payload = cJSON_CreateObject();
  cJSON_AddStringToObject(payload, "type", type);
  mw_json_add_time(payload, "at", mw_now_ms());
  cJSON *d = data ? cJSON_Duplicate(data, 1) : cJSON_CreateObject();
  if(!payload || !d) {
    cJSON_Delete(payload);
    cJSON_Delete(d);
    return MW_ENOMEM;
  }
  cJSON_AddItemToObject(payload, "data", d);
  struct emit_ctx e = {c, type, model, payload};
  mw_status s = mw__store(c)->subscription_list(c, NULL, emit_one, &e);
  cJSON_Delete(payload);
  return s;
}
