/* cli/client_http.c - runs the client subcommands (cli/client.h) over
 * HTTP with libcurl: one easy handle per run, TLS verified, timeouts, the
 * retries cli_retry_delay_ms allows, the artifact streamed from its file
 * (hashed first, never held in memory), and `rollout wait`'s polling.
 * Answers go to stdout, errors and progress to stderr; the token goes
 * only into the Authorization header. */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "cli/client.h"

/* The largest answer read (a rollout with a long timeline is the largest
 * JSON a client command asks for). */
#define ANSWER_CAP (32u << 20)
#define CONNECT_TIMEOUT_MS 10000L
/* An upload has no overall limit (artifacts are large); it fails when
 * less than a byte a second moved for this long. */
#define UPLOAD_STALL_S 60L
/* rollout wait keeps polling through this much of a server that does not
 * answer (a restart, a failover) before it gives up. */
#define WAIT_OUTAGE_MS (120 * 1000LL)

/* The outcome of one call (after its retries). */
struct answer {
  cli_net net;
  long status;
  mw_buf body;
  char retry_after[128];
  char neterr[CURL_ERROR_SIZE];
  int attempts;
  int too_large;
};

/* The artifact being sent: opened, hashed and sized before anything is
 * sent; rewound for each attempt. */
struct upload {
  FILE *f;
  const char *path;
  int64_t size;
  char sha[65];
  int read_error;
};

static void answer_free(struct answer *a) { mw_buf_free(&a->body); }

static size_t on_write(char *p, size_t sz, size_t n, void *ud) {
  struct answer *a = ud;
  if(mw_buf_append(&a->body, p, sz * n)) {
    a->too_large = 1;
    return 0;
  }
  return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  struct answer *a = ud;
  size_t len = sz * n;
  static const char name[] = "retry-after:";
  if(len > sizeof name - 1 && !strncasecmp(p, name, sizeof name - 1)) {
    const char *val = p + sizeof name - 1;
    size_t v = len - (sizeof name - 1);
    while(v && (*val == ' ' || *val == '\t')) {
      val++;
      v--;
    }
    if(v >= sizeof a->retry_after)
      v = sizeof a->retry_after - 1;
    memcpy(a->retry_after, val, v);
    a->retry_after[v] = 0;
    a->retry_after[strcspn(a->retry_after, "\r\n")] = 0;
  }
  return len;
}

static size_t on_read(char *p, size_t sz, size_t n, void *ud) {
  struct upload *u = ud;
  size_t got = fread(p, 1, sz * n, u->f);
  if(got == 0 && ferror(u->f)) {
    u->read_error = 1;
    return CURL_READFUNC_ABORT;
  }
  return got;
}

static cli_net classify(CURLcode cc) {
  switch(cc) {
  case CURLE_OK:
    return CLI_NET_OK;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
    return CLI_NET_NOT_SENT;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return CLI_NET_TLS;
  case CURLE_READ_ERROR:
  case CURLE_ABORTED_BY_CALLBACK:
  case CURLE_OUT_OF_MEMORY:
  case CURLE_WRITE_ERROR:
    return CLI_NET_LOCAL;
  default:
    return CLI_NET_FAILED;
  }
}

