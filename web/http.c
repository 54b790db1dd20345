/* web/http.c - request and reply helpers: every handler reads bodies and
 * sends replies through these, so limits, the error format and the byte
 * counts for the access log live in one place. */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "registry/registry.h"

#include "web/web_internal.h"

const char *web_param(struct web_req *r, const char *name) {
  size_t n = strlen(name);
  for(int i = 0; i < r->nparams; i++)
    if(r->pnamelen[i] == n && memcmp(r->pnames[i], name, n) == 0)
      return r->pvals[i];
  return NULL;
}

/* Percent-decodes v[0..n) into buf (cap bytes). */
static enum web_query_result decode_value(const char *v, size_t n, char *buf,
                                          size_t cap) {
  size_t o = 0;
  for(size_t i = 0; i < n; i++) {
    char c = v[i];
    if(c == '+') {
      c = ' ';
    } else if(c == '%') {
      int hi = i + 2 < n ? web_hex_digit(v[i + 1]) : -1;
      int lo = i + 2 < n ? web_hex_digit(v[i + 2]) : -1;
      if(hi < 0 || lo < 0)
        return WEB_QUERY_MALFORMED;
      c = (char)(hi * 16 + lo);
      i += 2;
      if(c == '\0')
        return WEB_QUERY_MALFORMED;
    }
    if(o + 1 >= cap)
      return WEB_QUERY_TOO_LONG;
    buf[o++] = c;
  }
  buf[o] = '\0';
  return WEB_QUERY_FOUND;
}

enum web_query_result web_query_get(const char *qs, const char *name, char *buf,
                                    size_t cap) {
  assert(cap > 0);
  buf[0] = '\0';
  size_t nlen = strlen(name);
  enum web_query_result res = WEB_QUERY_ABSENT;
  for(const char *p = qs; p && *p;) {
    const char *end = strchr(p, '&');
    size_t seg = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', seg);
    size_t klen = eq ? (size_t)(eq - p) : seg;
    if(klen == nlen && !strncasecmp(p, name, nlen)) {
      if(res != WEB_QUERY_ABSENT) {
        buf[0] = '\0';
        return WEB_QUERY_REPEATED;
      }
      const char *v = eq ? eq + 1 : p + seg;
      res = decode_value(v, (size_t)(p + seg - v), buf, cap);
      if(res != WEB_QUERY_FOUND) {
        buf[0] = '\0';
        return res;
      }
    }
    p = end ? end + 1 : NULL;
  }
  return res;
}

int web_query(struct web_req *r, const char *name, char *buf, size_t cap) {
  enum web_query_result res = web_query_get(r->ri->query_string, name, buf, cap);
  if(res == WEB_QUERY_FOUND)
    return 1;
  if(res == WEB_QUERY_ABSENT)
    return 0;
  /* Never read as absent: a filter that is dropped widens what is listed
   * or changed without the client knowing. */
  char msg[200];
  if(res == WEB_QUERY_TOO_LONG)
    snprintf(msg, sizeof msg,
             "query parameter %.64s is too long (at most %zu bytes)", name, cap - 1);
  else if(res == WEB_QUERY_REPEATED)
    snprintf(msg, sizeof msg, "query parameter %.64s is given more than once", name);
  else
    snprintf(msg, sizeof msg,
             "query parameter %.64s is malformed (a bad %%-escape, or %%00)", name);
  cJSON *det = cJSON_CreateObject();
  cJSON_AddStringToObject(det, "parameter", name);
  web_reply_error(r, 400, "invalid", msg, det);
  return -1;
}

const char *web_header(struct web_req *r, const char *name) {
  return mg_get_header(r->conn, name);
}

int web_http_status(mw_status st) {
  switch(st) {
  case MW_OK:
    return 200;
  case MW_EINVAL:
    return 400;
  case MW_EUNAUTH:
    return 401;
  case MW_EFORBIDDEN:
  case MW_ENOTAPPROVED:
  case MW_ESELFAPPROVAL:
    return 403;
  case MW_ENOTFOUND:
    return 404;
  case MW_ECONFLICT:
    return 409;
  case MW_ETOOBIG:
    return 413;
  case MW_EVALIDATION:
    return 422;
  case MW_ETOOMANY:
    return 429;
  case MW_EBUSY:
    return 503;
  default:
    return 500;
  }
}

