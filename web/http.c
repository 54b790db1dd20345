/* web/http.c - request and reply helpers: every handler reads bodies and
 * sends replies through these, so limits, the error format and the byte
 * counts for the access log live in one place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "registry/registry.h"

#include "web/web_internal.h"

const char *web_param(struct web_req *r, const char *name) {
  size_t n = strlen(name);
  for(int i = 0; i < r->nparams; i++)
    if(r->pnamelen[i] == n && memcmp(r->pnames[i], name, n) == 0)
      return r->pvals[i];
  return NULL;
}

int web_query(struct web_req *r, const char *name, char *buf, size_t cap) {
  const char *qs = r->ri->query_string;
  if(!qs)
    return 0;
  return mg_get_var(qs, strlen(qs), name, buf, cap) >= 0;
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

static void send_headers(struct web_req *r, int status, const char *ctype,
                         size_t len, const char *extra) {
  char lenbuf[32];
  snprintf(lenbuf, sizeof lenbuf, "%zu", len);
  mg_response_header_start(r->conn, status);
  mg_response_header_add(r->conn, "Content-Type", ctype, -1);
  mg_response_header_add(r->conn, "Content-Length", lenbuf, -1);
  mg_response_header_add(r->conn, "Cache-Control", "no-store", -1);
  mg_response_header_add(r->conn, "X-Content-Type-Options", "nosniff", -1);
  if(extra && *extra)
    mg_response_header_add_lines(r->conn, extra);
  mg_response_header_send(r->conn);
  r->status = status;
  r->replied = 1;
}

void web_reply_raw(struct web_req *r, int status, const char *ctype,
                   const char *data, size_t len, const char *extra_headers) {
  if(r->replied)
    return;
  send_headers(r, status, ctype, len, extra_headers);
  if(len > 0 && strcmp(r->ri->request_method, "HEAD") != 0)
    mg_write(r->conn, data, len);
  r->bytes_sent += (int64_t)len;
}

void web_reply_json(struct web_req *r, int status, cJSON *body) {
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

mw_status web_read_body(struct web_req *r, size_t limit, mw_buf *out) {
  mw_buf_init(out, limit);
  long long clen = r->ri->content_length;
  if(clen > (long long)limit) {
    char msg[128];
    snprintf(msg, sizeof msg, "request body of %lld bytes exceeds the limit of %zu",
             clen, limit);
    web_reply_error(r, 413, "too_large", msg, NULL);
    return MW_ETOOBIG;
  }
  char chunk[16384];
  for(;;) {
    int n = mg_read(r->conn, chunk, sizeof chunk);
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
      snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes", limit);
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

/* Walks a parsed body and reports the first place past the caps on
 * nesting, string length or array length (0 when within them). */
static int json_shape(const cJSON *j, int depth, char *msg, size_t cap,
                      int *too_big) {
  if(depth > WEB_JSON_MAX_DEPTH) {
    snprintf(msg, cap, "JSON nested deeper than %d levels", WEB_JSON_MAX_DEPTH);
    return -1;
  }
  if(cJSON_IsString(j) && strlen(j->valuestring) > WEB_JSON_MAX_STRING) {
    snprintf(msg, cap, "a JSON string is longer than %d bytes", WEB_JSON_MAX_STRING);
    return -1;
  }
  if(j->string && strlen(j->string) > WEB_JSON_MAX_STRING) {
    snprintf(msg, cap, "a JSON key is longer than %d bytes", WEB_JSON_MAX_STRING);
    return -1;
  }
  int n = 0;
  for(const cJSON *c = j->child; c; c = c->next) {
    if(++n > WEB_JSON_MAX_ARRAY) {
      snprintf(msg, cap, "a JSON array or object has more than %d items",
               WEB_JSON_MAX_ARRAY);
      *too_big = 1;
      return -1;
    }
    if(json_shape(c, depth + 1, msg, cap, too_big))
      return -1;
  }
  return 0;
}

/* One scan of a JSON text before it is parsed: the deepest nesting, and
 * the offset of the first string that holds a raw control character
 * (RFC 8259 wants them escaped) or a \u0000 escape (cJSON would end the
 * string there and store the rest silently cut off), or -1. Nesting is
 * checked first: cJSON recurses once per level, and a body of thousands of
 * '[' would otherwise exhaust a worker thread's stack. */
