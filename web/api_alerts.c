/* web/api_alerts.c - alert rules, alerts (ack), silences. */
#include <string.h>

#include "alerts/alerts.h"
#include "web/web_internal.h"

static int id_param(struct web_req *r, int64_t *id) {
  if(mw_parse_i64(web_param(r, "id"), id) || *id <= 0) {
    web_reply_error(r, 404, "not_found", "ids are positive integers", NULL);
    return 0;
  }
  return 1;
}

static void h_rules_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_rule_create(r->db, body, r->actor, &out, &err);
  cJSON_Delete(body);
  web_reply_result(r, s, 201, out, &err);
}

static void h_rules_list(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_rule_list(r->db, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_rule_get(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_rule_get(r->db, web_param(r, "name"), &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_rule_delete(struct web_req *r) {
  mw_err err = {0};
  mw_status s = alert_rule_delete(r->db, web_param(r, "name"), r->actor, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "deleted", web_param(r, "name"));
  }
  web_reply_result(r, s, 200, out, &err);
}

static void h_rule_evaluate(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = MW_EBUSY;
  if(r->app->alert_env)
    s = alert_rule_evaluate(r->db, r->app->alert_env, web_param(r, "name"), r->actor,
                            &out, &err);
  else
    mw_errf(&err, s, "the alert evaluator is not running");
  web_reply_result(r, s, 200, out, &err);
}

static void h_alerts_list(struct web_req *r) {
  char state[32];
  int has = web_query(r, "state", state, sizeof state);
  if(has < 0)
    return;
  int64_t limit;
  if(web_query_int(r, "limit", 100, &limit))
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_list(r->db, has ? state : NULL, (int)limit, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_alert_ack(struct web_req *r) {
  int64_t id;
  if(!id_param(r, &id))
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_ack(r->db, id, r->actor, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_silences_create(struct web_req *r) {
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_silence_create(r->db, body, r->actor, &out, &err);
  cJSON_Delete(body);
  web_reply_result(r, s, 201, out, &err);
}

static void h_silences_list(struct web_req *r) {
  mw_err err = {0};
  cJSON *out = NULL;
  mw_status s = alert_silence_list(r->db, &out, &err);
  web_reply_result(r, s, 200, out, &err);
}

static void h_silence_delete(struct web_req *r) {
  int64_t id;
  if(!id_param(r, &id))
    return;
  mw_err err = {0};
  mw_status s = alert_silence_expire(r->db, id, r->actor, &err);
  cJSON *out = NULL;
  if(!s) {
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "expired", (double)id);
  }
  web_reply_result(r, s, 200, out, &err);
}

const struct web_route web_routes_alerts[] = {
    {"POST", "/api/v1/alert-rules", MW_SCOPE_ADMIN, h_rules_create},
    {"GET", "/api/v1/alert-rules", MW_SCOPE_READ, h_rules_list},
    {"GET", "/api/v1/alert-rules/{name}", MW_SCOPE_READ, h_rule_get},
    {"DELETE", "/api/v1/alert-rules/{name}", MW_SCOPE_ADMIN, h_rule_delete},
    {"POST", "/api/v1/alert-rules/{name}/evaluate", MW_SCOPE_ADMIN, h_rule_evaluate},
    {"GET", "/api/v1/alerts", MW_SCOPE_READ, h_alerts_list},
    {"POST", "/api/v1/alerts/{id}/ack", MW_SCOPE_PROMOTE, h_alert_ack},
    {"POST", "/api/v1/silences", MW_SCOPE_PROMOTE, h_silences_create},
    {"GET", "/api/v1/silences", MW_SCOPE_READ, h_silences_list},
    {"DELETE", "/api/v1/silences/{id}", MW_SCOPE_PROMOTE, h_silence_delete},
};
const size_t web_routes_alerts_count =
    sizeof web_routes_alerts / sizeof web_routes_alerts[0];
