/* web/web_internal.h - what handler files inside web/ share: the request
 * context, reply helpers and the route table. Not for other subsystems. */
#ifndef MW_WEB_INTERNAL_H
#define MW_WEB_INTERNAL_H

#include <civetweb.h>

#include "web/web.h"

struct web_req;
typedef void (*web_handler)(struct web_req *r);

/* The request body a route takes, which sets how much of one is read:
 * a Content-Length past the cap is refused (413) before anything is read
 * or any token checked, and a chunked body as soon as it passes the cap.
 * JSON bodies are further capped in values (what a parser allocates a
 * node for) before any parser sees them. Every route takes SMALL unless
 * web/routes.c lists it; the caps are web_body_limits'. */
enum web_body {
  WEB_BODY_SMALL = 0, /* JSON objects of 1 MB, 65536 values */
  WEB_BODY_TINY,      /* sign-in: 4 KB, 16 values, read without a token */
  WEB_BODY_METADATA,  /* models and versions (tags, metrics, params,
                         schema): 8 MB, 65536 values */
  WEB_BODY_BULK,      /* predictions, labels, reference rows: --max-body,
                         one value per 8 bytes */
  WEB_BODY_ARTIFACT,  /* raw bytes streamed to disk: --max-artifact */
};

struct web_route {
  const char *method;
  const char *pattern;
  unsigned scope; /* MW_SCOPE_NONE: no token needed */
  web_handler handler;
};

/* Caps on a body of kind `body` under cfg: bytes, and JSON values (0 for
 * raw bodies). */
void web_body_limits(enum web_body body, const mw_config *cfg, size_t *bytes,
                     size_t *values);

/* Each handler file owns the routes of its resource in a table declared
 * with WEB_ROUTES(name); web/routes.c lists the tables and joins them. */
#define WEB_ROUTES(name)                             \
  extern const struct web_route web_routes_##name[]; \
  extern const size_t web_routes_##name##_count
WEB_ROUTES(ops);
WEB_ROUTES(tokens);
WEB_ROUTES(registry);
WEB_ROUTES(governance);
WEB_ROUTES(nodes);
WEB_ROUTES(monitor);
WEB_ROUTES(alerts);
WEB_ROUTES(session);
WEB_ROUTES(channels);
WEB_ROUTES(subscriptions);
WEB_ROUTES(rollouts);
WEB_ROUTES(privacy);

/* The joined route table (built once, thread-safe); *n receives its size. */
const struct web_route *web_route_table(size_t *n);
/* The body route i of the joined table takes (web/routes.c). */
enum web_body web_route_body(size_t i);

struct web_req {
  struct mg_connection *conn;
  const struct mg_request_info *ri;
  struct mw_app *app;
  mw_conn *db; /* this thread's database connection */
  const struct web_route *route;
  int route_index;
  int nparams;
  const char *pnames[WEB_MAX_PARAMS];
  size_t pnamelen[WEB_MAX_PARAMS];
  char pvals[WEB_MAX_PARAMS][256];
  mw_token_info token; /* who is calling (when the route needs a scope) */
  char actor[160];     /* "token:<name>" for audit rows */
  int via_session;     /* authenticated by the dashboard's cookie */
  int status;          /* status sent, for metrics and the access log */
  int64_t bytes_sent;
  int replied;
  int body_done; /* the request body was read to its end */
};

/* The value of a hexadecimal digit, or -1 (web/router.c). */
int web_hex_digit(char c);
/* Path parameter by name (borrowed from r), or NULL. */
const char *web_param(struct web_req *r, const char *name);
/* What web_query_get finds. */
enum web_query_result {
  WEB_QUERY_ABSENT = 0,
  WEB_QUERY_FOUND,
  WEB_QUERY_TOO_LONG,  /* the decoded value does not fit the buffer */
  WEB_QUERY_MALFORMED, /* a bad %-escape, or one that decodes to NUL */
  WEB_QUERY_REPEATED,  /* the parameter appears more than once */
};
/* Looks up parameter `name` (compared case-insensitively, as CivetWeb
 * does) in the query string qs (may be NULL) and percent-decodes its value
 * ('+' is a space) into buf (cap bytes, always NUL-terminated; empty
 * unless found). A value is never cut short to fit: that is TOO_LONG. */
enum web_query_result web_query_get(const char *qs, const char *name, char *buf,
                                    size_t cap);
/* Query parameter by name, percent-decoded into buf: 1 if present, 0 if
 * absent, -1 when too long for buf, malformed or repeated, in which case
 * a 400 naming the parameter has been sent and the handler must return. */
int web_query(struct web_req *r, const char *name, char *buf, size_t cap);
/* Request header value (borrowed) or NULL. */
const char *web_header(struct web_req *r, const char *name);

/* Reads the whole body, at most the route's byte cap (web_body_limits).
 * On failure it has already sent the error reply (413 past the limit, 400
 * on a broken stream, 408 when the client stops sending) and returns
 * non-zero; on success the caller frees out with mw_buf_free. */
mw_status web_read_body(struct web_req *r, mw_buf *out);
/* Reads up to cap bytes of the body into buf: > 0 bytes read, 0 at its
 * end, -1 when the stream broke or made no progress for the request
 * timeout (--request-timeout-ms; no reply sent). CivetWeb gives up on one
 * read after the header timeout; this keeps waiting while the client
 * stays within the request timeout. Every body read goes through here. */
