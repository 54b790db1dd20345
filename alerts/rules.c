/* alerts/rules.c - alert rules: checking a rule body (fields, then the
 * model, alias or version and the metric's column through the registry),
 * storing it with its channel list in one audited transaction, and the
 * rule's JSON (GET, list, delete). Evaluation is alerts/evaluator.c.
 *
 * Cost: a create is a few registry lookups, then one write transaction
 * with one statement per channel; a list is two statements (the rules,
 * then every rule's channel list) in one read snapshot. */
#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/store.h"
#include "registry/registry.h"

/* A rule body as the API takes it, its fields checked (borrowed from the
 * body). */
struct rule_body {
  const char *name, *model, *alias, *metric, *op, *severity, *action;
  double threshold;
  int64_t version, for_s, window_s, interval_s;
  const cJSON *labels, *annotations, *channels;
  /* segment {column: value}: the column and value (NULL: none). */
  const char *seg_column, *seg_value;
};

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

static int string_map(const cJSON *v) {
  if(!v || cJSON_IsNull(v))
    return 1;
  if(!cJSON_IsObject(v))
    return 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, v) {
    if(!cJSON_IsString(it) || strlen(it->valuestring) > 1024 ||
       strlen(it->string) > 128)
      return 0;
  }
  return 1;
}

/* Reads and checks the fields of body that need no database, in the order
 * their errors are reported. */
static mw_status parse_body(const cJSON *body, struct rule_body *b, mw_err *err) {
  memset(b, 0, sizeof *b);
  b->name = mw_json_str(body, "name");
  b->model = mw_json_str(body, "model");
  b->alias = mw_json_str(body, "alias");
  b->metric = mw_json_str(body, "metric");
  b->op = mw_json_str(body, "op");
  b->severity = mw_json_str(body, "severity");
  b->action = mw_json_str(body, "action");
  const cJSON *thr = cJSON_GetObjectItemCaseSensitive(body, "threshold");
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(body, "action");
  b->labels = cJSON_GetObjectItemCaseSensitive(body, "labels");
  b->annotations = cJSON_GetObjectItemCaseSensitive(body, "annotations");
  b->channels = cJSON_GetObjectItemCaseSensitive(body, "channels");
  int bad = 0, dummy;
  b->version = opt_int(body, "version", 0, &bad);
  b->for_s = opt_int(body, "for_seconds", 0, &bad);
  b->window_s = opt_int(body, "window_seconds", 3600, &bad);
  b->interval_s = opt_int(body, "interval_seconds", 60, &bad);
  if(!mw_name_valid(b->name))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  if(!b->model)
    return mw_errf(err, MW_EVALIDATION, "model is required");
  if(bad)
    return mw_errf(err, MW_EVALIDATION,
                   "version, for_seconds, window_seconds and interval_seconds "
                   "must be integers");
  if((b->alias != NULL) == (b->version > 0))
    return mw_errf(err, MW_EVALIDATION, "give exactly one of alias and version");
  if(b->version < 0)
    return mw_errf(err, MW_EVALIDATION, "version must be positive");
  if(b->for_s < 0 || b->window_s <= 0 || b->interval_s <= 0 ||
     b->for_s > 30 * 86400 || b->window_s > 90 * 86400 || b->interval_s > 86400)
    return mw_errf(err, MW_EVALIDATION,
                   "for_seconds must be >= 0, window_seconds and "
                   "interval_seconds > 0 (and at most 30, 90 and 1 days)");
  if(!alert_compare(b->op, 0, 0, &dummy))
    return mw_errf(err, MW_EVALIDATION, "op must be one of > >= < <= == !=");
  if(!cJSON_IsNumber(thr))
    return mw_errf(err, MW_EVALIDATION, "threshold must be a number");
  b->threshold = thr->valuedouble;
  if(b->severity && (strlen(b->severity) == 0 || strlen(b->severity) > 32))
    return mw_errf(err, MW_EVALIDATION, "severity must be 1-32 characters");
  if(act && !cJSON_IsNull(act) && (!b->action || strcmp(b->action, "rollback")))
    return mw_errf(err, MW_EVALIDATION, "action must be \"rollback\" when given");
  if(b->action && !b->alias)
    return mw_errf(err, MW_EVALIDATION,
                   "the rollback action needs an alias to move back");
  if(!string_map(b->labels) || !string_map(b->annotations))
    return mw_errf(err, MW_EVALIDATION,
                   "labels and annotations must be objects of strings");
  const cJSON *seg = cJSON_GetObjectItemCaseSensitive(body, "segment");
  if(seg && !cJSON_IsNull(seg)) {
    if(!cJSON_IsObject(seg) || !seg->child || seg->child->next ||
       !cJSON_IsString(seg->child) || !mw_name_valid(seg->child->string) ||
       strlen(seg->child->valuestring) > 1024)
      return mw_errf(err, MW_EVALIDATION,
                     "segment must be {\"<categorical column>\": \"<value>\"}: "
                     "one column and one value (a string of at most 1024 bytes)");
    b->seg_column = seg->child->string;
    b->seg_value = seg->child->valuestring;
  }
  return MW_OK;
}

