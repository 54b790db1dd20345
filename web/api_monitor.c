/* web/api_monitor.c - predictions, labels, reference sets, drift reports,
 * drift settings and history. Handlers resolve the model version through
 * the registry ({v} is a version number or an alias name), parse HTTP and
 * map the monitor's status to a reply; no SQL here.
 *
 * Comparisons of two versions of a model (canary and shadow rollouts) are
 * read-only: GET .../drift?baseline=<version> and GET .../shadow.
 *
 * Scopes: ingest for predictions and labels, promote for the reference
 * set, the drift settings and storing an evaluation on demand (they change
 * what every later verdict means), read for everything else. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "monitor/monitor.h"
#include "registry/registry.h"
#include "web/web_internal.h"

/* Longest window a report may cover. */
#define MAX_WINDOW_MS (400LL * 86400 * 1000)

/* cJSON prints 15 significant digits whenever they read back within an
 * epsilon, which drops the last bits of a statistic. Numbers that are not
 * integers are replaced by raw text: the shortest that reads back to
 * exactly the same double (as Python's repr), so clients can compare with
 * scipy bit for bit. */
static void exact_numbers(cJSON *node) {
  for(cJSON *it = node ? node->child : NULL; it;) {
    cJSON *next = it->next;
    int64_t whole;
    /* NaN and infinities stay numbers, which cJSON prints as null. */
    if(cJSON_IsNumber(it) && isfinite(it->valuedouble) && !mw_json_int(it, &whole)) {
      char buf[40];
      for(int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, it->valuedouble);
        if(strtod(buf, NULL) == it->valuedouble)
          break;
      }
      cJSON *raw = cJSON_CreateRaw(buf);
      /* Replacing by key gives the new item its key; in arrays the
       * position is enough. */
      if(raw && cJSON_IsObject(node))
        cJSON_ReplaceItemInObjectCaseSensitive(node, it->string, raw);
      else if(raw)
        cJSON_ReplaceItemViaPointer(node, it, raw);
    } else if(cJSON_IsObject(it) || cJSON_IsArray(it)) {
      exact_numbers(it);
    }
    it = next;
  }
}

static void finish(struct web_req *r, mw_status s, int ok_status, cJSON *out,
                   mw_err *err) {
  if(s) {
    cJSON_Delete(out);
    web_reply_err(r, s, err);
    return;
  }
  mw_err_clear(err);
  exact_numbers(out);
  web_reply_json(r, ok_status, out);
}

/* Resolves version vs of model (a number, or an alias such as
 * "production") into vi and mv (mv borrows from vi and model). The caller
 * frees vi with reg_version_info_free in every case. */
static mw_status resolve_version(struct web_req *r, const char *model,
                                 const char *vs, reg_version_info *vi,
                                 mon_version *mv, mw_err *err) {
  memset(vi, 0, sizeof *vi);
  int64_t version;
  mw_status s = MW_OK;
  if(mw_parse_i64(vs, &version))
    s = reg_alias_lookup(r->db, model, vs, &version, err);
  else if(version <= 0)
    return mw_errf(err, MW_ENOTFOUND,
                   "versions are positive integers or alias names");
  if(!s)
    s = reg_version_lookup(r->db, model, version, vi, err);
  if(s)
    return s;
  mv->id = vi->id;
  mv->model_id = vi->model_id;
  mv->model = model;
  mv->version = vi->version;
  mv->schema_json = vi->schema_json;
  return MW_OK;
}

/* Resolves {name} and {v} into vi and mv (resolve_version). On failure
 * the reply is sent and 0 returned; the caller frees vi with
 * reg_version_info_free in every case. */
static int resolve(struct web_req *r, reg_version_info *vi, mon_version *mv) {
  mw_err err = {{0}, NULL};
  mw_status s =
      resolve_version(r, web_param(r, "name"), web_param(r, "v"), vi, mv, &err);
  if(s) {
    web_reply_err(r, s, &err);
    return 0;
  }
  return 1;
}

