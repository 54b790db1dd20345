/* registry/governance.c - who may put which version where: decisions on
 * versions (approve, reject) and protected aliases.
 *
 * A decision is kept twice in one transaction: as the version's current
 * approval (read with the version, no join) and as a row of its
 * append-only history; both are audited. Four eyes: the actor that
 * created a version may not decide on it unless the server runs with
 * --allow-self-approval.
 *
 * A protected alias with require_approval refuses every move (by hand, the
 * rollback endpoint, an alert's rollback, a rollout) to a version that is
 * not approved, with MW_ENOTAPPROVED. The one exception is a rollback to an
 * older version that was approved while it held the alias: history rows
 * record the approval of the version they moved to, so an emergency
 * rollback is never blocked by a later rejection or by a protection added
 * since. Older only: "rolling back" to a newer version rejected since is a
 * promotion, and is checked as one.
 * aliases.c asks reg__move_check inside the move's transaction, so the
 * check and the move see the same state. A refusal moves nothing; the
 * caller rolls its writes back and records the refusal with
 * reg_alias_audit_refusal.
 *
 * Operations and their cost (store calls, each an index lookup):
 *  - reg_version_decide: one write transaction of 5: the version, the
 *    decision with its history row, the audit row, the answer;
 *  - reg_version_approvals: 2 + O(decisions);
 *  - reg_protect_set, reg_protect_delete: one write transaction of 3;
 *  - reg_protect_list: 1 + O(protected aliases of the model);
 *  - reg__move_check: 1, or 2 for a rollback to an unapproved version. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/internal.h"

/* ------------------------------------------------------------- decisions */

/* What a decision needs of its version. */
struct decided {
  int64_t id;
  char status[16];
  char created_by[256], uploaded_by[256];
};

static mw_status got_decided(void *ctx, const struct reg_version_row *v) {
  struct decided *d = ctx;
  d->id = v->id;
  mw_strlcpy(d->status, v->status, sizeof d->status);
  mw_strlcpy(d->created_by, v->created_by, sizeof d->created_by);
  mw_strlcpy(d->uploaded_by, v->uploaded_by ? v->uploaded_by : "",
             sizeof d->uploaded_by);
  return MW_OK;
}

static mw_status check_decision(const char *decision, const char *comment,
                                mw_err *err) {
  if(!decision || (strcmp(decision, "approved") && strcmp(decision, "rejected")))
    return mw_errf(err, MW_EVALIDATION,
                   "decision must be \"approved\" or \"rejected\"");
  if(comment && strlen(comment) > 4096)
    return mw_errf(err, MW_EVALIDATION, "comment is longer than 4096 bytes");
  return MW_OK;
}

/* The decision itself, inside the open write transaction. */
static mw_status decide_tx(mw_conn *c, const struct reg_env *env, const char *model,
                           int64_t version, const struct reg_approval_row *a,
                           mw_err *err) {
  assert(mw_tx_state(c) == 1);
  const struct reg_store *st = reg__store(c);
  struct decided d = {0};
  mw_status s = st->version_get(c, model, version, got_decided, &d);
  if(s == MW_ENOTFOUND) {
    int64_t mid;
    s = reg__model_id(c, model, &mid, err);
    return s ? s
             : mw_errf(err, MW_ENOTFOUND, "model '%s' has no version %lld", model,
                       (long long)version);
  }
  if(s)
    return s;
  if(strcmp(d.status, "ready"))
    return mw_errf(err, MW_EVALIDATION,
                   "version %lld is pending: upload its artifact before deciding "
                   "on it (a decision is about those bytes)",
                   (long long)version);
  /* The bytes are chosen by whoever uploaded them: that actor is refused
   * as well as the version's creator. */
  if(!env->allow_self_approval &&
     (!strcmp(d.created_by, a->actor) || !strcmp(d.uploaded_by, a->actor)))
    return mw_errf(err, MW_ESELFAPPROVAL,
                   "%s %s version %lld and may not decide on it: another token "
                   "must (or run the server with --allow-self-approval)",
                   a->actor,
                   !strcmp(d.created_by, a->actor) ? "created"
                                                   : "uploaded the artifact of",
                   (long long)version);
  s = st->approval_put(c, d.id, a);
  if(s)
    return s;
  char target[300];
  snprintf(target, sizeof target, "%s/%lld", model, (long long)version);
  cJSON *det = cJSON_CreateObject();
  if(a->comment)
    cJSON_AddStringToObject(det, "comment", a->comment);
  s = mw_audit(c, a->actor,
               !strcmp(a->decision, "approved") ? "version.approve"
                                                : "version.reject",
               target, det);
  cJSON_Delete(det);
  return s;
}

