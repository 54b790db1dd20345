/* registry/aliases.c - aliases (staging, production, ...) with an
 * append-only history, compare-and-swap moves and rollback. Each move is one
 * write transaction with its history row, audit row and the alias.moved
 * events for every serving node of the model (written to the outbox).
 *
 * Compare-and-swap holds across processes and replicas by construction:
 * the current version is read, compared and replaced inside one write
 * transaction (mw_tx_begin: one writer at a time per database, on
 * PostgreSQL across every replica), so no other move can fall between the
 * read and the write.
 *
 * Operations and their cost (store calls, each an index lookup):
 *  - reg_alias_lookup: 1;
 *  - reg_alias_set, reg_alias_rollback: one write transaction: model id,
 *    current version, target version, the protection (governance.c), then
 *    alias row, history row, audit row and one outbox row per node serving
 *    the model; a rollback to the previous version also replays the
 *    alias's history (O(its length)); a move a protected alias refuses
 *    writes only its audit row, in a second transaction;
 *  - reg_alias_delete: one write transaction of 5 statements;
 *  - reg_alias_history: 2. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/internal.h"

mw_status reg_alias_lookup(mw_conn *c, const char *model, const char *alias,
                           int64_t *version, mw_err *err) {
  mw_status s = reg__store(c)->alias_version(c, model, alias, version);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "model '%s' has no alias '%s'", model, alias);
  return s;
}

/* A move of an alias inside an open write transaction. */
struct move {
  const char *model, *alias;
  int64_t mid;  /* the model's id */
  int64_t from; /* current version; 0 when the alias does not exist */
  int64_t to;
  const char *kind; /* "set" or "rollback" */
  const char *reason, *actor;
};

/* The alias.moved event of m (at time at) for the nodes serving the model. */
static cJSON *moved_payload(const struct reg_env *env, const struct move *m,
                            const reg_version_info *to, int64_t at) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", "alias.moved");
  cJSON_AddStringToObject(p, "model", m->model);
  cJSON_AddStringToObject(p, "alias", m->alias);
  reg__add_opt_number(p, "from_version", m->from > 0 ? m->from : -1);
  cJSON_AddNumberToObject(p, "to_version", (double)m->to);
  cJSON_AddItemToObject(p, "artifact", reg_artifact_json(env, m->model, to));
  reg__add_opt_string(p, "reason", m->reason);
  mw_json_add_time(p, "at", at);
  return p;
}

cJSON *reg_artifact_json(const struct reg_env *env, const char *model,
                         const reg_version_info *vi) {
  cJSON *art = cJSON_CreateObject();
  char url[1400];
  snprintf(url, sizeof url, "%s/api/v1/models/%s/versions/%lld/artifact",
           env->external_url, model, (long long)vi->version);
  cJSON_AddStringToObject(art, "url", url);
  cJSON_AddStringToObject(art, "sha256", vi->sha256);
  cJSON_AddNumberToObject(art, "size", (double)vi->size);
  return art;
}

struct enqueue_ctx {
  mw_conn *c;
  const char *kind;
  const cJSON *payload;
};

static mw_status enqueue_one(void *ctx, const char *name, const char *url) {
  const struct enqueue_ctx *e = ctx;
  /* The outbox keeps where it goes (scheme and host), not the URL. */
  char shown[1100];
  mw_status s =
      mw_secret_url_shown(e->c, MW_SECRET_NODE_URL, name, url, shown, sizeof shown);
  return s ? s
           : mw_outbox_enqueue(e->c, e->kind, "node", name, shown, e->payload, NULL);
}

mw_status reg_nodes_enqueue(mw_conn *c, const char *model, const char *kind,
                            const cJSON *payload, mw_err *err) {
  assert(mw_tx_state(c) == 1);
  int64_t mid;
  mw_status s = reg__model_id(c, model, &mid, err);
  struct enqueue_ctx e = {c, kind, payload};
  return s ? s : reg__store(c)->model_nodes(c, mid, enqueue_one, &e);
}

mw_status reg_nodes_candidate(mw_conn *c, const char *model, int64_t version,
                              int64_t *nodes, int64_t *loaded, mw_err *err) {
  int64_t mid;
  mw_status s = reg__model_id(c, model, &mid, err);
  return s ? s
           : reg__store(c)->candidate_count(c, mid, model, version, nodes, loaded);
}

/* Writes move m to version `to` (alias row, history, audit, one outbox
 * event per serving node) inside the caller's write transaction. */