/* One attempt. json: the body (NULL: none); up: the artifact instead. */
static void http_once(CURL *e, const cli_conn *c, const char *method,
                      const char *path, const char *json, struct upload *up,
                      struct answer *a) {
  mw_buf_free(&a->body);
  mw_buf_init(&a->body, ANSWER_CAP);
  a->status = 0;
  a->retry_after[0] = a->neterr[0] = 0;
  a->too_large = 0;
  char url[sizeof c->url + 2048 + 8];
  snprintf(url, sizeof url, "%s%s", c->url, path);
  char auth[sizeof c->token + 32];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
  char digest[96];
  struct curl_slist *h = NULL, *t;
  int ok = 1;
#define HDR(text)                     \
  do {                                \
    t = curl_slist_append(h, (text)); \
    if(t)                             \
      h = t;                          \
    else                              \
      ok = 0;                         \
  } while(0)
  HDR(auth);
  HDR("Accept: application/json");
  if(json)
    HDR("Content-Type: application/json");
  if(up) {
    snprintf(digest, sizeof digest, "X-Content-SHA256: %s", up->sha);
    HDR(digest);
    HDR("Content-Type: application/octet-stream");
  }
#undef HDR
  curl_easy_reset(e);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if(c->cacert[0])
    curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "modelwatch-cli/" MW_VERSION);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->neterr);
  if(up) {
    rewind(up->f);
    up->read_error = 0;
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, up);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up->size);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, UPLOAD_STALL_S);
  } else {
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    if(json) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
    }
  }
  if(strcmp(method, up ? "PUT" : json ? "POST" : "GET"))
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  CURLcode cc = ok ? curl_easy_perform(e) : CURLE_OUT_OF_MEMORY;
  /* The Authorization header held the token: wiped from our copies. */
  for(t = h; t; t = t->next)
    OPENSSL_cleanse(t->data, strlen(t->data));
  curl_slist_free_all(h);
  OPENSSL_cleanse(auth, sizeof auth);
  a->net = classify(cc);
  if(cc == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->status);
  else if(!a->neterr[0])
    snprintf(a->neterr, sizeof a->neterr, "%s", curl_easy_strerror(cc));
  if(up && up->read_error)
    snprintf(a->neterr, sizeof a->neterr, "cannot read %s", up->path);
  if(a->too_large)
    snprintf(a->neterr, sizeof a->neterr, "the answer is larger than %u bytes",
             ANSWER_CAP);
}