static int json_scan(const char *p, size_t n, long *bad) {
  int depth = 0, max = 0, in_str = 0;
  *bad = -1;
  for(size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if(in_str) {
      if(ch == '\\') {
        if(*bad < 0 && i + 5 < n && p[i + 1] == 'u' && !memcmp(p + i + 2, "0000", 4))
          *bad = (long)i;
        i++;
      } else if(ch == '"') {
        in_str = 0;
      } else if(ch < 0x20 && *bad < 0) {
        *bad = (long)i;
      }
    } else if(ch == '"') {
      in_str = 1;
    } else if(ch == '[' || ch == '{') {
      if(++depth > max)
        max = depth;
    } else if(ch == ']' || ch == '}') {
      depth--;
    }
  }
  return max;
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
  snprintf(msg, cap, "request body is not valid UTF-8: bad byte at offset %zu",
           bad);
  *details = cJSON_CreateObject();
  cJSON_AddNumberToObject(*details, "offset", (double)bad);
  return 400;
}

int web_json_parse(const char *data, size_t len, cJSON **out,
                   const char **code, char *msg, size_t cap, cJSON **details) {
  *out = NULL;
  *details = NULL;
  *code = "invalid";
  if(len == 0) {
    snprintf(msg, cap, "request body must be a JSON object");
    return 400;
  }
  int status = web_json_utf8(data, len, code, msg, cap, details);
  if(status)
    return status;
  long bad;
  if(json_scan(data, len, &bad) > WEB_JSON_MAX_DEPTH) {
    *code = "validation_failed";
    snprintf(msg, cap, "JSON nested deeper than %d levels", WEB_JSON_MAX_DEPTH);
    return 422;
  }
  if(bad >= 0) {
    *code = "invalid_json";
    snprintf(msg, cap, "%s in a JSON string at offset %ld",
             data[bad] == '\\' ? "\\u0000 (NUL)" : "a raw control character", bad);
    *details = cJSON_CreateObject();
    cJSON_AddNumberToObject(*details, "offset", (double)bad);
    return 400;
  }
  const char *end = NULL;
  cJSON *json = cJSON_ParseWithLengthOpts(data, len, &end, 0);
  if(!json) {
    size_t off = end ? (size_t)(end - data) : 0;
    *details = cJSON_CreateObject();
    cJSON_AddNumberToObject(*details, "offset", (double)off);
    *code = "invalid_json";
    snprintf(msg, cap, "request body is not valid JSON");
    return 400;
  }
  int too_big = 0;
  if(json_shape(json, 1, msg, cap, &too_big)) {
    cJSON_Delete(json);
    *code = too_big ? "too_large" : "validation_failed";
    return too_big ? 413 : 422;
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
  if(web_read_body(r, r->app->cfg.max_body, &body))
    return -1;
  if(body.len == 0 && optional)
    return 0;
  const char *code;
  char msg[160];
  cJSON *det;
  int status = web_json_parse(body.data, body.len, out, &code, msg, sizeof msg, &det);
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

void web_reply_file(struct web_req *r, const char *path, int64_t size,
                    const char *ctype, const char *extra_headers) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    mw_log(MW_LOG_ERROR, "http", "cannot open %s", path);
    web_reply_error(r, 500, "io_error", "stored file is missing", NULL);
    return;
  }
  char lenbuf[32];
  snprintf(lenbuf, sizeof lenbuf, "%lld", (long long)size);
  mg_response_header_start(r->conn, 200);
  mg_response_header_add(r->conn, "Content-Type", ctype, -1);
  mg_response_header_add(r->conn, "Content-Length", lenbuf, -1);
  if(extra_headers && *extra_headers)
    mg_response_header_add_lines(r->conn, extra_headers);
  mg_response_header_send(r->conn);
  r->status = 200;
  r->replied = 1;
  if(strcmp(r->ri->request_method, "HEAD") == 0) {
    close(fd);
    return;
  }
  static const size_t chunk = 256 * 1024;
  char *buf = malloc(chunk);
  int64_t left = size;
  while(buf && left > 0) {
    ssize_t n = read(fd, buf, (size_t)(left < (int64_t)chunk ? left : (int64_t)chunk));
    if(n <= 0 || mg_write(r->conn, buf, (size_t)n) <= 0)
      break;
    left -= n;
    r->bytes_sent += n;
  }
  free(buf);
  close(fd);
}

int web_query_int(struct web_req *r, const char *name, int64_t dflt,
                  int64_t *out) {
  char buf[64];
  *out = dflt;
  if(!web_query(r, name, buf, sizeof buf))
    return 0;
  if(mw_parse_i64(buf, out)) {
    char msg[160];
    snprintf(msg, sizeof msg, "query parameter %s must be an integer", name);
    web_reply_error(r, 400, "invalid", msg, NULL);
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

void web_reg_env(struct web_req *r, struct reg_env *env) {
  env->data_dir = r->app->cfg.data_dir;
  env->external_url = r->app->cfg.external_url;
}