int web_read_some(struct web_req *r, char *buf, size_t cap);
/* Reads and parses a JSON object body (caps: the route's). On failure the
 * error reply is sent and NULL returned; otherwise caller cJSON_Deletes. */
cJSON *web_read_json(struct web_req *r);
/* As web_read_json, but an empty body is fine (*out = NULL). Returns 0 on
 * success; otherwise the error reply has been sent. */
int web_read_json_opt(struct web_req *r, cJSON **out);
/* The parsing half of web_read_json for a body already in memory (len
 * bytes): UTF-8 (web_json_utf8), then web_json_scan (nesting, items per
 * array or object, at most max_values values, control characters) before
 * cJSON allocates anything; then one value and nothing but whitespace
 * after it, the caps on strings and keys, no key twice in an object, and
 * an object at the top. Returns 0 with *out set (caller cJSON_Deletes);
 * otherwise the HTTP status for the error, with *code (static), msg (cap
 * bytes) and *details (caller frees; may be NULL) filled and *out NULL. */
int web_json_parse(const char *data, size_t len, size_t max_values, cJSON **out,
                   const char **code, char *msg, size_t cap, cJSON **details);
/* The checks on a JSON text that need no parser, in one pass: nesting
 * (WEB_JSON_MAX_DEPTH), items in one array or object
 * (WEB_JSON_MAX_ARRAY), values in all (max_values), and strings holding a
 * raw control character or \u0000. Bounds what a parser would allocate
 * for the text. Returns 0 when within them; otherwise the HTTP status
 * (413 for counts, 422 for nesting, 400 invalid_json for characters) with
 * *code, msg and *details as web_json_parse's. */
int web_json_scan(const char *data, size_t len, size_t max_values, const char **code,
                  char *msg, size_t cap, cJSON **details);
/* Checks that no object anywhere in a parsed body (cJSON nodes, from
 * cJSON or the monitor's parser) holds a key twice; objects of many keys
 * are sorted, not compared pairwise. Returns 0 when so; otherwise 400
 * with *code "invalid_json", msg naming the key and *details {"key"}
 * (caller frees), or 500 when out of memory. */
int web_json_unique_keys(const cJSON *root, const char **code, char *msg, size_t cap,
                         cJSON **details);
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
/* Writes len bytes of a reply body: 0 when all went out, -1 when the
 * connection broke or the client read nothing for the request timeout.
 * As web_read_some, it outlasts CivetWeb's per-call timeout (the header
 * timeout). Every reply byte goes through here. */
int web_write_all(struct web_req *r, const char *data, size_t len);
/* Sends raw bytes with a content type. */
void web_reply_raw(struct web_req *r, int status, const char *ctype,
                   const char *data, size_t len, const char *extra_headers);
/* Sends {"error": {"code", "message", "details"}}; details may be NULL and
 * is taken over. */
void web_reply_error(struct web_req *r, int status, const char *code,
                     const char *message, cJSON *details);
/* Maps a status from a lower layer to the HTTP error reply. */
void web_reply_status(struct web_req *r, mw_status st, const char *message);
/* A source of reply bytes for web_reply_stream: the next piece in *data
 * (borrowed until the next call), *n bytes; *n = 0 at the end. */
typedef mw_status (*web_read_fn)(void *ctx, const void **data, size_t *n);
/* Streams a body of size bytes from next(ctx, ...) with content type and
 * extra header lines. The first piece is read before anything is sent:
 * when that read fails, the reply is the error of its status. A later
 * failed read, or a source that ends early, cuts the reply short and
 * closes the connection, so the client sees fewer bytes than
 * Content-Length announced. HEAD sends the headers only. */
void web_reply_stream(struct web_req *r, int64_t size, const char *ctype,
                      const char *extra_headers, web_read_fn next, void *ctx);
/* Integer query parameter: *out = dflt when absent; 0 on success, otherwise
 * a 400 reply has been sent. */
int web_query_int(struct web_req *r, const char *name, int64_t dflt, int64_t *out);
/* Parses an RFC 3339 time from a query parameter's decoded value s,
 * first turning spaces after the seconds back into '+' (an offset's '+'
 * arrives as a space when the client did not encode it). MW_EINVAL when
 * malformed. */
mw_status web_query_time(char *s, int64_t *ms);
/* The registry's view of the app (data directory, external URL, artifact
 * store). */
struct reg_env;
void web_reg_env(struct web_req *r, struct reg_env *env);
/* ---- tokens limited to models (web/model_access.c) ---- */
/* Before the handler: 1 when the token may reach the route (or is not
 * limited), 0 after a 404 (a model it does not see) or 403 reply. */
int web_model_access(struct web_req *r);
/* On a JSON answer: filters its list to the models the token sees; 0
 * after a 404 reply when the answer is one object of a model it does not
 * see (worded as when the object does not exist). */
int web_model_access_filter(struct web_req *r, cJSON *out);

/* Path parameter {v} as a positive version number; 0 after a 404 reply. */
int web_version_param(struct web_req *r, int64_t *v);
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