static void sleep_ms(long ms) {
  if(ms <= 0)
    return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while(nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

static double jitter(void) {
  uint32_t r = 0;
  if(mw_random_bytes(&r, sizeof r))
    return 0;
  return (double)r / 4294967296.0;
}

/* One call with the retries it allows; a retry is said on stderr. */
static void http_call(CURL *e, const cli_conn *c, const char *method,
                      const char *path, const char *json, struct upload *up,
                      int idempotent, struct answer *a) {
  for(int attempt = 1;; attempt++) {
    http_once(e, c, method, path, json, up, a);
    a->attempts = attempt;
    long d = cli_retry_delay_ms(c->retries, attempt, idempotent, a->net, a->status,
                                a->retry_after[0] ? a->retry_after : NULL,
                                mw_now_ms(), jitter());
    if(d < 0)
      return;
    if(a->net == CLI_NET_OK)
      fprintf(stderr, "modelwatch: %s %s: %ld%s%s; retry %d of %d in %.1f s\n",
              method, path, a->status, a->retry_after[0] ? ", Retry-After " : "",
              a->retry_after, attempt, c->retries, (double)d / 1000);
    else
      fprintf(stderr, "modelwatch: %s %s: %s; retry %d of %d in %.1f s\n", method,
              path, a->neterr, attempt, c->retries, (double)d / 1000);
    sleep_ms(d);
  }
}

/* The body as a JSON value (caller frees), NULL when it is not one. */
static cJSON *answer_json(const struct answer *a) {
  return a->body.len ? cJSON_ParseWithLength(a->body.data, a->body.len) : NULL;
}

static void print_body(const struct answer *a) {
  if(!a->body.len)
    return;
  fwrite(a->body.data, 1, a->body.len, stdout);
  if(a->body.data[a->body.len - 1] != '\n')
    fputc('\n', stdout);
}

/* Says why a call failed and returns its exit code (0 when it did not).
 * With --json, an error answer that is JSON goes to stdout too. */
static int report(const cli_request *r, const char *method, const char *path,
                  const struct answer *a) {
  int code = cli_exit_for(a->net, a->status);
  if(!code)
    return 0;
  if(a->net != CLI_NET_OK) {
    fprintf(stderr, "modelwatch: %s %s: %s: %s%s\n", method, path,
            a->net == CLI_NET_TLS     ? "TLS verification failed"
            : a->net == CLI_NET_LOCAL ? "failed"
                                      : "cannot reach the server",
            a->neterr, a->attempts > 1 ? " (no attempt got an answer)" : "");
    if(a->net != CLI_NET_LOCAL)
      fprintf(stderr, "  (server %s, from --url or MODELWATCH_URL)\n", r->conn.url);
    return code;
  }
  mw_buf m;
  mw_buf_init(&m, 1 << 20);
  if(!cli_describe_error(method, path, a->status, a->body.data, a->body.len, &m))
    fputs(m.data, stderr);
  mw_buf_free(&m);
  if(a->attempts > 1)
    fprintf(stderr, "  (after %d attempts)\n", a->attempts);
  if(r->json) {
    cJSON *j = answer_json(a);
    if(j)
      print_body(a);
    cJSON_Delete(j);
  }
  return code;
}

/* Prints the human line of answer a (or, with --json, a itself). */
static int print_result(const cli_request *r, const struct answer *a) {
  if(r->json) {
    print_body(a);
    return CLI_EXIT_OK;
  }
  cJSON *j = answer_json(a);
  mw_buf m;
  mw_buf_init(&m, 1 << 20);
  int rc = CLI_EXIT_OK;
  if(!j || cli_describe_result(r, j, &m)) {
    fprintf(stderr, "modelwatch: the server's answer is not what was expected\n");
    rc = CLI_EXIT_ERROR;
  } else {
    fputs(m.data, stdout);
  }
  mw_buf_free(&m);
  cJSON_Delete(j);
  return rc;
}

/* ---------------------------------------------------------- artifacts */

/* Opens and hashes the artifact (sha256 and size, streamed). */
static int upload_open(struct upload *u, const char *path) {
  memset(u, 0, sizeof *u);
  u->path = path;
  u->f = fopen(path, "rb");
  struct stat st;
  if(!u->f || fstat(fileno(u->f), &st) || !S_ISREG(st.st_mode)) {
    fprintf(stderr, "modelwatch: artifact %s: %s\n", path,
            u->f ? "not a regular file" : strerror(errno));
    if(u->f)
      fclose(u->f);
    u->f = NULL;
    return CLI_EXIT_USAGE;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  unsigned char buf[1 << 16];
  size_t n;
  while(ok && (n = fread(buf, 1, sizeof buf, u->f)) > 0) {
    ok = EVP_DigestUpdate(md, buf, n);
    u->size += (int64_t)n;
  }
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  ok = ok && !ferror(u->f) && EVP_DigestFinal_ex(md, d, &len) && len == 32;
  EVP_MD_CTX_free(md);
  if(!ok) {
    fprintf(stderr, "modelwatch: artifact %s: read error\n", path);
    fclose(u->f);
    u->f = NULL;
    return CLI_EXIT_USAGE;
  }
  for(unsigned i = 0; i < 32; i++)
    snprintf(u->sha + 2 * i, 3, "%02x", d[i]);
  return CLI_EXIT_OK;
}

/* Checks the server's version after an upload: ready, our sha256 and
 * size. Returns 0 or CLI_EXIT_ERROR (said on stderr). */
static int upload_verify(const struct upload *u, const cJSON *v) {
  const char *sha = mw_json_str(v, "sha256"), *status = mw_json_str(v, "status");
  int64_t size = -1;
  mw_json_int(cJSON_GetObjectItemCaseSensitive(v, "size"), &size);
  if(sha && !strcmp(sha, u->sha) && size == u->size && status &&
     !strcmp(status, "ready"))
    return CLI_EXIT_OK;
  fprintf(stderr,
          "modelwatch: the server's answer does not match the artifact sent: "
          "sha256 %s, size %lld, status %s (sent sha256 %s, size %lld)\n",
          sha ? sha : "none", (long long)size, status ? status : "none", u->sha,
          (long long)u->size);
  return CLI_EXIT_ERROR;
}

/* PUTs the artifact of version `version` and checks the answer. A retry
 * answered 409 (an earlier attempt stored it and its answer was lost) is
 * success when the version now holds this very artifact. On success *out
 * is the answer (the version). */
static int upload_artifact(CURL *e, const cli_request *r, struct upload *u,
                           int64_t version, struct answer *out) {
  char path[sizeof r->path + 96];
  char vpath[sizeof r->path + 48];
  /* r->path holds the model's path up to .../versions when the version
   * was just created, or the artifact path already (version upload). */
  if(r->cmd == CLI_VERSION_UPLOAD) {
    snprintf(path, sizeof path, "%s", r->path);
    snprintf(vpath, sizeof vpath, "%.*s",
             (int)(strlen(r->path) - strlen("/artifact")), r->path);
  } else {
    snprintf(vpath, sizeof vpath, "%s/%lld", r->path, (long long)version);
    snprintf(path, sizeof path, "%s/artifact", vpath);
  }
  http_call(e, &r->conn, "PUT", path, NULL, u, 1, out);
  if(out->net == CLI_NET_OK && out->status == 409 && out->attempts > 1) {
    struct answer g = {0};
    http_call(e, &r->conn, "GET", vpath, NULL, NULL, 1, &g);
    cJSON *j = cli_exit_for(g.net, g.status) ? NULL : answer_json(&g);
    const char *sha = mw_json_str(j, "sha256");
    if(sha && !strcmp(sha, u->sha)) {
      fprintf(stderr, "modelwatch: an earlier attempt stored the artifact\n");
      answer_free(out);
      *out = g;
      memset(&g, 0, sizeof g);
    }
    cJSON_Delete(j);
    answer_free(&g);
  }
  int code = report(r, "PUT", path, out);
  if(code)
    return code;
  cJSON *v = answer_json(out);
  code = upload_verify(u, v);
  cJSON_Delete(v);
  if(!code)
    fprintf(stderr,
            "modelwatch: %s version %lld: uploaded %s (%lld bytes, sha256 %s), "
            "ready\n",
            r->model, (long long)version, u->path, (long long)u->size, u->sha);
  return code;
}

static int run_version(CURL *e, const cli_request *r) {
  struct upload u = {0};
  int code = CLI_EXIT_OK;
  if(r->artifact[0] && (code = upload_open(&u, r->artifact)))
    return code;
  struct answer a = {0};
  int64_t version = r->version;
  if(r->cmd == CLI_VERSION_CREATE) {
    char *body = cJSON_PrintUnformatted(r->body);
    http_call(e, &r->conn, "POST", r->path, body, NULL, 0, &a);
    cJSON_free(body);
    code = report(r, "POST", r->path, &a);
    if(!code) {
      cJSON *j = answer_json(&a);
      if(!mw_json_int(cJSON_GetObjectItemCaseSensitive(j, "version"), &version)) {
        fprintf(stderr, "modelwatch: the server's answer has no version number\n");
        code = CLI_EXIT_ERROR;
      }
      cJSON_Delete(j);
    }
  }
  if(!code && u.f) {
    answer_free(&a);
    memset(&a, 0, sizeof a);
    code = upload_artifact(e, r, &u, version, &a);
    if(code && r->cmd == CLI_VERSION_CREATE)
      fprintf(stderr,
              "modelwatch: version %lld of %s exists without its artifact; "
              "upload it with: modelwatch version upload %s %lld %s\n",
              (long long)version, r->model, r->model, (long long)version,
              r->artifact);
  }
  if(!code)
    code = print_result(r, &a);
  answer_free(&a);
  if(u.f)
    fclose(u.f);
  return code;
}

/* ------------------------------------------------------------ rollouts */

static int print_timeline(const cli_request *r, const struct answer *a,
                          const cJSON *j) {
  if(r->json) {
    print_body(a);
    return CLI_EXIT_OK;
  }
  mw_buf m;
  mw_buf_init(&m, 8u << 20);
  int rc = CLI_EXIT_OK;
  if(cli_timeline(j, &m))
    rc = CLI_EXIT_ERROR;
  else
    fputs(m.data, stdout);
  mw_buf_free(&m);
  return rc;
}

static int run_status(CURL *e, const cli_request *r) {
  struct answer a = {0};
  http_call(e, &r->conn, "GET", r->path, NULL, NULL, 1, &a);
  int code = report(r, "GET", r->path, &a);
  if(!code) {
    cJSON *j = answer_json(&a);
    code = j ? print_timeline(r, &a, j) : CLI_EXIT_ERROR;
    cJSON_Delete(j);
  }
  answer_free(&a);
  return code;
}

/* Polls the rollout until it is promoted, aborted or paused, or until
 * --timeout; a step change is said on stderr as it happens. A server
 * that stops answering is polled on for WAIT_OUTAGE_MS. */
static int run_wait(CURL *e, const cli_request *r) {
  int64_t start = mw_now_ms();
  int64_t deadline = r->wait_timeout_s > 0
                         ? start + (int64_t)(r->wait_timeout_s * 1000)
                         : INT64_MAX;
  int64_t down_since = -1, last_step = -1;
  struct answer a = {0};
  int code;
  for(;;) {
    http_call(e, &r->conn, "GET", r->path, NULL, NULL, 1, &a);
    code = cli_exit_for(a.net, a.status);
    int64_t now = mw_now_ms();
    if(code == CLI_EXIT_UNREACHABLE) {
      if(down_since < 0)
        down_since = now;
      if(now - down_since < WAIT_OUTAGE_MS && now < deadline) {
        fprintf(stderr, "modelwatch: rollout %lld: no answer (%s); polling on\n",
                (long long)r->rollout_id,
                a.net == CLI_NET_OK ? "server error" : a.neterr);
        sleep_ms((long)(r->wait_interval_s * 1000));
        continue;
      }
    }
    if(code) {
      code = report(r, "GET", r->path, &a);
      break;
    }
    down_since = -1;
    cJSON *j = answer_json(&a);
    int end = j ? cli_wait_exit(j) : CLI_EXIT_ERROR;
    int64_t step = -1, weight = -1;
    mw_json_int(cJSON_GetObjectItemCaseSensitive(j, "step"), &step);
    mw_json_int(cJSON_GetObjectItemCaseSensitive(j, "weight_percent"), &weight);
    if(end < 0 && step != last_step) {
      fprintf(stderr, "modelwatch: rollout %lld: step %lld of %d, weight %lld%%\n",
              (long long)r->rollout_id, (long long)step + 1,
              cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "steps")),
              (long long)weight);
      last_step = step;
    }
    if(end >= 0 || now >= deadline) {
      if(j)
        print_timeline(r, &a, j);
      if(end < 0 && j) {
        fprintf(stderr, "modelwatch: rollout %lld still running after %g s\n",
                (long long)r->rollout_id, r->wait_timeout_s);
        end = CLI_EXIT_TIMEOUT;
      }
      cJSON_Delete(j);
      code = end;
      break;
    }
    cJSON_Delete(j);
    int64_t left = deadline - now;
    long pause = (long)(r->wait_interval_s * 1000);
    sleep_ms(left < pause ? (long)left : pause);
  }
  answer_free(&a);
  return code;
}

/* ---------------------------------------------------------------- the rest */

static int run_get(CURL *e, const cli_request *r) {
  struct answer a = {0};
  http_call(e, &r->conn, "GET", r->path, NULL, NULL, 1, &a);
  int code = report(r, "GET", r->path, &a);
  if(!code)
    print_body(&a);
  answer_free(&a);
  return code;
}

/* A compare-and-swap move retried after its first answer was lost, and
 * answered 409 with the alias where it was asked to go: the move of an
 * earlier attempt (or an identical one) is done. */
static int cas_done(const cli_request *r, const struct answer *a) {
  if(!r->cas || a->net != CLI_NET_OK || a->status != 409 || a->attempts < 2)
    return 0;
  cJSON *j = answer_json(a);
  const cJSON *det = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(j, "error"), "details");
  int64_t cur = 0;
  int done =
      mw_json_int(cJSON_GetObjectItemCaseSensitive(det, "current_version"), &cur) &&
      cur == r->version;
  cJSON_Delete(j);
  return done;
}

