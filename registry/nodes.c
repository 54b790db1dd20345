/* registry/nodes.c - serving nodes: what they serve, the version each
 * should run (from the alias it follows) and the version it reports.
 *
 * Operations and their cost (store calls, each an index lookup):
 *  - reg_node_get: 2 (the node, its models with their alias and report);
 *    reg_node_list: 1 + 1 per node;
 *  - reg_node_create: one write transaction: the node, then per model its
 *    id and link, the audit row and the answer;
 *  - reg_node_report: one write transaction: the node's time, one row per
 *    reported model and the answer;
 *  - reg_node_delete: one write transaction of 2 statements.
 * Answers are read inside the write transaction, before COMMIT (see
 * reg__commit_answer). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "registry/internal.h"

/* The models of one node being listed, and whether all are in sync. */
struct models_ctx {
  cJSON *arr;
  int all_in_sync;
};

/* Adds one model a node serves: in sync when the node reports the version
 * its alias points to. */
static mw_status add_node_model(void *ctx, const struct reg_node_model_row *r) {
  struct models_ctx *m = ctx;
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "name", r->model);
  cJSON_AddStringToObject(e, "alias", r->alias);
  reg__add_opt_number(e, "desired_version", r->desired_version);
  reg__add_opt_number(e, "reported_version", r->reported_version);
  if(r->state) {
    cJSON_AddStringToObject(e, "state", r->state);
    mw_json_add_time(e, "reported_at", r->reported_at);
  } else {
    cJSON_AddNullToObject(e, "state");
    cJSON_AddNullToObject(e, "reported_at");
  }
  int in_sync = r->desired_version >= 0 && r->reported_version >= 0 &&
                r->desired_version == r->reported_version;
  if(!in_sync)
    m->all_in_sync = 0;
  cJSON_AddBoolToObject(e, "in_sync", in_sync);
  if(r->candidate_version >= 0 || r->candidate_state) {
    /* A rollout's candidate, run beside the alias's version. */
    cJSON *cand = cJSON_AddObjectToObject(e, "candidate");
    reg__add_opt_number(cand, "version", r->candidate_version);
    reg__add_opt_string(cand, "state", r->candidate_state);
    reg__add_opt_number(cand, "weight_percent", r->candidate_weight);
  }
  cJSON_AddItemToArray(m->arr, e);
  return MW_OK;
}

/* JSON of node n with the models it serves, its URL decrypted. */
static mw_status node_json(mw_conn *c, const struct reg_node_row *n, cJSON **out,
                           mw_err *err) {
  char *url = NULL;
  mw_status s = mw_secret_get(c, MW_SECRET_NODE_URL, n->name, n->url, &url, err);
  if(s)
    return s;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", n->name);
  cJSON_AddStringToObject(j, "url", url);
  mw_secret_free(url);
  mw_json_add_time(j, "created_at", n->created_at);
  mw_json_add_time(j, "last_seen_at", n->last_seen_at);
  struct models_ctx m = {cJSON_AddArrayToObject(j, "models"), 1};
  s = reg__store(c)->node_models(c, n->id, add_node_model, &m);
  if(s) {
    cJSON_Delete(j);
    return s;
  }
  cJSON_AddBoolToObject(j, "in_sync", m.all_in_sync);
  *out = j;
  return MW_OK;
}

struct get_ctx {
  mw_conn *c;
  cJSON *out;
  mw_err *err;
};

static mw_status got_node(void *ctx, const struct reg_node_row *n) {
  struct get_ctx *g = ctx;
  return node_json(g->c, n, &g->out, g->err);
}

mw_status reg_node_get(mw_conn *c, const char *name, cJSON **out, mw_err *err) {
  *out = NULL;
  struct get_ctx g = {c, NULL, err};
  mw_status s = reg__store(c)->node_get(c, name, got_node, &g);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "no node named '%s'", name);
  if(!s)
    *out = g.out;
  return s;
}

static mw_status listed_node(void *ctx, const struct reg_node_row *n) {
  struct get_ctx *g = ctx;
  cJSON *j = NULL;
  mw_status s = node_json(g->c, n, &j, g->err);
  if(!s)
    cJSON_AddItemToArray(g->out, j);
  return s;
}

mw_status reg_node_list(mw_conn *c, cJSON **out, mw_err *err) {
  *out = NULL;
  cJSON *root = cJSON_CreateObject();
  struct get_ctx g = {c, cJSON_AddArrayToObject(root, "nodes"), err};
  mw_status s = reg__store(c)->node_list(c, listed_node, &g);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

/* Inserts a node with its URL and secret encrypted (core/secrets.h). */
static mw_status insert_sealed(mw_conn *c, const char *name, const char *url,
                               const char *secret, int64_t *nid) {
  char *u = NULL, *sec = NULL;
  mw_status s = mw_secret_put(c, MW_SECRET_NODE_URL, name, url, &u);
  if(!s)
    s = mw_secret_put(c, MW_SECRET_NODE_SECRET, name, secret, &sec);
  if(!s)
    s = reg__store(c)->node_insert(c, name, u, sec, mw_now_ms(), nid);
  free(u);
  free(sec);
  return s;
}

/* Links node nid to each model of models (names or {name, alias}), inside
 * the caller's write transaction. */
static mw_status follow_models(mw_conn *c, int64_t nid, const cJSON *models,
                               mw_err *err) {
  assert(mw_tx_state(c) == 1);
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, models) {
    const char *mname = cJSON_IsString(m) ? m->valuestring : mw_json_str(m, "name");
    const char *alias = cJSON_IsObject(m) ? mw_json_str(m, "alias") : NULL;
    if(!alias)
      alias = "production";
    if(!mname || !mw_name_valid(alias))
      return mw_errf(err, MW_EVALIDATION,
                     "models[%d] must be a model name or {name, alias}", i);
    int64_t mid;
    mw_status s = reg__model_id(c, mname, &mid, err);
    if(s == MW_ENOTFOUND)
      s = mw_errf(err, MW_EVALIDATION, "models[%d]: no model named '%s'", i, mname);
    if(!s)
      s = reg__store(c)->node_follow(c, nid, mid, alias);
    if(s)
      return s;
    i++;
  }
  return MW_OK;
}