mw_status reg_version_decide(mw_conn *c, const struct reg_env *env,
                             const char *model, int64_t version,
                             const char *decision, const char *comment,
                             const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  mw_status s = check_decision(decision, comment, err);
  if(s)
    return s;
  s = mw_tx_begin(c);
  if(s)
    return s;
  struct reg_approval_row a = {decision, actor, comment, mw_now_ms()};
  s = decide_tx(c, env, model, version, &a, err);
  if(!s)
    s = reg_version_get(c, model, version, out, err);
  if(!s)
    s = mw_event_emit(
        c, !strcmp(decision, "approved") ? "version.approved" : "version.rejected",
        model, *out);
  return reg__commit_answer(c, s, out);
}

static mw_status add_approval(void *ctx, const struct reg_approval_row *a) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "decision", a->decision);
  cJSON_AddStringToObject(j, "by", a->actor);
  mw_json_add_time(j, "at", a->at);
  reg__add_opt_string(j, "comment", a->comment);
  cJSON_AddItemToArray(ctx, j);
  return MW_OK;
}

mw_status reg_version_approvals(mw_conn *c, const char *model, int64_t version,
                                cJSON **out, mw_err *err) {
  *out = NULL;
  reg_version_info vi;
  mw_status s = reg_version_lookup(c, model, version, &vi, err);
  reg_version_info_free(&vi);
  if(s)
    return s;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "model", model);
  cJSON_AddNumberToObject(root, "version", (double)version);
  cJSON_AddStringToObject(root, "state", vi.approval);
  cJSON *arr = cJSON_AddArrayToObject(root, "approvals");
  s = reg__store(c)->approval_list(c, vi.id, add_approval, arr);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

/* ------------------------------------------------------ protected aliases */

static cJSON *protected_json(const struct reg_protected_row *p) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "alias", p->alias);
  cJSON_AddBoolToObject(j, "require_approval", p->require_approval);
  cJSON_AddStringToObject(j, "by", p->actor);
  mw_json_add_time(j, "at", p->at);
  return j;
}

mw_status reg_protect_set(mw_conn *c, const char *model, const char *alias,
                          int require_approval, const char *actor, cJSON **out,
                          mw_err *err) {
  *out = NULL;
  mw_status s = reg__alias_name_check(alias, err);
  if(s)
    return s;
  s = mw_tx_begin(c);
  if(s)
    return s;
  int64_t mid = 0;
  struct reg_protected_row p = {alias, require_approval != 0, actor, mw_now_ms()};
  s = reg__model_id(c, model, &mid, err);
  if(!s)
    s = reg__store(c)->protect_put(c, mid, &p);
  char target[300];
  snprintf(target, sizeof target, "%s@%s", model, alias);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddBoolToObject(det, "require_approval", p.require_approval);
  if(!s)
    s = mw_audit(c, actor, "alias.protect", target, det);
  cJSON_Delete(det);
  if(!s)
    *out = protected_json(&p);
  return reg__commit_answer(c, s, out);
}