static mw_status write_move(mw_conn *c, const struct reg_env *env,
                            const struct move *m, const reg_version_info *to,
                            int approved) {
  assert(mw_tx_state(c) == 1 && m->from != m->to);
  const struct reg_store *st = reg__store(c);
  int64_t now = mw_now_ms();
  struct reg_history_row h = {
      m->to,   m->from > 0 ? m->from : -1, m->kind, m->actor, m->reason, now,
      approved};
  mw_status s = st->alias_put(c, m->mid, m->alias, to->id, now);
  if(!s)
    s = st->history_insert(c, m->mid, m->alias, &h);
  if(s)
    return s;
  char target[300];
  snprintf(target, sizeof target, "%s@%s", m->model, m->alias);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddNumberToObject(det, "version", (double)m->to);
  if(m->from > 0)
    cJSON_AddNumberToObject(det, "previous_version", (double)m->from);
  if(m->reason)
    cJSON_AddStringToObject(det, "reason", m->reason);
  s = mw_audit(c, m->actor,
               !strcmp(m->kind, "rollback")  ? "alias.rollback"
               : !strcmp(m->kind, "rollout") ? "alias.rollout"
                                             : "alias.set",
               target, det);
  cJSON_Delete(det);
  if(s)
    return s;
  struct enqueue_ctx e = {c, "alias.moved", moved_payload(env, m, to, now)};
  s = st->model_nodes(c, m->mid, enqueue_one, &e);
  if(!s) {
    /* Subscribers hear what nodes hear, and who moved it how. */
    cJSON *data = cJSON_Duplicate(e.payload, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(data, "type");
    cJSON_DeleteItemFromObjectCaseSensitive(data, "at");
    cJSON_AddStringToObject(data, "kind", m->kind);
    cJSON_AddStringToObject(data, "actor", m->actor);
    s = data ? mw_event_emit(c, "alias.moved", m->model, data) : MW_ENOMEM;
    cJSON_Delete(data);
  }
  cJSON_Delete((cJSON *)e.payload);
  return s;
}

/* Moves the alias (inside an open write transaction) as m says; fills out
 * with {alias, version, previous_version}. Only a ready version can be
 * aliased, and only an approved one where the alias is protected
 * (governance.c); moving to the version already held changes nothing. */
static mw_status move_alias(mw_conn *c, const struct reg_env *env,
                            const struct move *m, cJSON **out, mw_err *err) {
  assert(mw_tx_state(c) == 1);
  reg_version_info to;
  memset(&to, 0, sizeof to);
  mw_status s = reg__store(c)->version_find(c, m->model, m->to, &to);
  reg_version_info_free(&to); /* the schema is not needed here */
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "model '%s' has no version %lld", m->model,
                   (long long)m->to);
  if(s)
    return s;
  if(!to.ready)
    return mw_errf(err, MW_EVALIDATION,
                   "version %lld is pending: upload its artifact before aliasing it",
                   (long long)m->to);
  /* Already there: an idempotent retry changes nothing and notifies
   * nobody. */
  if(m->from != m->to) {
    int approved = 0;
    s = reg__move_check(c, m->mid, m->model, m->alias, m->kind, m->from, m->to,
                        to.approval, &approved, err);
    if(!s)
      s = write_move(c, env, m, &to, approved);
    if(s)
      return s;
  }
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "alias", m->alias);
  cJSON_AddNumberToObject(res, "version", (double)m->to);
  reg__add_opt_number(res, "previous_version", m->from > 0 ? m->from : -1);
  *out = res;
  return MW_OK;
}

static mw_status check_reason(const char *reason, mw_err *err) {
  if(reason && strlen(reason) > 4096)
    return mw_errf(err, MW_EVALIDATION, "reason is longer than 4096 bytes");
  return MW_OK;
}

