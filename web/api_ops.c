/* web/api_ops.c - /healthz, /readyz and /metrics. */
#include <stdio.h>
#include <string.h>

#include "alerts/alerts.h"
#include "monitor/monitor.h"
#include "web/web_internal.h"

static void h_healthz(struct web_req *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "status", "ok");
  web_reply_json(r, 200, o);
}

static void h_readyz(struct web_req *r) {
  int version = 0;
  mw_status st = r->db ? mw_db_ping(r->db) : MW_EBUSY;
  if(!st)
    st = mw_schema_version(r->db, &version);
  cJSON *o = cJSON_CreateObject();
  if(st || version != mw_migrations_latest()) {
    cJSON_AddStringToObject(o, "status", "unavailable");
    cJSON_AddStringToObject(o, "database",
                            st ? mw_strerror(st) : "schema not migrated");
    web_reply_json(r, 503, o);
    return;
  }
  cJSON_AddStringToObject(o, "status", "ready");
  cJSON_AddStringToObject(o, "database", "ok");
  cJSON_AddNumberToObject(o, "schema_version", version);
  web_reply_json(r, 200, o);
}

/* modelwatch_alerts{rule,model,state,severity} 1 per rule: its state now
 * (inactive, pending, firing, nodata), as stored by the last evaluation of
 * whichever replica ran it. */
static mw_status render_alert_states(struct web_req *r, mw_buf *out) {
  cJSON *list = NULL;
  mw_err err = {0};
  mw_status st = alert_rule_list(r->db, &list, &err);
  mw_err_clear(&err);
  if(!st)
    st =
        mw_buf_printf(out, "# HELP modelwatch_alerts Each alert rule's state now (1 "
                           "for the state it is in).\n"
                           "# TYPE modelwatch_alerts gauge\n");
  const cJSON *rule;
  cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(list, "rules")) {
    if(st)
      break;
    const char *state =
        mw_json_str(cJSON_GetObjectItemCaseSensitive(rule, "evaluation"), "state");
    const char *sev = mw_json_str(rule, "severity");
    if((st = mw_buf_printf(out, "modelwatch_alerts{rule=\"")) ||
       (st = mw_buf_label(out, mw_json_str(rule, "name"))) ||
       (st = mw_buf_printf(out, "\",model=\"")) ||
       (st = mw_buf_label(out, mw_json_str(rule, "model"))) ||
       (st = mw_buf_printf(out, "\",state=\"")) ||
       (st = mw_buf_label(out, state ? state : "inactive")) ||
       (st = mw_buf_printf(out, "\",severity=\"")) ||
       (st = mw_buf_label(out, sev ? sev : "")) ||
       (st = mw_buf_printf(out, "\"} 1\n")))
      break;
  }
  cJSON_Delete(list);
  return st;
}

static void h_metrics(struct web_req *r) {
  mw_buf out;
  mw_buf_init(&out, 64u << 20);
  mw_status st = web_metrics_render(r->app->metrics, &out);
  if(!st)
    st = mw_buf_printf(
        &out,
        "# HELP modelwatch_build_info Build information.\n"
        "# TYPE modelwatch_build_info gauge\n"
        "modelwatch_build_info{version=\"%s\",schema=\"%d\"} 1\n"
        "# HELP modelwatch_process_start_time_seconds Start time of the "
        "process since the Unix epoch in seconds.\n"
        "# TYPE modelwatch_process_start_time_seconds gauge\n"
        "modelwatch_process_start_time_seconds %.3f\n"
        "# HELP modelwatch_database_size_bytes Size of the SQLite database "
        "and its write-ahead log.\n"
        "# TYPE modelwatch_database_size_bytes gauge\n"
        "modelwatch_database_size_bytes %lld\n",
        MW_VERSION, mw_migrations_latest(), (double)r->app->started_ms / 1000.0,
        (long long)mw_db_size(r->app->db));
  if(!st)
    st = alert_delivery_metrics_render(r->app->delivery, r->db, &out);
  if(!st)
    st = render_alert_states(r, &out);
  if(!st)
    st = mon_metrics_render(r->app->monitor, r->db, &out);
  if(st) {
    mw_buf_free(&out);
    web_reply_status(r, st, "could not render metrics");
    return;
  }
  web_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data,
                out.len, NULL);
  mw_buf_free(&out);
}

static void h_cluster(struct web_req *r) {
  cJSON *out = NULL;
  mw_status st = mw_cluster_list(r->db, &out);
  if(st) {
    web_reply_status(r, st, "could not list the replicas");
    return;
  }
  web_reply_json(r, 200, out);
}

const struct web_route web_routes_ops[] = {
    {"GET", "/healthz", MW_SCOPE_NONE, h_healthz},
    {"GET", "/readyz", MW_SCOPE_NONE, h_readyz},
    /* Per-model drift and feature names: a token with read or metrics,
     * unless --metrics-public (web/server.c). */
    {"GET", "/metrics", MW_SCOPE_METRICS, h_metrics},
    {"GET", "/api/v1/cluster", MW_SCOPE_READ, h_cluster},
};
const size_t web_routes_ops_count = sizeof web_routes_ops / sizeof web_routes_ops[0];