/* A segment value of a hashed column is its hash as the dictionary holds
 * it (monitor/privacy.h): 64 lower-case hex digits. */
static bool is_hash_text(const char *v) {
  size_t n = 0;
  for(; v[n]; n++)
    if(!((v[n] >= '0' && v[n] <= '9') || (v[n] >= 'a' && v[n] <= 'f')))
      return false;
  return n == 64;
}

/* The segment column must be a categorical column of the version's
 * schema (a feature, or the prediction when it is categorical); a hashed
 * one (treated as categorical by the monitor) is named by the hash of its
 * value, never the value, which would be stored and audited in clear and
 * never match; a dropped one has no values. The value is never echoed. */
static mw_status check_segment(mw_conn *c, const char *model, int64_t version,
                               const char *column, const char *value, mw_err *err) {
  reg_version_info vi;
  mw_status s = reg_version_lookup(c, model, version, &vi, err);
  if(s) {
    reg_version_info_free(&vi);
    return s == MW_ENOTFOUND ? MW_EVALIDATION : s;
  }
  cJSON *schema = vi.schema_json ? cJSON_Parse(vi.schema_json) : NULL;
  const char *type = NULL, *privacy = NULL;
  if(!strcmp(column, "prediction"))
    type =
        mw_json_str(cJSON_GetObjectItemCaseSensitive(schema, "prediction"), "type");
  const cJSON *f;
  cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(schema, "features")) {
    const char *n = mw_json_str(f, "name");
    if(n && !strcmp(n, column)) {
      type = mw_json_str(f, "type");
      privacy = mw_json_str(f, "privacy");
    }
  }
  if(type && privacy && !strcmp(privacy, "hash"))
    type = "categorical";
  if(type && privacy && !strcmp(privacy, "drop"))
    s = mw_errf(err, MW_EVALIDATION,
                "segment: column '%s' is dropped (privacy \"drop\"): no row "
                "has a value of it",
                column);
  else if(type && privacy && !strcmp(privacy, "hash") && !is_hash_text(value))
    s = mw_errf(err, MW_EVALIDATION,
                "segment: column '%s' is hashed (privacy \"hash\"): give the "
                "value's hash (64 hex digits, as drift reports show it), not "
                "the value",
                column);
  else if(!type)
    s = mw_errf(err, MW_EVALIDATION,
                "segment: model '%s' version %lld has no column '%s' in its schema",
                model, (long long)version, column);
  else if(strcmp(type, "categorical"))
    s = mw_errf(err, MW_EVALIDATION,
                "segment: column '%s' is %s; segments are the values of a "
                "categorical column",
                column, type);
  cJSON_Delete(schema);
  reg_version_info_free(&vi);
  return s;
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
                   "model '%s' version %lld has no column '%s' in its schema", model,
                   (long long)version, column);
  return MW_OK;
}