/* Resolves the baseline of a comparison, version name (a number or an
 * alias of the same model), into vi and mv. On failure the reply is sent
 * and 0 returned; the caller frees vi with reg_version_info_free in every
 * case. */
static int resolve_baseline(struct web_req *r, const char *name,
                            reg_version_info *vi, mon_version *mv) {
  mw_err err = {{0}, NULL};
  mw_status s = resolve_version(r, web_param(r, "name"), name, vi, mv, &err);
  if(s == MW_ENOTFOUND) {
    /* The path's version exists: say that the baseline is the one
     * missing. */
    char msg[sizeof err.msg + 16];
    snprintf(msg, sizeof msg, "baseline: %s", err.msg);
    mw_err_clear(&err);
    web_reply_error(r, 404, "not_found", msg, NULL);
    return 0;
  }
  if(s) {
    web_reply_err(r, s, &err);
    return 0;
  }
  return 1;
}

/* Query parameter `name` as RFC 3339 into *ms (def when absent). On a bad
 * value the 400 reply is sent and 0 returned. */
static int time_param(struct web_req *r, const char *name, int64_t def,
                      int64_t *ms) {
  char buf[64];
  *ms = def;
  int has = web_query(r, name, buf, sizeof buf);
  if(has < 0)
    return 0;
  if(!has || !buf[0])
    return 1;
  if(web_query_time(buf, ms)) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "%s must be an RFC 3339 time such as 2026-11-27T08:00:00Z", name);
    web_reply_error(r, 400, "invalid", msg, NULL);
    return 0;
  }
  return 1;
}

/* from/to of a window: default the last hour; from < to. */
static int window_params(struct web_req *r, int64_t *from, int64_t *to) {
  int64_t now = mw_now_ms();
  if(!time_param(r, "to", now, to) || !time_param(r, "from", *to - 3600000, from))
    return 0;
  if(*from >= *to || *to - *from > MAX_WINDOW_MS) {
    web_reply_error(r, 400, "invalid",
                    "the window needs from < to and at most 400 days", NULL);
    return 0;
  }
  return 1;
}

/* A request body parsed by the monitor's arena parser (monitor/json.c:
 * about 3x faster than cJSON on a 1000-row batch, which is most of the CPU
 * an ingest request costs), with the same UTF-8 check, caps and answers as
 * the reader of web/http.c (one value, each key once per object), but
 * lenient in one way: NaN, Infinity, -Infinity read as null. */
struct body {
  mw_buf text;
  mon_doc *doc;
};

/* Reads and parses a JSON object body into b; on failure the reply is sent
 * and NULL returned. The root is borrowed until body_free, which must be
 * called in every case. */