mw_status reg_protect_delete(mw_conn *c, const char *model, const char *alias,
                             const char *actor, mw_err *err) {
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  int64_t mid = 0;
  s = reg__model_id(c, model, &mid, err);
  if(!s)
    s = reg__store(c)->protect_remove(c, mid, alias);
  if(s == MW_ENOTFOUND && err && !err->msg[0])
    mw_errf(err, s, "alias '%s' of model '%s' is not protected", alias, model);
  char target[300];
  snprintf(target, sizeof target, "%s@%s", model, alias);
  if(!s)
    s = mw_audit(c, actor, "alias.unprotect", target, NULL);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}

struct protect_list_ctx {
  cJSON *arr;
  const char *only; /* one alias, or NULL for all */
};

static mw_status add_protected(void *ctx, const struct reg_protected_row *p) {
  struct protect_list_ctx *pl = ctx;
  if(!pl->only || !strcmp(pl->only, p->alias))
    cJSON_AddItemToArray(pl->arr, protected_json(p));
  return MW_OK;
}

mw_status reg_protect_list(mw_conn *c, const char *model, const char *alias,
                           cJSON **out, mw_err *err) {
  *out = NULL;
  int64_t mid = 0;
  mw_status s = reg__model_id(c, model, &mid, err);
  if(s)
    return s;
  cJSON *root = cJSON_CreateObject();
  struct protect_list_ctx pl = {cJSON_AddArrayToObject(root, "protected_aliases"),
                                alias};
  s = reg__store(c)->protect_list(c, mid, add_protected, &pl);
  if(!s && alias) {
    /* One alias asked for: its object, or 404. */
    cJSON *one = cJSON_DetachItemFromArray(pl.arr, 0);
    cJSON_Delete(root);
    root = one;
    if(!one)
      s = mw_errf(err, MW_ENOTFOUND, "alias '%s' of model '%s' is not protected",
                  alias, model);
  }
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

/* ------------------------------------------------------ checks of a move */

mw_status reg__move_check(mw_conn *c, int64_t mid, const char *model,
                          const char *alias, const char *kind, int64_t from,
                          int64_t version, const char *approval, int *approved,
                          mw_err *err) {
  assert(mw_tx_state(c) == 1);
  const struct reg_store *st = reg__store(c);
  *approved = !strcmp(approval, "approved");
  int require = 0;
  mw_status s = st->protect_get(c, mid, alias, &require);
  if(s == MW_ENOTFOUND)
    return MW_OK;
  if(s || !require || *approved)
    return s;
  int held = 0;
  if(!strcmp(kind, "rollback") && version < from &&
     (s = st->history_approved(c, mid, alias, version, &held)))
    return s;
  if(held)
    return MW_OK; /* an emergency rollback to a version approved back then */
  cJSON *det = cJSON_CreateObject();
  cJSON_AddStringToObject(det, "alias", alias);
  cJSON_AddNumberToObject(det, "version", (double)version);
  cJSON_AddStringToObject(det, "approval", approval);
  cJSON_AddStringToObject(det, "kind", kind);
  if(err) {
    cJSON_Delete(err->details);
    err->details = det;
  } else {
    cJSON_Delete(det);
  }
  return mw_errf(err, MW_ENOTAPPROVED,
                 "alias '%s' of model '%s' is protected: version %lld is %s, "
                 "not approved",
                 alias, model, (long long)version,
                 !strcmp(approval, "none") ? "undecided" : approval);
}

mw_status reg_alias_audit_refusal(mw_conn *c, const char *actor, const char *model,
                                  const char *alias, const mw_err *err) {
  assert(err);
  char target[300];
  snprintf(target, sizeof target, "%s@%s", model, alias);
  cJSON *det =
      err->details ? cJSON_Duplicate(err->details, 1) : cJSON_CreateObject();
  if(!det)
    return MW_ENOMEM;
  cJSON_AddStringToObject(det, "code", mw_status_code(MW_ENOTAPPROVED));
  cJSON_AddStringToObject(det, "message", err->msg);
  mw_status s = mw_audit(c, actor, "alias.refused", target, det);
  cJSON_Delete(det);
  return s;
}
