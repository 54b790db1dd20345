/* web/server.c - CivetWeb setup and the single dispatch entry point:
 * route lookup (404/405), authentication and scopes (401/403), the handler,
 * then metrics and one access-log line per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web/web_internal.h"

struct web_server {
  struct mg_context *ctx;
  struct mw_app *app;
};

static void access_log(struct web_req *r, double secs) {
  char line[1024];
  char ts[40];
  mw_time_format(mw_now_ms(), ts, sizeof ts);
  int n = snprintf(line, sizeof line,
                   "%s ACCESS %s %s %s %d %lld %.3fms %s\n", ts,
                   r->ri->remote_addr, r->ri->request_method,
                   r->ri->local_uri_raw ? r->ri->local_uri_raw : "-", r->status,
                   (long long)r->bytes_sent, secs * 1e3,
                   r->token.name[0] ? r->token.name : "-");
  if(n > 0)
    mw_log_raw(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Finds the route for method+path. Sets *path_known when some route has this
 * path with another method (so the answer is 405, not 404). */
static int find_route(struct web_req *r, const char *method, const char *path,
                      int *path_known, mw_buf *allow) {
  *path_known = 0;
  size_t nroutes;
  const struct web_route *web_routes = web_route_table(&nroutes);
  for(size_t i = 0; i < nroutes; i++) {
    int np = 0;
    if(!web_route_match(web_routes[i].pattern, path, r->pvals, r->pnames,
                        r->pnamelen, &np))
      continue;
    const char *rm = web_routes[i].method;
    if(strcmp(rm, method) == 0 ||
       (strcmp(method, "HEAD") == 0 && strcmp(rm, "GET") == 0)) {
      r->nparams = np;
      return (int)i;
    }
    *path_known = 1;
    if(allow->len)
      mw_buf_append(allow, ", ", 2);
    mw_buf_append(allow, rm, strlen(rm));
  }
  return -1;
}

/* A dashboard request: the session cookie names the token, and anything
 * but a read must carry the session's CSRF token in X-CSRF-Token. */
static int authenticate_session(struct web_req *r, const char *cookies) {
  char sid[64];
  if(mg_get_cookie(cookies, "mw_session", sid, sizeof sid) <= 0) {
    web_reply_error(r, 401, "unauthenticated",
                    "missing bearer token (Authorization: Bearer <token>)", NULL);
    return 0;
  }
  char csrf[64];
  mw_status st = mw_session_verify(r->db, sid, &r->token, csrf);
  if(st) {
    web_reply_error(r, st == MW_EUNAUTH ? 401 : 503,
                    st == MW_EUNAUTH ? "unauthenticated" : "unavailable",
                    st == MW_EUNAUTH ? "session expired or unknown; sign in again"
                                     : "could not check the session",
                    NULL);
    return 0;
  }
  const char *m = r->ri->request_method;
  if(strcmp(m, "GET") && strcmp(m, "HEAD")) {
    const char *sent = web_header(r, "X-CSRF-Token");
    if(!sent || strlen(sent) != strlen(csrf) ||
       !mw_ct_equal(sent, csrf, strlen(csrf))) {
      web_reply_error(r, 403, "csrf", "missing or wrong X-CSRF-Token", NULL);
      return 0;
    }
  }
  r->via_session = 1;
  return 1;
}

static int authenticate(struct web_req *r) {
  const char *h = web_header(r, "Authorization");
  const char *tok = NULL;
  if(h && strncasecmp(h, "Bearer ", 7) == 0)
    tok = h + 7;
  const char *cookies = web_header(r, "Cookie");
  if((!tok || !*tok) && cookies) {
    if(!authenticate_session(r, cookies))
      return 0;
  } else {
    if(!tok || !*tok) {
      web_reply_error(r, 401, "unauthenticated",
                      "missing bearer token (Authorization: Bearer <token>)", NULL);
      return 0;
    }
    mw_status st = mw_token_verify(r->db, tok, &r->token);
    if(st == MW_EUNAUTH) {
      web_reply_error(r, 401, "unauthenticated", "invalid token", NULL);
      return 0;
    }
    if(st) {
      web_reply_status(r, st, "could not check the token");
      return 0;
    }
  }
  snprintf(r->actor, sizeof r->actor, "token:%s", r->token.name);
  if(!mw_scope_allows(r->token.scopes, r->route->scope)) {
    cJSON *det = cJSON_CreateObject();
    cJSON *need = cJSON_AddArrayToObject(det, "required_scopes");
    mw_scope_to_json(r->route->scope, need);
    cJSON *have = cJSON_AddArrayToObject(det, "token_scopes");
    mw_scope_to_json(r->token.scopes, have);
    web_reply_error(r, 403, "forbidden", "the token lacks the scope this needs",
                    det);
    return 0;
  }
  return 1;
}