static const cJSON *read_body(struct web_req *r, struct body *b) {
  b->doc = NULL;
  mw_buf_init(&b->text, 0);
  if(web_read_body(r, &b->text))
    return NULL;
  if(b->text.len == 0) {
    web_reply_error(r, 400, "invalid", "request body must be a JSON object", NULL);
    return NULL;
  }
  {
    /* The value count bounds the parser's arena (a node per value) before
     * it allocates any. */
    size_t limit, values;
    web_body_limits(web_route_body((size_t)r->route_index), &r->app->cfg, &limit,
                    &values);
    const char *code;
    char msg[160];
    cJSON *det;
    int status =
        web_json_utf8(b->text.data, b->text.len, &code, msg, sizeof msg, &det);
    if(!status)
      status = web_json_scan(b->text.data, b->text.len, values, &code, msg,
                             sizeof msg, &det);
    if(status) {
      web_reply_error(r, status, code, msg, det);
      return NULL;
    }
  }
  mon_doc_limits lim = {WEB_JSON_MAX_DEPTH, WEB_JSON_MAX_STRING, WEB_JSON_MAX_ARRAY};
  size_t off = 0;
  int why = 0;
  mw_status st = mon_doc_parse(b->text.data, b->text.len, &lim, &b->doc, &why, &off);
  if(st) {
    char msg[160];
    cJSON *det = NULL;
    if(why == MON_DOC_DEPTH) {
      snprintf(msg, sizeof msg, "JSON nested deeper than %d levels",
               WEB_JSON_MAX_DEPTH);
    } else if(why == MON_DOC_STRING || why == MON_DOC_KEY) {
      snprintf(msg, sizeof msg, "a JSON %s is longer than %d bytes",
               why == MON_DOC_KEY ? "key" : "string", WEB_JSON_MAX_STRING);
    } else if(why == MON_DOC_ITEMS) {
      snprintf(msg, sizeof msg, "a JSON array or object has more than %d items",
               WEB_JSON_MAX_ARRAY);
    } else if(st == MW_EINVAL) {
      snprintf(msg, sizeof msg, "request body is not valid JSON");
      det = cJSON_CreateObject();
      cJSON_AddNumberToObject(det, "offset", (double)off);
    } else {
      snprintf(msg, sizeof msg, "%s", mw_strerror(st));
    }
    web_reply_error(r, web_http_status(st),
                    st == MW_EINVAL ? "invalid_json" : mw_status_code(st), msg, det);
    return NULL;
  }
  const cJSON *root = mon_doc_root(b->doc);
  {
    const char *code;
    char msg[160];
    cJSON *det;
    int status = web_json_unique_keys(root, &code, msg, sizeof msg, &det);
    if(status) {
      web_reply_error(r, status, code, msg, det);
      return NULL;
    }
  }
  if(!cJSON_IsObject(root)) {
    web_reply_error(r, 400, "invalid", "request body must be a JSON object", NULL);
    return NULL;
  }
  return root;
}

static void body_free(struct body *b) {
  mon_doc_free(b->doc);
  b->doc = NULL;
  mw_buf_free(&b->text);
}

/* What a route does once its version is resolved (and, for write routes,
 * its body parsed): fills *out or err. */
typedef mw_status (*version_fn)(struct web_req *r, const mon_version *mv,
                                const cJSON *body, int64_t from, int64_t to,
                                cJSON **out, mw_err *err);

/* The shape every handler here shares: resolve the version, read the body
 * (with_body) or the window (with_window), run fn, reply 200 or the error. */
static void run_version(struct web_req *r, version_fn fn, bool with_body,
                        bool with_window) {
  reg_version_info vi;
  mon_version mv;
  struct body b;
  memset(&b, 0, sizeof b);
  int64_t from = 0, to = 0;
  const cJSON *body = NULL;
  if(resolve(r, &vi, &mv) && (!with_window || window_params(r, &from, &to)) &&
     (!with_body || (body = read_body(r, &b)))) {
    mw_err err = {{0}, NULL};
    cJSON *out = NULL;
    mw_status s = fn(r, &mv, body, from, to, &out, &err);
    finish(r, s, 200, out, &err);
  }
  if(with_body)
    body_free(&b);
  reg_version_info_free(&vi);
}

static cJSON *accepted(int64_t n) {
  cJSON *out = cJSON_CreateObject();
  cJSON_AddNumberToObject(out, "accepted", (double)n);
  return out;
}

/* ?on_invalid=reject|quarantine (absent: reject). 0 after a 400 reply. */
static int on_invalid_param(struct web_req *r, mon_on_invalid *mode) {
  char v[32];
  *mode = MON_INVALID_REJECT;
  int has = web_query(r, "on_invalid", v, sizeof v);
  if(has < 0)
    return 0;
  if(has > 0 && !mon_on_invalid_parse(v, mode)) {
    web_reply_error(r, 400, "invalid",
                    "on_invalid must be reject (the default: an invalid row "
                    "refuses the whole batch) or quarantine",
                    NULL);
    return 0;
  }
  return 1;
}