/* True when the request came with a body (that may not have been read). */
static int has_body(struct web_req *r) {
  return r->ri->content_length > 0 || web_header(r, "Transfer-Encoding") != NULL;
}

static void send_headers(struct web_req *r, int status, const char *ctype,
                         size_t len, const char *extra) {
  char lenbuf[32];
  snprintf(lenbuf, sizeof lenbuf, "%zu", len);
  /* A reply before the body was read (401, 413, a route that takes none):
   * the connection closes rather than CivetWeb reading up to --max-body of
   * it just to throw it away. */
  if(has_body(r) && !r->body_done)
    mg_disable_connection_keep_alive(r->conn);
  mg_response_header_start(r->conn, status);
  mg_response_header_add(r->conn, "Content-Type", ctype, -1);
  mg_response_header_add(r->conn, "Content-Length", lenbuf, -1);
  mg_response_header_add(r->conn, "Cache-Control", "no-store", -1);
  mg_response_header_add(r->conn, "X-Content-Type-Options", "nosniff", -1);
  /* RFC 9110 11.6.1: every 401 names the scheme it wants (RFC 6750). */
  if(status == 401)
    mg_response_header_add(r->conn, "WWW-Authenticate",
                           "Bearer realm=\"modelwatch\"", -1);
  /* 503 is the database being unreachable or busy (a restart, a
   * failover): nothing was written, and the request can simply be sent
   * again. A second is about what a PostgreSQL failover or a lock queue
   * takes; clients that back off further are welcome to. */
  if(status == 503 && !(extra && strstr(extra, "Retry-After")))
    mg_response_header_add(r->conn, "Retry-After", "1", -1);
  if(extra && *extra)
    mg_response_header_add_lines(r->conn, extra);
  mg_response_header_send(r->conn);
  r->status = status;
  r->replied = 1;
}

/* CivetWeb gives up on one mg_read or mg_write after request_timeout_ms,
 * which web/server.c sets to the header timeout (or the request timeout
 * when that is shorter). A call that returns nothing after at least half
 * of that waited for a slow client; one that returns nothing sooner met a
 * closed connection (or the end of the body). */
static int64_t stall_ns(struct web_req *r) {
  const mw_config *c = &r->app->cfg;
  int ms = c->header_timeout_ms < c->request_timeout_ms ? c->header_timeout_ms
                                                        : c->request_timeout_ms;
  return (int64_t)ms * 500000;
}

static int64_t idle_ns(struct web_req *r) {
  return (int64_t)r->app->cfg.request_timeout_ms * 1000000;
}

int web_write_all(struct web_req *r, const char *data, size_t len) {
  int64_t progress = mw_mono_ns();
  while(len > 0) {
    size_t n = len < ((size_t)1 << 20) ? len : (size_t)1 << 20;
    int64_t t0 = mw_mono_ns();
    int w = mg_write(r->conn, data, n);
    int64_t t1 = mw_mono_ns();
    if(w > 0) {
      data += w;
      len -= (size_t)w;
      r->bytes_sent += w;
      progress = t1;
      continue;
    }
    if(t1 - t0 < stall_ns(r) || t1 - progress >= idle_ns(r))
      return -1;
  }
  return 0;
}