static int run_simple(CURL *e, const cli_request *r) {
  struct answer a = {0};
  char *body = r->body ? cJSON_PrintUnformatted(r->body) : NULL;
  http_call(e, &r->conn, r->method, r->path, body, NULL, r->idempotent, &a);
  cJSON_free(body);
  int code;
  if(cas_done(r, &a)) {
    fprintf(stderr,
            "modelwatch: %s@%s already points to %lld: an earlier attempt "
            "moved it\n",
            r->model, r->alias, (long long)r->version);
    if(r->json) {
      cJSON *j = cJSON_CreateObject();
      cJSON_AddStringToObject(j, "alias", r->alias);
      cJSON_AddNumberToObject(j, "version", (double)r->version);
      cJSON_AddNullToObject(j, "previous_version");
      char *s = cJSON_PrintUnformatted(j);
      if(s)
        printf("%s\n", s);
      cJSON_free(s);
      cJSON_Delete(j);
    } else
      printf("%s@%s -> %lld\n", r->model, r->alias, (long long)r->version);
    code = CLI_EXIT_OK;
  } else if(!(code = report(r, r->method, r->path, &a))) {
    code = print_result(r, &a);
    if(!code && r->cmd == CLI_ROLLOUT_START && !r->json)
      fprintf(stderr, "modelwatch: rollout started: %s@%s to version %lld\n",
              r->model, r->alias, (long long)r->version);
  }
  answer_free(&a);
  return code;
}