static mw_status do_predictions(struct web_req *r, const mon_version *mv,
                                const cJSON *body, int64_t from, int64_t to,
                                cJSON **out, mw_err *err) {
  (void)from, (void)to;
  int64_t n = 0, nq = 0;
  mon_on_invalid mode;
  if(!on_invalid_param(r, &mode)) /* checked by h_predictions already */
    return mw_errf(err, MW_EINVAL, "on_invalid is invalid");
  mw_status s = mon_ingest_predictions_ex(r->app->monitor, r->db, mv, body, mode, &n,
                                          &nq, err);
  if(!s) {
    *out = accepted(n);
    if(mode == MON_INVALID_QUARANTINE)
      cJSON_AddNumberToObject(*out, "quarantined", (double)nq);
  }
  return s;
}

static mw_status do_labels(struct web_req *r, const mon_version *mv,
                           const cJSON *body, int64_t from, int64_t to, cJSON **out,
                           mw_err *err) {
  (void)from, (void)to;
  int64_t n = 0;
  mw_status s = mon_ingest_labels(r->app->monitor, r->db, mv, body, &n, err);
  if(!s)
    *out = accepted(n);
  return s;
}

static mw_status do_reference_put(struct web_req *r, const mon_version *mv,
                                  const cJSON *body, int64_t from, int64_t to,
                                  cJSON **out, mw_err *err) {
  (void)from, (void)to;
  return mon_reference_put(r->app->monitor, r->db, mv, body, r->actor, out, err);
}

static mw_status do_reference_get(struct web_req *r, const mon_version *mv,
                                  const cJSON *body, int64_t from, int64_t to,
                                  cJSON **out, mw_err *err) {
  (void)body, (void)from, (void)to;
  return mon_reference_get(r->db, mv, out, err);
}

static mw_status do_drift(struct web_req *r, const mon_version *mv,
                          const cJSON *body, int64_t from, int64_t to, cJSON **out,
                          mw_err *err) {
  (void)body;
  return mon_drift_report(r->app->monitor, r->db, mv, from, to, out, err);
}

static mw_status do_drift_previous(struct web_req *r, const mon_version *mv,
                                   const cJSON *body, int64_t from, int64_t to,
                                   cJSON **out, mw_err *err) {
  (void)body;
  return mon_drift_report_previous(r->app->monitor, r->db, mv, from, to, out, err);
}

static mw_status do_evaluate(struct web_req *r, const mon_version *mv,
                             const cJSON *body, int64_t from, int64_t to,
                             cJSON **out, mw_err *err) {
  (void)body;
  return mon_drift_evaluate(r->app->monitor, r->db, mv, from, to, "api", r->actor,
                            out, err);
}

static void h_predictions(struct web_req *r) {
  mon_on_invalid mode;
  if(on_invalid_param(r, &mode))
    run_version(r, do_predictions, true, false);
}

/* GET .../quarantine?from&to&limit&page_token: the invalid rows kept by
 * ?on_invalid=quarantine (default window: everything retention kept). */
static void h_quarantine(struct web_req *r) {
  reg_version_info vi;
  mon_version mv;
  int64_t from, to, limit, after;
  if(resolve(r, &vi, &mv) && time_param(r, "to", INT64_MAX / 2, &to) &&
     time_param(r, "from", 0, &from) && !web_query_int(r, "limit", 100, &limit) &&
     !web_query_int(r, "page_token", 0, &after)) {
    if(limit < 1 || limit > 1000 || after < 0) {
      web_reply_error(r, 400, "invalid",
                      limit < 1 || limit > 1000 ? "limit must be 1-1000"
                                                : "page_token is invalid",
                      NULL);
    } else {
      mw_err err = {{0}, NULL};
      cJSON *out = NULL;
      mw_status s =
          mon_quarantine_list(r->db, &mv, from, to, (int)limit, after, &out, &err);
      finish(r, s, 200, out, &err);
    }
  }
  reg_version_info_free(&vi);
}
static void h_labels(struct web_req *r) { run_version(r, do_labels, true, false); }
static void h_reference_put(struct web_req *r) {
  run_version(r, do_reference_put, true, false);
}
static void h_reference_get(struct web_req *r) {
  run_version(r, do_reference_get, false, false);
}
/* What a comparison of the path's version with ?baseline=<version> does
 * once both are resolved. */
