/* alerts/rules.c - alert rules: validation, storage, listing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "alerts/rules.h"
#include "registry/registry.h"

static int64_t opt_int(const cJSON *body, const char *key, int64_t dflt, int *bad) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(body, key);
  if(!it || cJSON_IsNull(it))
    return dflt;
  int64_t v;
  if(!mw_json_int(it, &v)) {
    *bad = 1;
    return dflt;
  }
  return v;
}

/* The column must be a feature of the version's schema or "prediction". */
static mw_status check_column(mw_conn *c, const char *model, int64_t version,
                              const char *column, mw_err *err) {
  reg_version_info vi;
  mw_status s = reg_version_lookup(c, model, version, &vi, err);
  if(s) {
    reg_version_info_free(&vi);
    return s == MW_ENOTFOUND ? MW_EVALIDATION : s;
  }
  int found = !strcmp(column, "prediction");
  cJSON *schema = vi.schema_json ? cJSON_Parse(vi.schema_json) : NULL;
  const cJSON *f;
  cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(schema, "features")) {
    const char *n = mw_json_str(f, "name");
    if(n && !strcmp(n, column))
      found = 1;
  }
  cJSON_Delete(schema);
  reg_version_info_free(&vi);
  if(!found)
    return mw_errf(err, MW_EVALIDATION,
                   "model '%s' version %lld has no column '%s' in its schema",
                   model, (long long)version, column);
  return MW_OK;
}

static mw_status check_channels(mw_conn *c, const cJSON *chans, mw_err *err) {
  if(!chans || cJSON_IsNull(chans))
    return MW_OK;
  if(!cJSON_IsArray(chans))
    return mw_errf(err, MW_EVALIDATION, "channels must be an array of channel names");
  const cJSON *ch;
  cJSON_ArrayForEach(ch, chans) {
    if(!cJSON_IsString(ch))
      return mw_errf(err, MW_EVALIDATION, "channels must be an array of channel names");
    sqlite3_stmt *st = mw_stmt(c, "SELECT 1 FROM channels WHERE name = ?");
    if(!st)
      return MW_EDB;
    mw_bind_text(st, 1, ch->valuestring);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if(rc == SQLITE_DONE)
      return mw_errf(err, MW_EVALIDATION, "no channel named '%s'", ch->valuestring);
    if(rc != SQLITE_ROW)
      return mw_db_status(c, rc);
  }
  return MW_OK;
}

static int string_map(const cJSON *v) {
  if(!v || cJSON_IsNull(v))
    return 1;
  if(!cJSON_IsObject(v))
    return 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, v) {
    if(!cJSON_IsString(it) || strlen(it->valuestring) > 1024 || strlen(it->string) > 128)
      return 0;
  }
  return 1;
}