/* Whether the comma-separated header value v has the token t. */
static bool has_token(const char *v, const char *t) {
  size_t tl = strlen(t);
  while(*v) {
    while(*v == ' ' || *v == '\t' || *v == ',')
      v++;
    size_t n = strcspn(v, ",");
    size_t m = n;
    while(m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
      m--;
    if(m == tl && strncasecmp(v, t, tl) == 0)
      return true;
    v += n;
  }
  return false;
}

/* The reply - status line, headers and body - as one mg_write, when it
 * is small. CivetWeb's mg_response_header_send writes every header line
 * with a send() of its own, and with TCP_NODELAY each is a segment: perf
 * and strace under wrk (tests/bench/bench_http.sh) showed 8.5 sendto per
 * /healthz and the kernel's network path as most of the time; this is
 * one. The headers are the ones send_headers gives, plus the Date and
 * Connection that CivetWeb adds; Connection follows CivetWeb's own rule
 * (keep-alive unless the request asks otherwise, HTTP/1.0 without it, or
 * a body left unread, which also tells CivetWeb to close). False:
 * not taken (too large, or extra headers not in "Name: value\r\n" lines),
 * nothing sent. */
#define ONE_WRITE_MAX 16384
static bool reply_one_write(struct web_req *r, int status, const char *ctype,
                            const char *data, size_t len, const char *extra) {
  size_t elen = extra ? strlen(extra) : 0;
  if(len > ONE_WRITE_MAX || elen > 4096 ||
     (elen > 0 && (elen < 2 || memcmp(extra + elen - 2, "\r\n", 2) != 0)))
    return false;
  const char *ver = r->ri->http_version ? r->ri->http_version : "1.1";
  const char *ch = web_header(r, "Connection");
  bool keep = !(has_body(r) && !r->body_done) &&
              (ch ? has_token(ch, "keep-alive") : strcmp(ver, "1.1") == 0);
  if(!keep)
    mg_disable_connection_keep_alive(r->conn);
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  if(!gmtime_r(&now, &tm) ||
     strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
    return false;
  const char *text = mg_get_response_code_text(r->conn, status);
  char *buf = malloc(1024 + elen + len);
  if(!buf)
    return false;
  int n = snprintf(
      buf, 1024,
      "HTTP/%s %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
      "%s%s%s",
      ver, status, text ? text : "", ctype, len,
      status == 401 ? "WWW-Authenticate: Bearer realm=\"modelwatch\"\r\n" : "",
      status == 503 && !(extra && strstr(extra, "Retry-After"))
          ? "Retry-After: 1\r\n"
          : "",
      "");
  if(n < 0 || n >= 1024 - 128) {
    free(buf);
    return false;
  }
  size_t off = (size_t)n;
  memcpy(buf + off, extra ? extra : "", elen);
  off += elen;
  n = snprintf(buf + off, 128, "Date: %s\r\nConnection: %s\r\n\r\n", date,
               keep ? "keep-alive" : "close");
  if(n < 0 || n >= 128) {
    free(buf);
    return false;
  }
  off += (size_t)n;
  if(strcmp(r->ri->request_method, "HEAD") != 0) {
    memcpy(buf + off, data, len);
    off += len;
  }
  r->status = status;
  r->replied = 1;
  size_t head = off - (strcmp(r->ri->request_method, "HEAD") != 0 ? len : 0);
  int64_t before = r->bytes_sent;
  web_write_all(r, buf, off);
  /* bytes_sent counts the body, as on the other path */
  r->bytes_sent = r->bytes_sent - before > (int64_t)head
                      ? r->bytes_sent - (int64_t)head
                      : before;
  free(buf);
  return true;
}

void web_reply_raw(struct web_req *r, int status, const char *ctype,
                   const char *data, size_t len, const char *extra_headers) {
  if(r->replied)
    return;
  if(reply_one_write(r, status, ctype, data, len, extra_headers))
    return;
  send_headers(r, status, ctype, len, extra_headers);
  if(len > 0 && strcmp(r->ri->request_method, "HEAD") != 0)
    web_write_all(r, data, len);
}

void web_reply_json(struct web_req *r, int status, cJSON *body) {
  if(status < 300 && !web_model_access_filter(r, body)) {
    cJSON_Delete(body); /* answered 404 */
    return;
  }
  if(!body) {
    web_reply_raw(r, status, "application/json", "{}", 2, NULL);
    return;
  }
  char *s = cJSON_PrintUnformatted(body);
  cJSON_Delete(body);
  if(!s) {
    web_reply_error(r, 500, "out_of_memory", "could not serialise the reply", NULL);
    return;
  }
  web_reply_raw(r, status, "application/json", s, strlen(s), NULL);
  cJSON_free(s);
}

void web_reply_error(struct web_req *r, int status, const char *code,
                     const char *message, cJSON *details) {
  cJSON *root = cJSON_CreateObject();
  cJSON *err = cJSON_AddObjectToObject(root, "error");
  cJSON_AddStringToObject(err, "code", code);
  cJSON_AddStringToObject(err, "message", message);
  if(details)
    cJSON_AddItemToObject(err, "details", details);
  else
    cJSON_AddObjectToObject(err, "details");
  web_reply_json(r, status, root);
}

void web_reply_status(struct web_req *r, mw_status st, const char *message) {
  web_reply_error(r, web_http_status(st), mw_status_code(st),
                  message ? message : mw_strerror(st), NULL);
}

void web_reply_err(struct web_req *r, mw_status st, mw_err *e) {
  cJSON *det = e->details;
  e->details = NULL;
  web_reply_error(r, web_http_status(st), mw_status_code(st),
                  e->msg[0] ? e->msg : mw_strerror(st), det);
  mw_err_clear(e);
}

void web_reply_result(struct web_req *r, mw_status s, int ok_status, cJSON *out,
                      mw_err *e) {
  if(s) {
    cJSON_Delete(out);
    web_reply_err(r, s, e);
    return;
  }
  mw_err_clear(e);
  web_reply_json(r, ok_status, out);
}

int web_read_some(struct web_req *r, char *buf, size_t cap) {
  if(r->body_done)
    return 0;
  int64_t progress = mw_mono_ns();
  size_t n = cap < ((size_t)1 << 20) ? cap : (size_t)1 << 20;
  for(;;) {
    int64_t t0 = mw_mono_ns();
    int got = mg_read(r->conn, buf, n);
    int64_t t1 = mw_mono_ns();
    if(got != 0)
      return got > 0 ? got : -1;
    if(t1 - t0 < stall_ns(r)) {
      r->body_done = 1;
      return 0;
    }
    if(t1 - progress >= idle_ns(r))
      return -1;
  }
}

mw_status web_read_body(struct web_req *r, mw_buf *out) {
  size_t limit, values;
  web_body_limits(web_route_body((size_t)r->route_index), &r->app->cfg, &limit,
                  &values);
  long long clen = r->ri->content_length;
  /* The buffer grows to what was announced, not by doubling past it. */
  mw_buf_init(out,
              clen >= 0 && (unsigned long long)clen < limit ? (size_t)clen : limit);
  if(clen > (long long)limit) {
    char msg[128];
    snprintf(msg, sizeof msg, "request body of %lld bytes exceeds the limit of %zu",
             clen, limit);
    web_reply_error(r, 413, "too_large", msg, NULL);
    return MW_ETOOBIG;
  }
  char chunk[16384];
  for(;;) {
    int n = web_read_some(r, chunk, sizeof chunk);
    if(n < 0) {
      mw_buf_free(out);
      web_reply_error(r, 400, "invalid", "could not read the request body", NULL);
      return MW_EIO;
    }
    if(n == 0)
      break;
    mw_status st = mw_buf_append(out, chunk, (size_t)n);
    if(st) {
      char msg[128];
      snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes",
               limit);
      web_reply_error(r, st == MW_ETOOBIG ? 413 : 500, mw_status_code(st), msg,
                      NULL);
      return st;
    }
  }
  if(clen >= 0 && (long long)out->len != clen) {
    mw_buf_free(out);
    web_reply_error(r, 400, "invalid", "request body shorter than Content-Length",
                    NULL);
    return MW_EIO;
  }
  return MW_OK;
}

/* Walks a parsed body and reports the first string or key past the cap
 * (0 when within it). Nesting and item counts were checked before
 * parsing (web_json_scan). */
static int json_shape(const cJSON *j, char *msg, size_t cap) {
  if(cJSON_IsString(j) && strlen(j->valuestring) > WEB_JSON_MAX_STRING) {
    snprintf(msg, cap, "a JSON string is longer than %d bytes", WEB_JSON_MAX_STRING);
    return -1;
  }
  if(j->string && strlen(j->string) > WEB_JSON_MAX_STRING) {
    snprintf(msg, cap, "a JSON key is longer than %d bytes", WEB_JSON_MAX_STRING);
    return -1;
  }
  for(const cJSON *c = j->child; c; c = c->next)
    if(json_shape(c, msg, cap))
      return -1;
  return 0;
}

/* The error of web_json_scan for a string holding a raw control
 * character or \u0000 at offset off: RFC 8259 wants control characters
 * escaped, and cJSON would end a string at \u0000 and store the rest
 * silently cut off. */
static int bad_char(const char *p, size_t off, const char **code, char *msg,
                    size_t cap, cJSON **details) {
  *code = "invalid_json";
  snprintf(msg, cap, "%s in a JSON string at offset %zu",
           p[off] == '\\' ? "\\u0000 (NUL)" : "a raw control character", off);
  *details = cJSON_CreateObject();
  cJSON_AddNumberToObject(*details, "offset", (double)off);
  return 400;
}

int web_json_scan(const char *p, size_t n, size_t max_values, const char **code,
                  char *msg, size_t cap, cJSON **details) {
  /* Commas seen in each open array or object: its items less one. */
  size_t commas[WEB_JSON_MAX_DEPTH + 1];
  /* Values a parser makes a node for: the root, and the items of each
   * array or object, its commas plus one (one too many for an empty one,
   * which errs on the safe side). */
  size_t values = 1;
  int depth = 0, in_str = 0;
  *details = NULL;
  for(size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if(in_str) {
      if(ch == '\\') {
        if(i + 5 < n && p[i + 1] == 'u' && !memcmp(p + i + 2, "0000", 4))
          return bad_char(p, i, code, msg, cap, details);
        i++;
      } else if(ch == '"') {
        in_str = 0;
      } else if(ch < 0x20) {
        return bad_char(p, i, code, msg, cap, details);
      }
      continue;
    }
    if(ch == '"') {
      in_str = 1;
    } else if(ch == '[' || ch == '{') {
      /* Checked before any parser recurses: a body of thousands of '['
       * would otherwise exhaust a worker thread's stack. */
      if(++depth > WEB_JSON_MAX_DEPTH) {
        *code = "validation_failed";
        snprintf(msg, cap, "JSON nested deeper than %d levels", WEB_JSON_MAX_DEPTH);
        return 422;
      }
      commas[depth] = 0;
      values++;
    } else if(ch == ']' || ch == '}') {
      if(depth > 0)
        depth--;
    } else if(ch == ',' && depth > 0) {
      if(++commas[depth] >= WEB_JSON_MAX_ARRAY) {
        *code = "too_large";
        snprintf(msg, cap, "a JSON array or object has more than %d items",
                 WEB_JSON_MAX_ARRAY);
        return 413;
      }
      values++;
    }
    if(values > max_values) {
      *code = "too_large";
      snprintf(msg, cap,
               "the JSON body has more than %zu values, this route's limit",
               max_values);
      *details = cJSON_CreateObject();
      cJSON_AddNumberToObject(*details, "max_values", (double)max_values);
      return 413;
    }
  }
  return 0;
}

int web_json_utf8(const char *data, size_t len, const char **code, char *msg,
                  size_t cap, cJSON **details) {
  size_t bad = 0;
  *details = NULL;
  if(mw_utf8_check(data, len, &bad) == MW_OK)
    return 0;
  /* Refused rather than repaired: cJSON would copy the bytes into what is
   * stored and echoed, and a U+FFFD in place of a byte would change what
   * the client sent without telling it. */
  *code = "invalid_json";
  snprintf(msg, cap, "request body is not valid UTF-8: bad byte at offset %zu", bad);
  *details = cJSON_CreateObject();
  cJSON_AddNumberToObject(*details, "offset", (double)bad);
  return 400;
}

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* web_json_duplicate_key with an error for a failed allocation. */
static mw_status duplicate_key(const cJSON *j, const char **dup) {
  if(cJSON_IsObject(j)) {
    size_t n = 0;
    for(const cJSON *c = j->child; c; c = c->next)
      n++;
    if(n <= 16) {
      for(const cJSON *c = j->child; c; c = c->next)
        for(const cJSON *d = c->next; d; d = d->next)
          if(!strcmp(c->string, d->string)) {
            *dup = c->string;
            return MW_OK;
          }
    } else {
      const char **keys = malloc(n * sizeof *keys);
      if(!keys)
        return MW_ENOMEM;
      size_t k = 0;
      for(const cJSON *c = j->child; c; c = c->next)
        keys[k++] = c->string;
      qsort(keys, n, sizeof *keys, cmp_keys);
      for(k = 1; k < n && !*dup; k++)
        if(!strcmp(keys[k - 1], keys[k]))
          *dup = keys[k];
      free(keys);
      if(*dup)
        return MW_OK;
    }
  }
  for(const cJSON *c = j->child; c; c = c->next) {
    mw_status st = duplicate_key(c, dup);
    if(st || *dup)
      return st;
  }
  return MW_OK;
}

int web_json_unique_keys(const cJSON *root, const char **code, char *msg, size_t cap,
                         cJSON **details) {
  const char *dup = NULL;
  *details = NULL;
  if(duplicate_key(root, &dup)) {
    *code = "out_of_memory";
    snprintf(msg, cap, "out of memory checking the JSON keys");
    return 500;
  }
  if(!dup)
    return 0;
  /* Which of two values a key meant is a guess: cJSON would take the
   * first, a proxy or another parser in front of us the last. */
  *code = "invalid_json";
  snprintf(msg, cap, "key \"%.64s\" appears twice in one JSON object", dup);
  *details = cJSON_CreateObject();
  cJSON_AddStringToObject(*details, "key", dup);
  return 400;
}

int web_json_parse(const char *data, size_t len, size_t max_values, cJSON **out,
                   const char **code, char *msg, size_t cap, cJSON **details) {
  *out = NULL;
  *details = NULL;
  *code = "invalid";
  if(len == 0) {
    snprintf(msg, cap, "request body must be a JSON object");
    return 400;
  }
  int status = web_json_utf8(data, len, code, msg, cap, details);
  if(!status)
    status = web_json_scan(data, len, max_values, code, msg, cap, details);
  if(status)
    return status;
  const char *end = NULL;
  cJSON *json = cJSON_ParseWithLengthOpts(data, len, &end, 0);
  size_t off = end ? (size_t)(end - data) : 0;
  if(json) {
    /* One value: nothing but whitespace may follow it. */
    while(off < len && (data[off] == ' ' || data[off] == '\t' || data[off] == '\n' ||
                        data[off] == '\r'))
      off++;
    if(off < len) {
      cJSON_Delete(json);
      json = NULL;
    }
  }
  if(!json) {
    *details = cJSON_CreateObject();
    cJSON_AddNumberToObject(*details, "offset", (double)off);
    *code = "invalid_json";
    snprintf(msg, cap,
             "request body is not valid JSON (or not one value): "
             "offset %zu",
             off);
    return 400;
  }
  if(json_shape(json, msg, cap)) {
    cJSON_Delete(json);
    *code = "validation_failed";
    return 422;
  }
  status = web_json_unique_keys(json, code, msg, cap, details);
  if(status) {
    cJSON_Delete(json);
    return status;
  }
  if(!cJSON_IsObject(json)) {
    cJSON_Delete(json);
    snprintf(msg, cap, "request body must be a JSON object");
    return 400;
  }
  *out = json;
  return 0;
}

/* Shared by web_read_json and web_read_json_opt. */
static int read_json(struct web_req *r, int optional, cJSON **out) {
  *out = NULL;
  mw_buf body;
  if(web_read_body(r, &body))
    return -1;
  if(body.len == 0 && optional)
    return 0;
  size_t limit, values;
  web_body_limits(web_route_body((size_t)r->route_index), &r->app->cfg, &limit,
                  &values);
  const char *code;
  char msg[160];
  cJSON *det;
  int status =
      web_json_parse(body.data, body.len, values, out, &code, msg, sizeof msg, &det);
  mw_buf_free(&body);
  if(status) {
    web_reply_error(r, status, code, msg, det);
    return -1;
  }
  return 0;
}

cJSON *web_read_json(struct web_req *r) {
  cJSON *j;
  return read_json(r, 0, &j) ? NULL : j;
}

int web_read_json_opt(struct web_req *r, cJSON **out) {
  return read_json(r, 1, out);
}

/* Sends the headers of a 200 streamed reply of size bytes. */
static void stream_headers(struct web_req *r, int64_t size, const char *ctype,
                           const char *extra_headers) {
  char lenbuf[32];
  snprintf(lenbuf, sizeof lenbuf, "%lld", (long long)size);
  if(has_body(r) && !r->body_done)
    mg_disable_connection_keep_alive(r->conn);
  mg_response_header_start(r->conn, 200);
  mg_response_header_add(r->conn, "Content-Type", ctype, -1);
  mg_response_header_add(r->conn, "Content-Length", lenbuf, -1);
  if(extra_headers && *extra_headers)
    mg_response_header_add_lines(r->conn, extra_headers);
  mg_response_header_send(r->conn);
  r->status = 200;
  r->replied = 1;
}

void web_reply_stream(struct web_req *r, int64_t size, const char *ctype,
                      const char *extra_headers, web_read_fn next, void *ctx) {
  if(strcmp(r->ri->request_method, "HEAD") == 0) {
    stream_headers(r, size, ctype, extra_headers);
    return;
  }
  const void *data = NULL;
  size_t n = 0;
  mw_status s = next(ctx, &data, &n);
  if(s) {
    web_reply_status(r, s, "the stored bytes cannot be read or are damaged");
    return;
  }
  stream_headers(r, size, ctype, extra_headers);
  int64_t sent = 0;
  while(n > 0 && !web_write_all(r, data, n)) {
    sent += (int64_t)n;
    if(sent >= size || (s = next(ctx, &data, &n)))
      break;
  }
  if(sent != size) {
    /* Short of Content-Length: only closing the connection tells the
     * client, and keeps the next request from being read as this body. */
    mw_log(MW_LOG_WARN, "http", "reply cut after %lld of %lld bytes (%s)",
           (long long)sent, (long long)size, s ? mw_strerror(s) : "client gone");
    mg_disable_connection_keep_alive(r->conn);
  }
}

int web_query_int(struct web_req *r, const char *name, int64_t dflt, int64_t *out) {
  char buf[64];
  *out = dflt;
  int has = web_query(r, name, buf, sizeof buf);
  if(has <= 0)
    return has;
  if(mw_parse_i64(buf, out)) {
    char msg[160];
    snprintf(msg, sizeof msg, "query parameter %.64s must be an integer", name);
    cJSON *det = cJSON_CreateObject();
    cJSON_AddStringToObject(det, "parameter", name);
    web_reply_error(r, 400, "invalid", msg, det);
    return -1;
  }
  return 0;
}

mw_status web_query_time(char *s, int64_t *ms) {
  /* Only past the seconds: a date never holds a space, and a value
   * shorter than that has none to fix (nor any bytes to look at). */
  size_t n = strlen(s);
  for(char *p = s + (n < 19 ? n : 19); *p; p++)
    if(*p == ' ')
      *p = '+';
  return mw_time_parse(s, ms);
}

int web_version_param(struct web_req *r, int64_t *v) {
  if(mw_parse_i64(web_param(r, "v"), v) || *v <= 0) {
    web_reply_error(r, 404, "not_found", "versions are positive integers", NULL);
    return 0;
  }
  return 1;
}

void web_reg_env(struct web_req *r, struct reg_env *env) {
  env->data_dir = r->app->cfg.data_dir;
  env->external_url = r->app->cfg.external_url;
  env->artifacts = r->app->cfg.artifact_store;
  env->allow_self_approval = r->app->cfg.allow_self_approval;
}