/* The metric's name, and what the rule watches: the model, its alias or
 * version and, for a column metric, the column in that version's schema. */
static mw_status check_target(mw_conn *c, const struct rule_body *b, mw_err *err) {
  char *column = NULL;
  mw_status s = alert_metric_check(b->metric, &column, err);
  if(s)
    return s;
  int64_t target = b->version;
  if(b->alias) {
    s = reg_alias_lookup(c, b->model, b->alias, &target, err);
    if(s == MW_ENOTFOUND)
      s = mw_errf(err, MW_EVALIDATION,
                  "model '%s' has no alias '%s' (or no such model)", b->model,
                  b->alias);
  }
  if(!s && column)
    s = check_column(c, b->model, target, column, err);
  if(!s && b->seg_column)
    s = check_segment(c, b->model, target, b->seg_column, b->seg_value, err);
  if(!s && !column) {
    reg_version_info vi;
    s = reg_version_lookup(c, b->model, target, &vi, err);
    reg_version_info_free(&vi);
    if(s == MW_ENOTFOUND)
      s = MW_EVALIDATION;
  }
  free(column);
  return s;
}

static mw_status exists(void *ctx, const struct alert__channel_row *ch) {
  (void)ctx, (void)ch;
  return MW_OK;
}

/* Inside the transaction: a channel deleted concurrently is either gone
 * here or sees this rule (alert_channel_delete refuses then). */
static mw_status check_channels(mw_conn *c, const cJSON *chans, mw_err *err) {
  if(!chans)
    return MW_OK;
  if(!cJSON_IsArray(chans))
    return mw_errf(err, MW_EVALIDATION,
                   "channels must be an array of channel names");
  const cJSON *ch;
  cJSON_ArrayForEach(ch, chans) {
    if(!cJSON_IsString(ch))
      return mw_errf(err, MW_EVALIDATION,
                     "channels must be an array of channel names");
    mw_status s = alert__store(c)->channel_get(c, ch->valuestring, exists, NULL);
    if(s == MW_ENOTFOUND)
      return mw_errf(err, MW_EVALIDATION, "no channel named '%s'", ch->valuestring);
    if(s)
      return s;
  }
  return MW_OK;
}

/* Stores the checked rule with its channel list and audit row, and reads
 * it back, in one transaction. */
static mw_status insert_rule(mw_conn *c, const struct rule_body *b,
                             const char *actor, cJSON **out, mw_err *err) {
  const struct alert__store *st = alert__store(c);
  int has_labels = b->labels && !cJSON_IsNull(b->labels);
  int has_ann = b->annotations && !cJSON_IsNull(b->annotations);
  char *lab = has_labels ? cJSON_PrintUnformatted(b->labels) : NULL;
  char *ann = has_ann ? cJSON_PrintUnformatted(b->annotations) : NULL;
  cJSON *jseg = NULL;
  char *seg = NULL;
  if(b->seg_column && (jseg = cJSON_CreateObject()) &&
     cJSON_AddStringToObject(jseg, b->seg_column, b->seg_value))
    seg = cJSON_PrintUnformatted(jseg);
  cJSON_Delete(jseg);
  int64_t now = mw_now_ms(), id = 0;
  struct alert__rule_new r = {.name = b->name,
                              .model = b->model,
                              .alias = b->alias,
                              .version = b->version,
                              .metric = b->metric,
                              .op = b->op,
                              .threshold = b->threshold,
                              .for_s = b->for_s,
                              .window_s = b->window_s,
                              .interval_s = b->interval_s,
                              .severity = b->severity ? b->severity : "warning",
                              .labels = lab ? lab : "{}",
                              .annotations = ann ? ann : "{}",
                              .action = b->action,
                              .created_at = now,
                              .created_by = actor,
                              .next_eval_at = now + b->interval_s * 1000,
                              .segment = seg};
  mw_status s = (has_labels && !lab) || (has_ann && !ann) || (b->seg_column && !seg)
                    ? MW_ENOMEM
                    : mw_tx_begin(c);
  if(s)
    goto out;
  s = check_channels(c, b->channels, err);
  if(!s) {
    s = st->rule_insert(c, &r, &id);
    if(s == MW_ECONFLICT)
      mw_errf(err, s, "an alert rule named '%s' already exists", b->name);
  }
  int pos = 0;
  const cJSON *ch;
  cJSON_ArrayForEach(ch, b->channels) {
    if(!s)
      s = st->rule_add_channel(c, id, pos++, ch->valuestring);
  }
  if(!s)
    s = mw_audit(c, actor, "alert_rule.create", b->name, NULL);
  /* The answer is read before COMMIT: failing to read it afterwards would
   * report an error for a rule that was created. */
  if(!s)
    s = alert_rule_get(c, b->name, out, err);
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
  cJSON_free(seg);
  return s;
}

