/* web/web_internal.h - what handler files inside web/ share: the request
 * context, reply helpers and the route table. Not for other subsystems. */
#ifndef MW_WEB_INTERNAL_H
#define MW_WEB_INTERNAL_H

#include <civetweb.h>

#include "web/web.h"

struct web_req;
typedef void (*web_handler)(struct web_req *r);

struct web_route {
  const char *method;
  const char *pattern;
  unsigned scope; /* MW_SCOPE_NONE: no token needed */
  web_handler handler;
};

extern const struct web_route web_routes[];
extern const size_t web_routes_count;

struct web_req {
  struct mg_connection *conn;
  const struct mg_request_info *ri;
  struct mw_app *app;
  mw_conn *db;              /* this thread's database connection */
  const struct web_route *route;
  int route_index;
  int nparams;
  const char *pnames[WEB_MAX_PARAMS];
  size_t pnamelen[WEB_MAX_PARAMS];
  char pvals[WEB_MAX_PARAMS][256];
  mw_token_info token;      /* who is calling (when the route needs a scope) */
  char actor[160];          /* "token:<name>" for audit rows */
  int status;               /* status sent, for metrics and the access log */
  int64_t bytes_sent;
  int replied;
};

/* Path parameter by name (borrowed from r), or NULL. */
const char *web_param(struct web_req *r, const char *name);
/* Query parameter by name, percent-decoded into buf. 1 if present. */
int web_query(struct web_req *r, const char *name, char *buf, size_t cap);
/* Request header value (borrowed) or NULL. */
const char *web_header(struct web_req *r, const char *name);

/* Reads the whole body, at most limit bytes. On failure it has already sent
 * the error reply (413 past the limit, 400 on a broken stream) and returns
 * non-zero; on success the caller frees out with mw_buf_free. */
mw_status web_read_body(struct web_req *r, size_t limit, mw_buf *out);
/* Reads and parses a JSON object body (limit: cfg.max_body). On failure the
 * error reply is sent and NULL returned; otherwise caller cJSON_Deletes. */
cJSON *web_read_json(struct web_req *r);

/* Sends status with a JSON body (takes ownership of body and frees it;
 * NULL sends an empty object). */
void web_reply_json(struct web_req *r, int status, cJSON *body);
/* Sends raw bytes with a content type. */
void web_reply_raw(struct web_req *r, int status, const char *ctype,
                   const char *data, size_t len, const char *extra_headers);
/* Sends {"error": {"code", "message", "details"}}; details may be NULL and
 * is taken over. */
void web_reply_error(struct web_req *r, int status, const char *code,
                     const char *message, cJSON *details);
/* Maps a status from a lower layer to the HTTP error reply. */
void web_reply_status(struct web_req *r, mw_status st, const char *message);
/* HTTP status for an mw_status. */
int web_http_status(mw_status st);

/* ---- metrics (web/metrics.c) ---- */
struct web_metrics *web_metrics_new(size_t nroutes);
void web_metrics_free(struct web_metrics *m);
/* Records one request: route index (nroutes for unmatched), status, seconds. */
void web_metrics_observe(struct web_metrics *m, int route, int status,
                         double seconds);
/* Appends the Prometheus text exposition of HTTP metrics to out. */
mw_status web_metrics_render(struct web_metrics *m, mw_buf *out);

/* ---- handlers ---- */
void web_h_healthz(struct web_req *r);
void web_h_readyz(struct web_req *r);
void web_h_metrics(struct web_req *r);
void web_h_tokens_create(struct web_req *r);
void web_h_tokens_list(struct web_req *r);
void web_h_tokens_delete(struct web_req *r);

#endif