int cli_main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  cli_request r;
  mw_err err = {0};
  if(cli_parse(argc, argv, getenv("MODELWATCH_URL"), getenv("MODELWATCH_TOKEN"),
               getenv("MODELWATCH_CACERT"), &r, &err)) {
    fprintf(stderr, "modelwatch: %s (see modelwatch --help)\n", err.msg);
    cli_request_free(&r);
    mw_err_clear(&err);
    return CLI_EXIT_USAGE;
  }
  if(r.cmd == CLI_HELP) {
    cli_usage(stdout);
    cli_request_free(&r);
    return CLI_EXIT_OK;
  }
  if(!r.conn.token[0]) {
    fprintf(stderr, "modelwatch: no token: set MODELWATCH_TOKEN (or --token)\n");
    cli_request_free(&r);
    return CLI_EXIT_UNAUTHORIZED;
  }
  CURL *e = curl_easy_init();
  int code;
  if(!e) {
    fprintf(stderr, "modelwatch: cannot initialise libcurl\n");
    code = CLI_EXIT_ERROR;
  } else {
    switch(r.cmd) {
    case CLI_VERSION_CREATE:
    case CLI_VERSION_UPLOAD:
      code = run_version(e, &r);
      break;
    case CLI_ROLLOUT_STATUS:
      code = run_status(e, &r);
      break;
    case CLI_ROLLOUT_WAIT:
      code = run_wait(e, &r);
      break;
    case CLI_GET:
      code = run_get(e, &r);
      break;
    default:
      code = run_simple(e, &r);
      break;
    }
    curl_easy_cleanup(e);
  }
  OPENSSL_cleanse(r.conn.token, sizeof r.conn.token);
  cli_request_free(&r);
  fflush(stdout);
  return code;
}
