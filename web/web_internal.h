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

/* Each handler file owns the routes of its resource in a table declared
 * with WEB_ROUTES(name); web/routes.c lists the tables and joins them. */
#define WEB_ROUTES(name)                                \
  extern const struct web_route web_routes_##name[];    \
  extern const size_t web_routes_##name##_count
WEB_ROUTES(ops);
WEB_ROUTES(tokens);
WEB_ROUTES(registry);
WEB_ROUTES(nodes);
WEB_ROUTES(monitor);
WEB_ROUTES(alerts);
WEB_ROUTES(session);
WEB_ROUTES(channels);

/* The joined route table (built once, thread-safe); *n receives its size. */
const struct web_route *web_route_table(size_t *n);

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
  int via_session;          /* authenticated by the dashboard's cookie */
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
/* As web_read_json, but an empty body is fine (*out = NULL). Returns 0 on
 * success; otherwise the error reply has been sent. */
int web_read_json_opt(struct web_req *r, cJSON **out);
/* The parsing half of web_read_json for a body already in memory (len
 * bytes): UTF-8 (web_json_utf8) and nesting checked before parsing, then
 * the caps on strings, keys and arrays, then an object at the top. Returns
 * 0 with *out set (caller cJSON_Deletes); otherwise the HTTP status for
 * the error, with *code (static), msg (cap bytes) and *details (caller
 * frees; may be NULL) filled and *out NULL. */
int web_json_parse(const char *data, size_t len, cJSON **out,
                   const char **code, char *msg, size_t cap, cJSON **details);
/* Checks that a JSON request body (len bytes) is UTF-8, as RFC 8259
 * requires of JSON text, before any parser sees it: every JSON route's
 * body goes through here (web_json_parse, and the ingest routes of
 * web/api_monitor.c, which have their own parser). Returns 0 when it is;
 * otherwise 400 with *code "invalid_json", msg (cap bytes) naming the byte
 * offset of the first bad sequence and *details {"offset": n} (caller
 * frees). */
int web_json_utf8(const char *data, size_t len, const char **code, char *msg,
                  size_t cap, cJSON **details);

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
/* Streams the file at path (size bytes) with content type and extra header
 * lines; 500 if it cannot be opened. */
void web_reply_file(struct web_req *r, const char *path, int64_t size,
                    const char *ctype, const char *extra_headers);
/* Integer query parameter: *out = dflt when absent; 0 on success, otherwise
 * a 400 reply has been sent. */
int web_query_int(struct web_req *r, const char *name, int64_t dflt,
                  int64_t *out);
/* Parses an RFC 3339 time from a query parameter's decoded value s,
 * first turning spaces after the seconds back into '+' (an offset's '+'
 * arrives as a space when the client did not encode it). MW_EINVAL when
 * malformed. */
mw_status web_query_time(char *s, int64_t *ms);
/* The registry's view of the app (data directory, external URL). */
struct reg_env;
void web_reg_env(struct web_req *r, struct reg_env *env);
/* Replies with st mapped to HTTP, e's message (or the default) and e's
 * details (taken over), then clears e. */
void web_reply_err(struct web_req *r, mw_status st, mw_err *e);
/* The usual end of a handler: on MW_OK sends out (taken over) with
 * ok_status, otherwise the error of s and e (out is freed). */
void web_reply_result(struct web_req *r, mw_status s, int ok_status, cJSON *out,
                      mw_err *e);
/* HTTP status for an mw_status. */
int web_http_status(mw_status st);

/* ---- per-token rate limit (web/ratelimit.c) ---- */
struct web_ratelimit;
/* NULL (no limit) when rate <= 0. Free with web_ratelimit_free. */
struct web_ratelimit *web_ratelimit_new(int rate, int burst);
void web_ratelimit_free(struct web_ratelimit *rl);
/* Takes one request from token_id's bucket: 0 when allowed, otherwise the
 * seconds until a request would be. A NULL limiter allows everything. */
double web_ratelimit_take(struct web_ratelimit *rl, int64_t token_id,
                          int64_t now_ns);

/* Largest JSON nesting, string and array accepted in request bodies. */
#define WEB_JSON_MAX_DEPTH 32
#define WEB_JSON_MAX_STRING 65536
#define WEB_JSON_MAX_ARRAY 100000

/* ---- metrics (web/metrics.c) ---- */
struct web_metrics *web_metrics_new(size_t nroutes);
void web_metrics_free(struct web_metrics *m);
/* Records one request: route index (-1 or past the end: unmatched), status, seconds. */
void web_metrics_observe(struct web_metrics *m, int route, int status,
                         double seconds);
/* Appends the Prometheus text exposition of HTTP metrics to out. */
mw_status web_metrics_render(struct web_metrics *m, mw_buf *out);

#endif
