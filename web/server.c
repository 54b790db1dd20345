/* web/server.c - CivetWeb setup (timeouts, deferred accept) and the single
 * dispatch entry point: body framing (400), route lookup (404/405), the
 * route's body cap (413), authentication and scopes (401/403), the
 * handler, then metrics and one access-log line per request. */
#include <assert.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web/web_internal.h"

/* The listening sockets' addresses (found by find_listeners): where
 * web_server_stop knocks to wake CivetWeb's master thread. */
#define MAX_LISTENERS 8

struct web_server {
  struct mg_context *ctx;
  struct mw_app *app;
  struct sockaddr_storage listeners[MAX_LISTENERS];
  socklen_t listener_len[MAX_LISTENERS];
  int nlisteners;
};

static void access_log(struct web_req *r, double secs) {
  char line[1024];
  char ts[40];
  mw_time_format(mw_now_ms(), ts, sizeof ts);
  int n = snprintf(line, sizeof line, "%s ACCESS %s %s %s %d %lld %.3fms %s\n", ts,
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

static int authenticate(struct web_req *r, unsigned need) {
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
  if(!mw_scope_allows(r->token.scopes, need)) {
    cJSON *det = cJSON_CreateObject();
    mw_scope_to_json(need, cJSON_AddArrayToObject(det, "required_scopes"));
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

static int all_digits(const char *s) {
  if(!*s)
    return 0;
  for(; *s; s++)
    if(*s < '0' || *s > '9')
      return 0;
  return 1;
}

/* Refuses a request whose body framing is ambiguous (RFC 9112 6.3): both
 * Content-Length and Transfer-Encoding, a Transfer-Encoding other than
 * one "chunked", or Content-Length values that differ or are not plain
 * numbers. CivetWeb would pick one reading; a proxy in front may have
 * picked the other, which is how a request is smuggled inside another. */
static int framing_ok(struct web_req *r) {
  const char *cl = NULL, *te = NULL, *why = NULL;
  for(int i = 0; i < r->ri->num_headers && !why; i++) {
    const char *name = r->ri->http_headers[i].name;
    const char *value = r->ri->http_headers[i].value;
    if(!strcasecmp(name, "Content-Length")) {
      if(!all_digits(value))
        why = "Content-Length must be one decimal number";
      else if(cl && strcmp(cl, value))
        why = "two different Content-Length values";
      cl = value;
    } else if(!strcasecmp(name, "Transfer-Encoding")) {
      if(te || strcasecmp(value, "chunked"))
        why = "Transfer-Encoding must be one \"chunked\"";
      te = value;
    }
  }
  if(!why && cl && te)
    why = "both Content-Length and Transfer-Encoding";
  if(!why)
    return 1;
  /* Where this request ends is unknown, so nothing after it can be read. */
  mg_disable_connection_keep_alive(r->conn);
  web_reply_error(r, 400, "invalid", why, NULL);
  return 0;
}

/* 413 when Content-Length says the body is past the route's cap, before
 * a byte of it is read or a token looked up. */
static int within_body_cap(struct web_req *r) {
  size_t limit, values;
  web_body_limits(web_route_body((size_t)r->route_index), &r->app->cfg, &limit,
                  &values);
  long long clen = r->ri->content_length;
  if(clen <= (long long)limit)
    return 1;
  char msg[160];
  snprintf(msg, sizeof msg,
           "request body of %lld bytes exceeds this route's limit of %zu", clen,
           limit);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddNumberToObject(det, "limit", (double)limit);
  web_reply_error(r, 413, "too_large", msg, det);
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
  if(!framing_ok(&r)) {
    /* replied */
  } else if(!r.db && strcmp(path, "/healthz") && strcmp(path, "/readyz")) {
    /* Without a database connection (PostgreSQL unreachable) the process
     * still answers /healthz (it is up) and /readyz (503 until the
     * database is back); everything else is 503 with Retry-After. */
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
      unsigned need = r.route->scope;
      if(need == MW_SCOPE_METRICS && r.app->cfg.metrics_public)
        need = MW_SCOPE_NONE;
      if(within_body_cap(&r) &&
         (need == MW_SCOPE_NONE ||
          (authenticate(&r, need) && within_rate(&r) && web_model_access(&r))))
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

static int join_pem(const char *cert, const char *key, const char *dir, char *out,
                    size_t cap) {
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

/* Seconds the kernel holds a connection that has sent nothing before
 * handing it to accept() anyway (rounded up to its SYN-ACK retries: 31). */
#define DEFER_ACCEPT_S 30

/* Records in s the addresses of CivetWeb's listening sockets. CivetWeb 1.15
 * does not expose them, so they are found among this process's descriptors
 * by the ports it reports. Returns their descriptors in fds (at most
 * MAX_LISTENERS); a wildcard address is recorded as the loopback one of
 * its family, where a connection from this process reaches it. */
static int find_listeners(struct web_server *s, int *fds) {
  struct mg_server_port ports[MAX_LISTENERS];
  int nports = mg_get_server_ports(s->ctx, MAX_LISTENERS, ports);
  DIR *d = opendir("/proc/self/fd");
  s->nlisteners = 0;
  for(struct dirent *e;
      d && nports > 0 && s->nlisteners < MAX_LISTENERS && (e = readdir(d));) {
    int64_t fd;
    int on = 0;
    socklen_t len = sizeof on;
    if(mw_parse_i64(e->d_name, &fd) || fd == dirfd(d) ||
       getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) || !on)
      continue;
    struct sockaddr_storage *sa = &s->listeners[s->nlisteners];
    socklen_t salen = sizeof *sa;
    if(getsockname((int)fd, (struct sockaddr *)sa, &salen))
      continue;
    struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
    int port =
        sa->ss_family == AF_INET6 ? ntohs(in6->sin6_port) : ntohs(in4->sin_port);
    for(int i = 0; i < nports; i++) {
      if(ports[i].port != port)
        continue;
      if(sa->ss_family == AF_INET && in4->sin_addr.s_addr == htonl(INADDR_ANY))
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if(sa->ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
        in6->sin6_addr = in6addr_loopback;
      s->listener_len[s->nlisteners] = salen;
      fds[s->nlisteners++] = (int)fd;
      break;
    }
  }
  if(d)
    closedir(d);
  return s->nlisteners;
}

/* Keeps connections that send nothing out of the worker pool. CivetWeb
 * gives each accepted connection a worker thread until its headers are
 * in (or the header timeout passes), so a few dozen idle connections
 * would hold every worker. With TCP_DEFER_ACCEPT the kernel completes
 * accept() only when the first bytes of a request arrive, or after
 * DEFER_ACCEPT_S; then the header timeout applies. CivetWeb 1.15 has no
 * option for it: it is set on the sockets find_listeners finds. */
static void defer_accept(struct web_server *s) {
  int fds[MAX_LISTENERS];
  int n = find_listeners(s, fds), done = 0;
  for(int i = 0; i < n; i++) {
    int secs = DEFER_ACCEPT_S;
    if(!setsockopt(fds[i], IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs))
      done++;
  }
  if(done)
    mw_log(MW_LOG_DEBUG, "http",
           "accept deferred until a request's first bytes (%d socket%s)", done,
           done == 1 ? "" : "s");
  else
    mw_log(MW_LOG_WARN, "http",
           "cannot defer accept on the listening socket: idle connections "
           "will hold workers for up to the header timeout");
}

/* Why web_server_stop knocks: CivetWeb's master thread polls the listening
 * sockets for up to SOCKET_TIMEOUT_QUANTUM (2 s in 1.15, compiled into
 * Debian's library) between looks at its stop flag, so mg_stop alone took
 * up to 2 s (measured: 2.1 s from SIGTERM to exit after a request, 0.1 s
 * with the knock). A connection that closes at once (its FIN passes
 * TCP_DEFER_ACCEPT) ends that poll. One made before mg_stop raised the flag
 * is accepted and read to its end by a worker like any client that hangs
 * up; so the knocker repeats every KNOCK_MS until mg_stop returns. */
#define KNOCK_MS 20

struct knocker {
  const struct web_server *s;
  atomic_int done;
};

static void *knock(void *arg) {
  struct knocker *k = arg;
  while(!atomic_load(&k->done)) {
    for(int i = 0; i < k->s->nlisteners; i++) {
      const struct sockaddr_storage *sa = &k->s->listeners[i];
      int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if(fd < 0)
        continue;
      (void)connect(fd, (const struct sockaddr *)sa, k->s->listener_len[i]);
      close(fd);
    }
    usleep(KNOCK_MS * 1000);
  }
  return NULL;
}

/* CivetWeb's options, as strings, and the buffers they point into. */
struct civet_options {
  char threads[16], timeout[16], ports[300], pem[1100];
  int tls;
  const char *v[32]; /* name, value, ..., NULL */
};

static void add_option(struct civet_options *o, int *k, const char *name,
                       const char *value) {
  assert(*k + 3 <= (int)(sizeof o->v / sizeof o->v[0]));
  o->v[(*k)++] = name;
  o->v[(*k)++] = value;
}

/* Fills o from the configuration; -1 (logged) when the TLS files cannot
 * be joined. */
static int civet_options(const struct mw_config *cfg, struct civet_options *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->threads, sizeof o->threads, "%d", cfg->threads);
  /* CivetWeb 1.15 has one request_timeout_ms for the headers of a
   * connection's first request and for each read and write after them
   * (keep_alive_timeout_ms bounds the headers of later ones). It gets the
   * header timeout, short, so a client that trickles its headers gives
   * its worker back soon; web_read_some and web_write_all wait out the
   * longer --request-timeout-ms for bodies and replies that keep moving. */
  int header_ms = cfg->header_timeout_ms < cfg->request_timeout_ms
                      ? cfg->header_timeout_ms
                      : cfg->request_timeout_ms;
  snprintf(o->timeout, sizeof o->timeout, "%d", header_ms);
  o->tls = cfg->tls_cert[0] != '\0';
  snprintf(o->ports, sizeof o->ports, "%s%s", cfg->listen, o->tls ? "s" : "");
  int k = 0;
  add_option(o, &k, "listening_ports", o->ports);
  add_option(o, &k, "num_threads", o->threads);
  add_option(o, &k, "enable_keep_alive", "yes");
  add_option(o, &k, "keep_alive_timeout_ms", o->timeout);
  add_option(o, &k, "tcp_nodelay", "1");
  add_option(o, &k, "request_timeout_ms", o->timeout);
  add_option(o, &k, "listen_backlog", "512");
  add_option(o, &k, "connection_queue", "256");
  add_option(o, &k, "decode_url", "no");
  if(o->tls) {
    /* CivetWeb reads certificate and key from one PEM file; with a separate
     * --tls-key both are joined into <data-dir>/tls.pem (mode 0600). */
    if(!cfg->tls_key[0])
      mw_strlcpy(o->pem, cfg->tls_cert, sizeof o->pem);
    else if(join_pem(cfg->tls_cert, cfg->tls_key, cfg->data_dir, o->pem,
                     sizeof o->pem))
      return -1;
    add_option(o, &k, "ssl_certificate", o->pem);
    add_option(o, &k, "ssl_protocol_version", "4");
  }
  o->v[k] = NULL;
  return 0;
}

mw_status web_server_start(struct mw_app *app, struct web_server **out) {
  *out = NULL;
  struct web_server *s = calloc(1, sizeof *s);
  struct civet_options *o = calloc(1, sizeof *o);
  if(!s || !o) {
    free(s);
    free(o);
    return MW_ENOMEM;
  }
  s->app = app;
  size_t nroutes;
  web_route_table(&nroutes);
  app->metrics = web_metrics_new(nroutes);
  app->ratelimit = web_ratelimit_new(app->cfg.rate_limit, app->cfg.rate_burst);
  mw_status st = MW_ENOMEM;
  if(!app->metrics)
    goto fail;
  st = MW_EIO;
  if(civet_options(&app->cfg, o))
    goto fail;
  struct mg_callbacks cb;
  memset(&cb, 0, sizeof cb);
  cb.begin_request = dispatch;
  cb.log_message = log_message;
  s->ctx = mg_start(&cb, app, o->v);
  if(!s->ctx) {
    mw_log(MW_LOG_ERROR, "http", "cannot listen on %s", o->ports);
    goto fail;
  }
  defer_accept(s);
  mw_log(MW_LOG_INFO, "http", "listening on %s://%s (%s threads)",
         o->tls ? "https" : "http", app->cfg.listen, o->threads);
  free(o);
  *out = s;
  return MW_OK;
fail:
  web_metrics_free(app->metrics);
  app->metrics = NULL;
  web_ratelimit_free(app->ratelimit);
  app->ratelimit = NULL;
  free(o);
  free(s);
  return st;
}

void web_server_stop(struct web_server *s) {
  if(!s)
    return;
  pthread_t t;
  struct knocker k = {.s = s};
  atomic_init(&k.done, 0);
  int knocking = s->nlisteners > 0 && !pthread_create(&t, NULL, knock, &k);
  mg_stop(s->ctx);
  if(knocking) {
    atomic_store(&k.done, 1);
    pthread_join(t, NULL);
  }
  web_metrics_free(s->app->metrics);
  s->app->metrics = NULL;
  web_ratelimit_free(s->app->ratelimit);
  s->app->ratelimit = NULL;
  free(s);
}

void web_library_init(void) {
  mg_init_library(MG_FEATURES_TLS | MG_FEATURES_WEBSOCKET);
}

void web_library_exit(void) { mg_exit_library(); }