mw_status alert_rule_create(mw_conn *c, const cJSON *body, const char *actor,
                            cJSON **out, mw_err *err) {
  *out = NULL;
  struct rule_body b;
  mw_status s = parse_body(body, &b, err);
  if(!s)
    s = check_target(c, &b, err);
  if(s)
    return s;
  if(b.channels && cJSON_IsNull(b.channels))
    b.channels = NULL;
  return insert_rule(c, &b, actor, out, err);
}

/* ------------------------------------------------------------- JSON */

static cJSON *parse_or_empty(const char *text) {
  cJSON *j = cJSON_Parse(text);
  return j ? j : cJSON_CreateObject();
}

static cJSON *rule_json(const struct alert__rule_row *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", r->name);
  cJSON_AddStringToObject(o, "model", r->model);
  if(r->alias)
    cJSON_AddStringToObject(o, "alias", r->alias);
  if(r->version > 0)
    cJSON_AddNumberToObject(o, "version", (double)r->version);
  cJSON_AddStringToObject(o, "metric", r->metric);
  cJSON_AddStringToObject(o, "op", r->op);
  cJSON_AddNumberToObject(o, "threshold", r->threshold);
  cJSON_AddNumberToObject(o, "for_seconds", (double)r->for_s);
  cJSON_AddNumberToObject(o, "window_seconds", (double)r->window_s);
  cJSON_AddNumberToObject(o, "interval_seconds", (double)r->interval_s);
  cJSON_AddStringToObject(o, "severity", r->severity);
  cJSON_AddItemToObject(o, "labels", parse_or_empty(r->labels));
  cJSON_AddItemToObject(o, "annotations", parse_or_empty(r->annotations));
  cJSON_AddArrayToObject(o, "channels"); /* filled from the channel list */
  if(r->action)
    cJSON_AddStringToObject(o, "action", r->action);
  else
    cJSON_AddNullToObject(o, "action");
  if(r->segment) {
    cJSON *seg = cJSON_Parse(r->segment);
    if(seg)
      cJSON_AddItemToObject(o, "segment", seg);
  }
  mw_json_add_time(o, "created_at", r->created_at);
  cJSON_AddStringToObject(o, "created_by", r->created_by);
  cJSON *ev = cJSON_AddObjectToObject(o, "evaluation");
  cJSON_AddStringToObject(ev, "state", r->state);
  mw_json_add_time(ev, "active_since", r->active_since);
  mw_json_add_time(ev, "last_eval_at", r->last_eval_at);
  if(!isnan(r->last_value))
    cJSON_AddNumberToObject(ev, "last_value", r->last_value);
  else
    cJSON_AddNullToObject(ev, "last_value");
  if(r->last_version >= 0)
    cJSON_AddNumberToObject(ev, "last_version", (double)r->last_version);
  else
    cJSON_AddNullToObject(ev, "last_version");
  if(r->last_error)
    cJSON_AddStringToObject(ev, "last_error", r->last_error);
  else
    cJSON_AddNullToObject(ev, "last_error");
  mw_json_add_time(ev, "next_eval_at", r->next_eval_at);
  return o;
}