/* 429 with Retry-After when the token is over its rate. */
static int within_rate(struct web_req *r) {
  double wait = web_ratelimit_take(r->app->ratelimit, r->token.id, mw_mono_ns());
  if(wait <= 0)
    return 1;
  int secs = (int)wait + 1;
  char hdr[64];
  snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", secs);
  cJSON *root = cJSON_CreateObject();
  cJSON *err = cJSON_AddObjectToObject(root, "error");
  cJSON_AddStringToObject(err, "code", "rate_limited");
  cJSON_AddStringToObject(err, "message", "too many requests for this token");
  cJSON *det = cJSON_AddObjectToObject(err, "details");
  cJSON_AddNumberToObject(det, "retry_after_seconds", secs);
  char *body = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  web_reply_raw(r, 429, "application/json", body, strlen(body), hdr);
  cJSON_free(body);
  return 0;
}

static int dispatch(struct mg_connection *conn) {
  int64_t t0 = mw_mono_ns();
  struct web_req r;
  memset(&r, 0, sizeof r);
  r.conn = conn;
  r.ri = mg_get_request_info(conn);
  r.app = r.ri->user_data;
  r.route_index = -1;
  r.db = mw_db_conn(r.app->db);

  const char *path = r.ri->local_uri_raw ? r.ri->local_uri_raw : "";
  if(!r.db) {
    web_reply_error(&r, 503, "unavailable", "database unavailable", NULL);
  } else {
    int path_known = 0;
    mw_buf allow;
    mw_buf_init(&allow, 256);
    r.route_index = find_route(&r, r.ri->request_method, path, &path_known, &allow);
    if(r.route_index < 0) {
      if(path_known) {
        char hdr[300];
        snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow.data ? allow.data : "");
        cJSON *root = cJSON_CreateObject();
        cJSON *err = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(err, "code", "method_not_allowed");
        cJSON_AddStringToObject(err, "message", "method not allowed on this path");
        cJSON *det = cJSON_AddObjectToObject(err, "details");
        cJSON_AddStringToObject(det, "allow", allow.data ? allow.data : "");
        char *s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        web_reply_raw(&r, 405, "application/json", s, strlen(s), hdr);
        cJSON_free(s);
      } else {
        web_reply_error(&r, 404, "not_found", "no such route", NULL);
      }
    } else {
      size_t nroutes;
      r.route = &web_route_table(&nroutes)[r.route_index];
      if(r.route->scope == MW_SCOPE_NONE ||
         (authenticate(&r) && within_rate(&r)))
        r.route->handler(&r);
      if(!r.replied)
        web_reply_error(&r, 500, "internal", "handler sent no reply", NULL);
    }
    mw_buf_free(&allow);
  }
  double secs = (double)(mw_mono_ns() - t0) / 1e9;
  web_metrics_observe(r.app->metrics, r.route_index, r.status, secs);
  if(r.app->cfg.access_log)
    access_log(&r, secs);
  return r.status ? r.status : 500;
}

static int log_message(const struct mg_connection *conn, const char *msg) {
  (void)conn;
  mw_log(MW_LOG_WARN, "http", "%s", msg);
  return 1;
}

/* Appends the file at path to fd. */
static int copy_into(int fd, const char *path) {
  int in = open(path, O_RDONLY | O_CLOEXEC);
  if(in < 0)
    return -1;
  char buf[8192];
  ssize_t n;
  int rc = 0;
  while((n = read(in, buf, sizeof buf)) > 0)
    if(write(fd, buf, (size_t)n) != n)
      rc = -1;
  if(n < 0)
    rc = -1;
  close(in);
  return rc;
}