typedef mw_status (*compare_fn)(struct web_req *r, const mon_version *base,
                                const mon_version *cand, int64_t from, int64_t to,
                                cJSON **out, mw_err *err);

/* Resolves the path's version, the baseline named by baseline and the
 * window, runs fn and replies. */
static void run_compare(struct web_req *r, const char *baseline, compare_fn fn) {
  reg_version_info vi, bvi;
  mon_version mv, bmv;
  int64_t from = 0, to = 0;
  memset(&bvi, 0, sizeof bvi);
  if(resolve(r, &vi, &mv) && resolve_baseline(r, baseline, &bvi, &bmv) &&
     window_params(r, &from, &to)) {
    mw_err err = {{0}, NULL};
    cJSON *out = NULL;
    mw_status s = fn(r, &bmv, &mv, from, to, &out, &err);
    finish(r, s, 200, out, &err);
  }
  reg_version_info_free(&vi);
  reg_version_info_free(&bvi);
}

static mw_status do_drift_compare(struct web_req *r, const mon_version *base,
                                  const mon_version *cand, int64_t from, int64_t to,
                                  cJSON **out, mw_err *err) {
  return mon_drift_compare(r->app->monitor, r->db, base, cand, from, to, out, err);
}

static mw_status do_shadow(struct web_req *r, const mon_version *base,
                           const mon_version *cand, int64_t from, int64_t to,
                           cJSON **out, mw_err *err) {
  return mon_shadow_compare(r->db, base, cand, from, to, out, err);
}

/* GET .../drift: the report against the reference set, or with
 * ?baseline=<version> against that version's window of the same time
 * (mon_drift_compare: what a canary is judged by). */
/* GET .../drift?segment=<column>[&baseline=previous_window]: the report
 * with drift per segment (mon_drift_report_segments). */
static mw_status do_drift_segments(struct web_req *r, const mon_version *mv,
                                   const cJSON *body, int64_t from, int64_t to,
                                   cJSON **out, mw_err *err) {
  (void)body;
  char seg[160], baseline[160];
  if(web_query(r, "segment", seg, sizeof seg) <= 0)
    return mw_errf(err, MW_EINVAL, "segment: a column name is required");
  bool previous = web_query(r, "baseline", baseline, sizeof baseline) > 0 &&
                  !strcmp(baseline, "previous_window");
  return mon_drift_report_segments(r->app->monitor, r->db, mv, from, to, previous,
                                   seg, NULL, out, err);
}

static void h_drift(struct web_req *r) {
  char baseline[160];
  int has = web_query(r, "baseline", baseline, sizeof baseline);
  /* The keywords are reserved alias names (registry/aliases.c), so they
   * never hide an alias made since; one older than that is shadowed here
   * and can still be named by its version number. */
  char seg[160];
  int hs = web_query(r, "segment", seg, sizeof seg);
  if(hs < 0 || has < 0)
    return;
  if(hs > 0 && has > 0 && strcmp(baseline, "reference") &&
     strcmp(baseline, "previous_window"))
    web_reply_error(r, 400, "invalid",
                    "segment: segments compare with the reference or the "
                    "previous window (baseline=reference|previous_window), not "
                    "with another version",
                    NULL);
  else if(hs > 0)
    run_version(r, do_drift_segments, false, true);
  else if(has > 0 && !strcmp(baseline, "previous_window"))
    run_version(r, do_drift_previous, false, true);
  else if(has > 0 && strcmp(baseline, "reference"))
    run_compare(r, baseline, do_drift_compare);
  else if(has >= 0)
    run_version(r, do_drift, false, true);
}

/* GET .../shadow?baseline=<version>: the version's predictions of the
 * window paired by id with the baseline's (mon_shadow_compare). */
static void h_shadow(struct web_req *r) {
  char baseline[160];
  int has = web_query(r, "baseline", baseline, sizeof baseline);
  if(has > 0)
    run_compare(r, baseline, do_shadow);
  else if(has == 0)
    web_reply_error(r, 400, "invalid",
                    "baseline is required: the version whose predictions of "
                    "the same ids this one is compared with",
                    NULL);
}