/* A rule read, and its JSON (owned by the list it is in). */
struct rule_ref {
  int64_t id;
  cJSON *json;
};

/* Rules read so far (sorted by id once all are read). */
struct rules_read {
  struct rule_ref *v;
  size_t n, cap;
  cJSON *arr; /* the list's "rules" array, in name order */
};

static mw_status add_rule(void *ctx, const struct alert__rule_row *row) {
  struct rules_read *rr = ctx;
  if(rr->n == rr->cap) {
    size_t ncap = rr->cap ? rr->cap * 2 : 16;
    struct rule_ref *nv = realloc(rr->v, ncap * sizeof *nv);
    if(!nv)
      return MW_ENOMEM;
    rr->v = nv;
    rr->cap = ncap;
  }
  cJSON *j = rule_json(row);
  if(!j || !cJSON_AddItemToArray(rr->arr, j)) {
    cJSON_Delete(j);
    return MW_ENOMEM;
  }
  rr->v[rr->n].id = row->id;
  rr->v[rr->n++].json = j;
  return MW_OK;
}

static int cmp_ref(const void *a, const void *b) {
  const struct rule_ref *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static mw_status add_channel(void *ctx, int64_t rule_id, const char *channel) {
  struct rules_read *rr = ctx;
  struct rule_ref key = {rule_id, NULL};
  struct rule_ref *hit = bsearch(&key, rr->v, rr->n, sizeof *rr->v, cmp_ref);
  if(!hit)
    return MW_OK; /* not in the list */
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(hit->json, "channels");
  cJSON *s = cJSON_CreateString(channel);
  if(!s || !cJSON_AddItemToArray(arr, s)) {
    cJSON_Delete(s);
    return MW_ENOMEM;
  }
  return MW_OK;
}

/* Reads one rule (name) or all (NULL) with their channel lists into
 * rr->arr, in one snapshot. */
static mw_status read_rules(mw_conn *c, const char *name, struct rules_read *rr) {
  const struct alert__store *st = alert__store(c);
  int own = mw_tx_state(c) == 0;
  mw_status s = own ? mw_tx_read(c) : MW_OK;
  if(!s)
    s = name ? st->rule_get(c, name, add_rule, rr) : st->rule_list(c, add_rule, rr);
  if(!s && rr->n) {
    qsort(rr->v, rr->n, sizeof *rr->v, cmp_ref);
    s = st->rule_channels(c, rr->n == 1 ? rr->v[0].id : 0, add_channel, rr);
  }
  if(own)
    mw_tx_rollback(c);
  free(rr->v);
  rr->v = NULL;
  return s;
}

mw_status alert_rule_get(mw_conn *c, const char *name, cJSON **out, mw_err *err) {
  *out = NULL;
  struct rules_read rr = {.arr = cJSON_CreateArray()};
  if(!rr.arr)
    return MW_ENOMEM;
  mw_status s = read_rules(c, name, &rr);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no alert rule named '%s'", name);
  if(!s)
    *out = cJSON_DetachItemFromArray(rr.arr, 0);
  cJSON_Delete(rr.arr);
  return s;
}

mw_status alert_rule_list(mw_conn *c, cJSON **out, mw_err *err) {
  (void)err;
  *out = NULL;
  cJSON *root = cJSON_CreateObject();
  struct rules_read rr = {.arr = cJSON_AddArrayToObject(root, "rules")};
  if(!rr.arr) {
    cJSON_Delete(root);
    return MW_ENOMEM;
  }
  mw_status s = read_rules(c, NULL, &rr);
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

mw_status alert_rule_delete(mw_conn *c, const char *name, const char *actor,
                            mw_err *err) {
  assert(name);
  mw_status s = mw_tx_begin(c);
  if(s)
    return s;
  s = alert__store(c)->rule_delete(c, name);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no alert rule named '%s'", name);
  if(!s)
    s = mw_audit(c, actor, "alert_rule.delete", name, NULL);
  if(!s)
    return mw_tx_commit(c);
  mw_tx_rollback(c);
  return s;
}