mw_status alert_rule_create(mw_conn *c, const cJSON *body, const char *actor,
                            cJSON **out, mw_err *err) {
  *out = NULL;
  const char *name = mw_json_str(body, "name");
  const char *model = mw_json_str(body, "model");
  const char *alias = mw_json_str(body, "alias");
  const char *metric = mw_json_str(body, "metric");
  const char *op = mw_json_str(body, "op");
  const char *severity = mw_json_str(body, "severity");
  const char *action = mw_json_str(body, "action");
  const cJSON *thr = cJSON_GetObjectItemCaseSensitive(body, "threshold");
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(body, "labels");
  const cJSON *annotations = cJSON_GetObjectItemCaseSensitive(body, "annotations");
  const cJSON *chans = cJSON_GetObjectItemCaseSensitive(body, "channels");
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(body, "action");
  int bad = 0;
  int64_t version = opt_int(body, "version", 0, &bad);
  int64_t for_s = opt_int(body, "for_seconds", 0, &bad);
  int64_t window_s = opt_int(body, "window_seconds", 3600, &bad);
  int64_t interval_s = opt_int(body, "interval_seconds", 60, &bad);
  int dummy;
  if(!mw_name_valid(name))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  if(!model)
    return mw_errf(err, MW_EVALIDATION, "model is required");
  if(bad)
    return mw_errf(err, MW_EVALIDATION,
                   "version, for_seconds, window_seconds and interval_seconds "
                   "must be integers");
  if((alias != NULL) == (version > 0))
    return mw_errf(err, MW_EVALIDATION, "give exactly one of alias and version");
  if(version < 0)
    return mw_errf(err, MW_EVALIDATION, "version must be positive");
  if(for_s < 0 || window_s <= 0 || interval_s <= 0 || for_s > 30 * 86400 ||
     window_s > 90 * 86400 || interval_s > 86400)
    return mw_errf(err, MW_EVALIDATION,
                   "for_seconds must be >= 0, window_seconds and "
                   "interval_seconds > 0 (and at most 30, 90 and 1 days)");
  if(!alert_compare(op, 0, 0, &dummy))
    return mw_errf(err, MW_EVALIDATION, "op must be one of > >= < <= == !=");
  if(!cJSON_IsNumber(thr))
    return mw_errf(err, MW_EVALIDATION, "threshold must be a number");
  if(severity && (strlen(severity) == 0 || strlen(severity) > 32))
    return mw_errf(err, MW_EVALIDATION, "severity must be 1-32 characters");
  if(act && !cJSON_IsNull(act) && (!action || strcmp(action, "rollback")))
    return mw_errf(err, MW_EVALIDATION, "action must be \"rollback\" when given");
  if(action && !alias)
    return mw_errf(err, MW_EVALIDATION,
                   "the rollback action needs an alias to move back");
  if(!string_map(labels) || !string_map(annotations))
    return mw_errf(err, MW_EVALIDATION,
                   "labels and annotations must be objects of strings");
  char *column = NULL;
  mw_status s = alert_metric_check(metric, &column, err);
  if(s)
    return s;
  int64_t target = version;
  if(alias) {
    s = reg_alias_lookup(c, model, alias, &target, err);
    if(s == MW_ENOTFOUND)
      s = mw_errf(err, MW_EVALIDATION,
                  "model '%s' has no alias '%s' (or no such model)", model, alias);
  }
  if(!s && column)
    s = check_column(c, model, target, column, err);
  if(!s && !column) {
    reg_version_info vi;
    s = reg_version_lookup(c, model, target, &vi, err);
    reg_version_info_free(&vi);
    if(s == MW_ENOTFOUND)
      s = MW_EVALIDATION;
  }
  free(column);
  if(s)
    return s;

  char *lab = labels && !cJSON_IsNull(labels) ? cJSON_PrintUnformatted(labels) : NULL;
  char *ann = annotations && !cJSON_IsNull(annotations)
                  ? cJSON_PrintUnformatted(annotations) : NULL;
  char *ch = chans && !cJSON_IsNull(chans) ? cJSON_PrintUnformatted(chans) : NULL;
  s = mw_tx_begin(c);
  if(s)
    goto out;
  /* Inside the transaction: a channel deleted concurrently is either gone
   * here or sees this rule (alert_channel_delete refuses then). */
  s = check_channels(c, chans, err);
  if(s)
    goto out;
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO alert_rules(name, model, alias, version, metric, op, "
         "threshold, for_seconds, window_seconds, interval_seconds, severity, "
         "labels, annotations, channels, action, created_at, created_by, "
         "next_eval_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if(!st) {
    s = MW_EDB;
    goto out;
  }
  int64_t now = mw_now_ms();
  mw_bind_text(st, 1, name);
  mw_bind_text(st, 2, model);
  mw_bind_text(st, 3, alias);
  if(version > 0)
    sqlite3_bind_int64(st, 4, version);
  else
    sqlite3_bind_null(st, 4);
  mw_bind_text(st, 5, metric);
  mw_bind_text(st, 6, op);
  sqlite3_bind_double(st, 7, thr->valuedouble);
  sqlite3_bind_int64(st, 8, for_s);
  sqlite3_bind_int64(st, 9, window_s);
  sqlite3_bind_int64(st, 10, interval_s);
  mw_bind_text(st, 11, severity ? severity : "warning");
  mw_bind_text(st, 12, lab ? lab : "{}");
  mw_bind_text(st, 13, ann ? ann : "{}");
  mw_bind_text(st, 14, ch ? ch : "[]");
  mw_bind_text(st, 15, action);
  sqlite3_bind_int64(st, 16, now);
  mw_bind_text(st, 17, actor);
  sqlite3_bind_int64(st, 18, now + interval_s * 1000);
  s = mw_db_status(c, sqlite3_step(st));
  sqlite3_reset(st);
  if(s == MW_ECONFLICT)
    mw_errf(err, s, "an alert rule named '%s' already exists", name);
  if(!s)
    s = mw_audit(c, actor, "alert_rule.create", name, NULL);
  /* The answer is read before COMMIT: failing to read it afterwards would
   * report an error for a rule that was created. */
  if(!s)
    s = alert_rule_get(c, name, out, err);
  if(!s)
    s = mw_tx_commit(c);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
out:
  mw_tx_rollback(c);
  cJSON_free(lab);
  cJSON_free(ann);
  cJSON_free(ch);
  return s;
}

#define RULE_COLS                                                             \
  "name, model, alias, version, metric, op, threshold, for_seconds, "         \
  "window_seconds, interval_seconds, severity, labels, annotations, "         \
  "channels, action, created_at, created_by, state, active_since, "           \
  "last_eval_at, last_value, last_version, last_error, next_eval_at"

static cJSON *parse_col(sqlite3_stmt *st, int col, int array) {
  cJSON *j = cJSON_Parse(mw_col_text(st, col));
  return j ? j : array ? cJSON_CreateArray() : cJSON_CreateObject();
}