static void h_evaluate(struct web_req *r) {
  run_version(r, do_evaluate, false, true);
}

static void h_history(struct web_req *r) {
  reg_version_info vi;
  mon_version mv;
  int64_t from, to;
  if(!resolve(r, &vi, &mv)) {
    reg_version_info_free(&vi);
    return;
  }
  int64_t now = mw_now_ms();
  if(time_param(r, "to", now, &to) &&
     time_param(r, "from", to - 7LL * 86400 * 1000, &from)) {
    char column[256] = "", metric[64] = "", lim[32] = "";
    int64_t limit = 1000;
    int has_lim = 0;
    if(web_query(r, "column", column, sizeof column) < 0 ||
       web_query(r, "metric", metric, sizeof metric) < 0 ||
       (has_lim = web_query(r, "limit", lim, sizeof lim)) < 0) {
      /* replied */
    } else if(has_lim && lim[0] &&
              (mw_parse_i64(lim, &limit) || limit < 1 || limit > 10000)) {
      web_reply_error(r, 400, "invalid", "limit must be 1-10000", NULL);
    } else {
      if(!metric[0])
        mw_strlcpy(metric, column[0] ? "score" : "drift_share", sizeof metric);
      mw_err err = {{0}, NULL};
      cJSON *out = NULL;
      mw_status s = mon_drift_history(r->db, &mv, column, metric, from, to,
                                      (int)limit, &out, &err);
      finish(r, s, 200, out, &err);
    }
  }
  reg_version_info_free(&vi);
}

static void h_config_get(struct web_req *r) {
  reg_version_info vi;
  mon_version mv;
  if(resolve(r, &vi, &mv)) {
    mw_err err = {{0}, NULL};
    cJSON *out = NULL;
    mw_status s = mon_drift_config_get(r->app->monitor, r->db, &mv, &out, &err);
    finish(r, s, 200, out, &err);
  }
  reg_version_info_free(&vi);
}

static void h_config_put(struct web_req *r) {
  reg_version_info vi;
  mon_version mv;
  if(!resolve(r, &vi, &mv)) {
    reg_version_info_free(&vi);
    return;
  }
  cJSON *body = web_read_json(r);
  if(body) {
    mw_err err = {{0}, NULL};
    cJSON *out = NULL;
    mw_status s = mon_drift_config_put(r->app->monitor, r->db, &mv, body, r->actor,
                                       &out, &err);
    cJSON_Delete(body);
    finish(r, s, 200, out, &err);
  }
  reg_version_info_free(&vi);
}

#define VERSION_PATH "/api/v1/models/{name}/versions/{v}"

const struct web_route web_routes_monitor[] = {
    {"POST", VERSION_PATH "/predictions", MW_SCOPE_INGEST, h_predictions},
    {"POST", VERSION_PATH "/labels", MW_SCOPE_INGEST, h_labels},
    {"PUT", VERSION_PATH "/reference", MW_SCOPE_PROMOTE, h_reference_put},
    {"GET", VERSION_PATH "/reference", MW_SCOPE_READ, h_reference_get},
    {"GET", VERSION_PATH "/drift", MW_SCOPE_READ, h_drift},
    {"GET", VERSION_PATH "/shadow", MW_SCOPE_READ, h_shadow},
    {"GET", VERSION_PATH "/quarantine", MW_SCOPE_READ, h_quarantine},
    {"POST", VERSION_PATH "/drift/evaluate", MW_SCOPE_PROMOTE, h_evaluate},
    {"GET", VERSION_PATH "/drift/history", MW_SCOPE_READ, h_history},
    {"GET", VERSION_PATH "/drift/config", MW_SCOPE_READ, h_config_get},
    {"PUT", VERSION_PATH "/drift/config", MW_SCOPE_PROMOTE, h_config_put},
};
const size_t web_routes_monitor_count =
    sizeof web_routes_monitor / sizeof web_routes_monitor[0];