mw_status reg__alias_name_check(const char *alias, mw_err *err) {
  if(!mw_name_valid(alias))
    return mw_errf(err, MW_EVALIDATION,
                   "alias must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  if(strspn(alias, "0123456789") == strlen(alias))
    return mw_errf(err, MW_EVALIDATION,
                   "alias '%s' is all digits: in .../versions/{v} a number is a "
                   "version, so such an alias could never be named there",
                   alias);
  /* GET .../drift?baseline= takes a version, an alias or one of these
   * keywords: an alias of that name could not be named there. */
  if(!strcmp(alias, "reference") || !strcmp(alias, "previous_window"))
    return mw_errf(err, MW_EVALIDATION,
                   "alias '%s' is reserved: ?baseline=%s of GET .../drift names "
                   "that baseline, not an alias",
                   alias, alias);
  return MW_OK;
}

/* The checks of reg_alias_set before any read: alias name, version,
 * expected_version (*want), reason. */
static mw_status check_set(const char *alias, int64_t version, const cJSON *expected,
                           const char *reason, int64_t *want, mw_err *err) {
  *want = 0;
  mw_status s = reg__alias_name_check(alias, err);
  if(s)
    return s;
  if(version <= 0)
    return mw_errf(err, MW_EVALIDATION, "version must be a positive integer");
  if(expected && !cJSON_IsNull(expected) && !mw_json_int(expected, want))
    return mw_errf(err, MW_EVALIDATION,
                   "expected_version must be an integer or null");
  return check_reason(reason, err);
}

/* The compare-and-swap refusal: the alias holds cur (0: does not exist),
 * not what the caller expected. */
static mw_status cas_refused(const char *alias, int64_t cur, mw_err *err) {
  cJSON *det = cJSON_CreateObject();
  reg__add_opt_number(det, "current_version", cur > 0 ? cur : -1);
  if(err)
    err->details = det;
  else
    cJSON_Delete(det);
  if(cur > 0)
    return mw_errf(err, MW_ECONFLICT,
                   "alias '%s' points to version %lld, not the expected one", alias,
                   (long long)cur);
  return mw_errf(err, MW_ECONFLICT,
                 "alias '%s' does not exist, not the expected version", alias);
}

/* Ends a move's own transaction (reg__commit_answer). A move a protected
 * alias refused was rolled back with everything else; the refusal is then
 * written to the audit log in a transaction of its own. */
static mw_status end_move(mw_conn *c, mw_status s, const char *model,
                          const char *alias, const char *actor, cJSON **out,
                          mw_err *err) {
  s = reg__commit_answer(c, s, out);
  if(s != MW_ENOTAPPROVED)
    return s;
  assert(mw_tx_state(c) == 0);
  mw_status a = mw_tx_begin(c);
  if(!a)
    a = reg_alias_audit_refusal(c, actor, model, alias, err);
  if(!a && !(a = mw_tx_commit(c)))
    return s;
  if(mw_tx_state(c) == 1)
    mw_tx_rollback(c);
  /* Unrecorded, the refusal is answered as the failure it became. */
  mw_err_clear(err);
  return a;
}

mw_status reg_alias_set(mw_conn *c, const struct reg_env *env, const char *model,
                        const char *alias, int64_t version, const cJSON *expected,
                        const char *reason, const char *actor, cJSON **out,
                        mw_err *err) {
  *out = NULL;
  int64_t want = 0;
  mw_status s = check_set(alias, version, expected, reason, &want, err);
  if(s)
    return s;
  s = mw_tx_begin(c);
  if(s)
    return s;
  struct move m = {model, alias, 0, 0, version, "set", reason, actor};
  /* Read, compare and write in this one write transaction. */
  s = reg__model_id(c, model, &m.mid, err);
  if(!s)
    s = reg__store(c)->alias_current(c, m.mid, alias, &m.from);
  if(!s && expected && want != m.from)
    s = cas_refused(alias, m.from, err);
  if(!s)
    s = move_alias(c, env, &m, out, err);
  return end_move(c, s, model, alias, actor, out, err);
}

mw_status reg_alias_move_tx(mw_conn *c, const struct reg_env *env, const char *model,
                            const char *alias, int64_t version, int64_t expected,
                            const char *kind, const char *reason, const char *actor,
                            cJSON **out, mw_err *err) {
  assert(mw_tx_state(c) == 1);
  assert(!strcmp(kind, "set") || !strcmp(kind, "rollout"));
  *out = NULL;
  int64_t want = 0;
  mw_status s = check_set(alias, version, NULL, reason, &want, err);
  if(s)
    return s;
  struct move m = {model, alias, 0, 0, version, kind, reason, actor};
  s = reg__model_id(c, model, &m.mid, err);
  if(!s)
    s = reg__store(c)->alias_current(c, m.mid, alias, &m.from);
  if(!s && expected >= 0 && expected != m.from)
    s = cas_refused(alias, m.from, err);
  return s ? s : move_alias(c, env, &m, out, err);
}

mw_status reg_alias_delete(mw_conn *c, const char *model, const char *alias,
                           const char *reason, const char *actor, mw_err *err) {
  mw_status s = check_reason(reason, err);
  if(s)
    return s;
  s = mw_tx_begin(c);
  if(s)
    return s;
  const struct reg_store *st = reg__store(c);
  int64_t mid = 0, cur = 0;
  s = reg__model_id(c, model, &mid, err);
  if(!s)
    s = st->alias_current(c, mid, alias, &cur);
  if(!s && cur == 0)
    s = mw_errf(err, MW_ENOTFOUND, "model '%s' has no alias '%s'", model, alias);
  int require = 0;
  mw_status p = s ? MW_ENOTFOUND : st->protect_get(c, mid, alias, &require);
  if(p == MW_OK)
    s = mw_errf(err, MW_ECONFLICT,
                "alias '%s' is protected: an admin lifts the protection "
                "(DELETE .../protected-aliases/%s) before it can be deleted",
                alias, alias);
  else if(p != MW_ENOTFOUND)
    s = p;
  struct reg_history_row h = {-1, cur, "delete", actor, reason, mw_now_ms(), 0};
  if(!s)
    s = st->alias_remove(c, mid, alias);
  if(!s)
    s = st->history_insert(c, mid, alias, &h);
  char target[300];
  snprintf(target, sizeof target, "%s@%s", model, alias);
  if(!s)
    s = mw_audit(c, actor, "alias.delete", target, NULL);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

static mw_status add_history(void *ctx, const struct reg_history_row *r) {
  cJSON *h = cJSON_CreateObject();
  reg__add_opt_number(h, "version", r->version);
  reg__add_opt_number(h, "previous_version", r->previous_version);
  cJSON_AddStringToObject(h, "kind", r->kind);
  cJSON_AddStringToObject(h, "actor", r->actor);
  reg__add_opt_string(h, "reason", r->reason);
  mw_json_add_time(h, "at", r->at);
  cJSON_AddBoolToObject(h, "approved", r->approved);
  cJSON_AddItemToArray(ctx, h);
  return MW_OK;
}

mw_status reg_alias_history(mw_conn *c, const char *model, const char *alias,
                            int limit, cJSON **out, mw_err *err) {
  *out = NULL;
  int64_t mid;
  mw_status s = reg__model_id(c, model, &mid, err);
  if(s)
    return s;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "alias", alias);
  cJSON *arr = cJSON_AddArrayToObject(root, "history");
  s = reg__store(c)->history_list(c, mid, alias, reg__limit(limit), add_history,
                                  arr);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

/* ---------------------------------------------------------------- rollback */

/* The versions an alias went through, as a stack (see rollback_target). */
struct stack {
  int64_t *v;
  size_t n, cap;
};

/* Replays one history row: a set pushes its version, a rollback pops back
 * to the version it moved to, a delete empties the stack. */
static mw_status replay(void *ctx, const char *kind, int64_t version) {
  struct stack *st = ctx;
  if(!strcmp(kind, "delete")) {
    st->n = 0;
    return MW_OK;
  }
  if(!strcmp(kind, "rollback")) {
    while(st->n > 0 && st->v[st->n - 1] != version)
      st->n--;
    if(st->n > 0)
      return MW_OK;
    /* Rolled to a version not on the stack: it starts a new one. */
  }
  if(st->n == st->cap) {
    size_t cap = st->cap ? 2 * st->cap : 64;
    int64_t *nv = realloc(st->v, cap * sizeof *nv);
    if(!nv)
      return MW_ENOMEM;
    st->v = nv;
    st->cap = cap;
  }
  st->v[st->n++] = version;
  return MW_OK;
}

/* Where a rollback of the alias goes: the entry below the top of the stack
 * its history replays to (0 when there is none). */
static mw_status rollback_target(mw_conn *c, int64_t mid, const char *alias,
                                 int64_t *target) {
  struct stack st = {NULL, 0, 0};
  mw_status s = reg__store(c)->history_walk(c, mid, alias, replay, &st);
  *target = !s && st.n >= 2 ? st.v[st.n - 2] : 0;
  free(st.v);
  return s;
}

mw_status reg_alias_rollback_tx(mw_conn *c, const struct reg_env *env,
                                const char *model, const char *alias,
                                int64_t to_version, const char *reason,
                                const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  assert(mw_tx_state(c) == 1);
  mw_status s = check_reason(reason, err);
  if(s)
    return s;
  struct move m = {model, alias, 0, 0, to_version, "rollback", reason, actor};
  s = reg__model_id(c, model, &m.mid, err);
  if(!s)
    s = reg__store(c)->alias_current(c, m.mid, alias, &m.from);
  if(!s && m.from == 0)
    s = mw_errf(err, MW_ENOTFOUND, "model '%s' has no alias '%s'", model, alias);
  if(!s && m.to <= 0) {
    s = rollback_target(c, m.mid, alias, &m.to);
    if(!s && m.to <= 0)
      s = mw_errf(err, MW_ECONFLICT,
                  "alias '%s' has no earlier version to roll back to", alias);
  }
  if(!s && m.to == m.from)
    s = mw_errf(err, MW_ECONFLICT, "alias '%s' already points to version %lld",
                alias, (long long)m.from);
  if(!s)
    s = move_alias(c, env, &m, out, err);
  return s;
}

mw_status reg_alias_rollback(mw_conn *c, const struct reg_env *env,
                             const char *model, const char *alias,
                             int64_t to_version, const char *reason,
                             const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = reg_alias_rollback_tx(c, env, model, alias, to_version, reason, actor, out,
                            err);
  return end_move(c, s, model, alias, actor, out, err);
}