static cJSON *rule_json(sqlite3_stmt *st) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "name", mw_col_text(st, 0));
  cJSON_AddStringToObject(r, "model", mw_col_text(st, 1));
  if(sqlite3_column_type(st, 2) != SQLITE_NULL)
    cJSON_AddStringToObject(r, "alias", mw_col_text(st, 2));
  if(sqlite3_column_type(st, 3) != SQLITE_NULL)
    cJSON_AddNumberToObject(r, "version", (double)sqlite3_column_int64(st, 3));
  cJSON_AddStringToObject(r, "metric", mw_col_text(st, 4));
  cJSON_AddStringToObject(r, "op", mw_col_text(st, 5));
  cJSON_AddNumberToObject(r, "threshold", sqlite3_column_double(st, 6));
  cJSON_AddNumberToObject(r, "for_seconds", (double)sqlite3_column_int64(st, 7));
  cJSON_AddNumberToObject(r, "window_seconds", (double)sqlite3_column_int64(st, 8));
  cJSON_AddNumberToObject(r, "interval_seconds", (double)sqlite3_column_int64(st, 9));
  cJSON_AddStringToObject(r, "severity", mw_col_text(st, 10));
  cJSON_AddItemToObject(r, "labels", parse_col(st, 11, 0));
  cJSON_AddItemToObject(r, "annotations", parse_col(st, 12, 0));
  cJSON_AddItemToObject(r, "channels", parse_col(st, 13, 1));
  if(sqlite3_column_type(st, 14) != SQLITE_NULL)
    cJSON_AddStringToObject(r, "action", mw_col_text(st, 14));
  else
    cJSON_AddNullToObject(r, "action");
  mw_json_add_time(r, "created_at", sqlite3_column_int64(st, 15));
  cJSON_AddStringToObject(r, "created_by", mw_col_text(st, 16));
  cJSON *ev = cJSON_AddObjectToObject(r, "evaluation");
  cJSON_AddStringToObject(ev, "state", mw_col_text(st, 17));
  mw_json_add_time(ev, "active_since", sqlite3_column_type(st, 18) == SQLITE_NULL
                                           ? -1 : sqlite3_column_int64(st, 18));
  mw_json_add_time(ev, "last_eval_at", sqlite3_column_type(st, 19) == SQLITE_NULL
                                           ? -1 : sqlite3_column_int64(st, 19));
  if(sqlite3_column_type(st, 20) != SQLITE_NULL)
    cJSON_AddNumberToObject(ev, "last_value", sqlite3_column_double(st, 20));
  else
    cJSON_AddNullToObject(ev, "last_value");
  if(sqlite3_column_type(st, 21) != SQLITE_NULL)
    cJSON_AddNumberToObject(ev, "last_version", (double)sqlite3_column_int64(st, 21));
  else
    cJSON_AddNullToObject(ev, "last_version");
  if(sqlite3_column_type(st, 22) != SQLITE_NULL)
    cJSON_AddStringToObject(ev, "last_error", mw_col_text(st, 22));
  else
    cJSON_AddNullToObject(ev, "last_error");
  mw_json_add_time(ev, "next_eval_at", sqlite3_column_int64(st, 23));
  return r;
}

mw_status alert_rule_get(mw_conn *c, const char *name, cJSON **out, mw_err *err) {
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(c, "SELECT " RULE_COLS " FROM alert_rules WHERE name = ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, name);
  int rc = sqlite3_step(st);
  if(rc == SQLITE_ROW)
    *out = rule_json(st);
  sqlite3_reset(st);
  if(rc == SQLITE_ROW)
    return MW_OK;
  return rc == SQLITE_DONE ? mw_errf(err, MW_ENOTFOUND, "no alert rule named '%s'", name)
                           : mw_db_status(c, rc);
}

mw_status alert_rule_list(mw_conn *c, cJSON **out, mw_err *err) {
  (void)err;
  *out = NULL;
  sqlite3_stmt *st = mw_stmt(c, "SELECT " RULE_COLS " FROM alert_rules ORDER BY name");
  if(!st)
    return MW_EDB;
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "rules");
  int rc;
  while((rc = sqlite3_step(st)) == SQLITE_ROW)
    cJSON_AddItemToArray(arr, rule_json(st));
  sqlite3_reset(st);
  if(rc != SQLITE_DONE) {
    cJSON_Delete(root);
    return mw_db_status(c, rc);
  }
  *out = root;
  return MW_OK;
}

mw_status alert_rule_delete(mw_conn *c, const char *name, const char *actor,
                            mw_err *err) {
  return mw_delete_named(c, "DELETE FROM alert_rules WHERE name = ?", name, actor,
                         "alert_rule.delete", "alert rule", err);
}