mw_status reg_node_create(mw_conn *c, const cJSON *body, int allow_private,
                          const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  const char *name = mw_json_str(body, "name");
  const char *url = mw_json_str(body, "url");
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(body, "models");
  if(!mw_name_valid(name))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  mw_status s = mw_url_check_target(url, allow_private, err);
  if(s)
    return s;
  if(!cJSON_IsArray(models))
    return mw_errf(err, MW_EVALIDATION, "models must be an array of model names");
  char secret[48];
  if(mw_webhook_secret_new(secret))
    return MW_EINTERNAL;
  s = mw_tx_begin(c);
  if(s)
    return s;
  int64_t nid = 0;
  s = insert_sealed(c, name, url, secret, &nid);
  if(s == MW_ECONFLICT)
    mw_errf(err, s, "a node named '%s' already exists", name);
  if(!s)
    s = follow_models(c, nid, models, err);
  if(!s)
    s = mw_audit(c, actor, "node.create", name, NULL);
  if(!s)
    s = reg_node_get(c, name, out, err);
  if(!s)
    cJSON_AddStringToObject(*out, "secret", secret);
  OPENSSL_cleanse(secret, sizeof secret);
  return reg__commit_answer(c, s, out);
}

/* An optional integer key of a report item: absent or null is -1; 1 when
 * present and within [lo, hi]. */
static int opt_int(const cJSON *m, const char *key, int64_t lo, int64_t hi,
                   int64_t *v) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(m, key);
  *v = -1;
  if(!j || cJSON_IsNull(j))
    return 1;
  return mw_json_int(j, v) && *v >= lo && *v <= hi;
}

/* Fills row from a checked report item m. */
static int report_row(const cJSON *m, struct reg_node_status_row *r) {
  const char *state = mw_json_str(m, "state");
  const char *cstate = mw_json_str(m, "candidate_state");
  r->model = mw_json_str(m, "name");
  r->state = state ? state : "loaded";
  r->candidate_state = cstate;
  const cJSON *cs = cJSON_GetObjectItemCaseSensitive(m, "candidate_state");
  return mw_name_valid(r->model) &&
         opt_int(m, "version", 1, INT64_MAX, &r->version) &&
         cJSON_GetObjectItemCaseSensitive(m, "version") &&
         (!state || strlen(state) <= 64) &&
         opt_int(m, "candidate_version", 1, INT64_MAX, &r->candidate_version) &&
         opt_int(m, "candidate_weight_percent", 0, 100, &r->candidate_weight) &&
         (!cs || cJSON_IsNull(cs) || (cstate && strlen(cstate) <= 64));
}

/* Checks a status report {models: [{name, version, state?,
 * candidate_version?, candidate_state?, candidate_weight_percent?}]}. */
static mw_status check_report(const cJSON *models, mw_err *err) {
  if(!cJSON_IsArray(models))
    return mw_errf(err, MW_EVALIDATION,
                   "models must be an array of "
                   "{name, version, state}");
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, models) {
    struct reg_node_status_row r;
    if(!report_row(m, &r))
      return mw_errf(err, MW_EVALIDATION,
                     "models[%d] must be {name, version: integer >= 1 or null, "
                     "state?: string, candidate_version?: integer >= 1 or null, "
                     "candidate_state?: string, candidate_weight_percent?: "
                     "0..100}",
                     i);
    i++;
  }
  return MW_OK;
}

mw_status reg_node_report(mw_conn *c, const char *name, const cJSON *body,
                          cJSON **out, mw_err *err) {
  *out = NULL;
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(body, "models");
  mw_status s = check_report(models, err);
  if(s)
    return s;
  s = mw_tx_begin(c);
  if(s)
    return s;
  const struct reg_store *st = reg__store(c);
  int64_t now = mw_now_ms(), nid = 0;
  s = st->node_seen(c, name, now, &nid);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no node named '%s'", name);
  const cJSON *m;
  cJSON_ArrayForEach(m, models) {
    if(s)
      break;
    struct reg_node_status_row r; /* version -1: the node runs none of it */
    report_row(m, &r);
    s = st->node_status_put(c, nid, &r, now);
  }
  if(!s)
    s = reg_node_get(c, name, out, err);
  return reg__commit_answer(c, s, out);
}

mw_status reg_node_delete(mw_conn *c, const char *name, const char *actor,
                          mw_err *err) {
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = reg__store(c)->node_delete(c, name);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no node named '%s'", name);
  if(!s)
    s = mw_audit(c, actor, "node.delete", name, NULL);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}