static int join_pem(const char *cert, const char *key, const char *dir,
                    char *out, size_t cap) {
  snprintf(out, cap, "%s/tls.pem", dir);
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if(fd < 0 || fchmod(fd, 0600) || copy_into(fd, cert) || write(fd, "\n", 1) != 1 ||
     copy_into(fd, key)) {
    mw_log(MW_LOG_ERROR, "http", "cannot read --tls-cert %s or --tls-key %s", cert,
           key);
    if(fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

mw_status web_server_start(struct mw_app *app, struct web_server **out) {
  *out = NULL;
  struct web_server *s = calloc(1, sizeof *s);
  if(!s)
    return MW_ENOMEM;
  s->app = app;
  size_t nroutes;
  web_route_table(&nroutes);
  app->metrics = web_metrics_new(nroutes);
  app->ratelimit = web_ratelimit_new(app->cfg.rate_limit, app->cfg.rate_burst);
  if(!app->metrics) {
    free(s);
    return MW_ENOMEM;
  }
  char threads[16], timeout[16], ports[300];
  snprintf(threads, sizeof threads, "%d", app->cfg.threads);
  snprintf(timeout, sizeof timeout, "%d", app->cfg.request_timeout_ms);
  int tls = app->cfg.tls_cert[0] != '\0';
  snprintf(ports, sizeof ports, "%s%s", app->cfg.listen, tls ? "s" : "");
  const char *options[32];
  int k = 0;
  options[k++] = "listening_ports";
  options[k++] = ports;
  options[k++] = "num_threads";
  options[k++] = threads;
  options[k++] = "enable_keep_alive";
  options[k++] = "yes";
  options[k++] = "keep_alive_timeout_ms";
  options[k++] = "30000";
  options[k++] = "tcp_nodelay";
  options[k++] = "1";
  options[k++] = "request_timeout_ms";
  options[k++] = timeout;
  options[k++] = "listen_backlog";
  options[k++] = "512";
  options[k++] = "connection_queue";
  options[k++] = "256";
  options[k++] = "decode_url";
  options[k++] = "no";
  char pem[1100];
  if(tls) {
    /* CivetWeb reads certificate and key from one PEM file; with a separate
     * --tls-key both are joined into <data-dir>/tls.pem (mode 0600). */
    if(app->cfg.tls_key[0]) {
      if(join_pem(app->cfg.tls_cert, app->cfg.tls_key, app->cfg.data_dir, pem,
                  sizeof pem)) {
        web_metrics_free(app->metrics);
        app->metrics = NULL;
        free(s);
        return MW_EIO;
      }
    } else {
      mw_strlcpy(pem, app->cfg.tls_cert, sizeof pem);
    }
    options[k++] = "ssl_certificate";
    options[k++] = pem;
    options[k++] = "ssl_protocol_version";
    options[k++] = "4";
  }
  options[k] = NULL;
  struct mg_callbacks cb;
  memset(&cb, 0, sizeof cb);
  cb.begin_request = dispatch;
  cb.log_message = log_message;
  s->ctx = mg_start(&cb, app, options);
  if(!s->ctx) {
    mw_log(MW_LOG_ERROR, "http", "cannot listen on %s", ports);
    web_metrics_free(app->metrics);
    app->metrics = NULL;
    free(s);
    return MW_EIO;
  }
  mw_log(MW_LOG_INFO, "http", "listening on %s://%s (%s threads)",
         tls ? "https" : "http", app->cfg.listen, threads);
  *out = s;
  return MW_OK;
}

void web_server_stop(struct web_server *s) {
  if(!s)
    return;
  mg_stop(s->ctx);
  web_metrics_free(s->app->metrics);
  s->app->metrics = NULL;
  web_ratelimit_free(s->app->ratelimit);
  s->app->ratelimit = NULL;
  free(s);
}

void web_library_init(void) { mg_init_library(MG_FEATURES_TLS | MG_FEATURES_WEBSOCKET); }

void web_library_exit(void) { mg_exit_library(); }
