/* cli/client.c - the pure half of the client subcommands (cli/client.h):
 * arguments into a request, answers into exit codes and lines, the retry
 * policy. No network, no terminal: everything is returned or appended to
 * a buffer, so tests/unit/test_cli_client.c can check it. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"

/* ------------------------------------------------------------ exit codes */

int cli_exit_for(cli_net net, long http_status) {
  switch(net) {
  case CLI_NET_OK:
    break;
  case CLI_NET_LOCAL:
    return CLI_EXIT_ERROR;
  default:
    return CLI_EXIT_UNREACHABLE;
  }
  if(http_status >= 200 && http_status < 300)
    return CLI_EXIT_OK;
  switch(http_status) {
  case 401:
    return CLI_EXIT_UNAUTHORIZED;
  case 403:
    return CLI_EXIT_REFUSED;
  case 404:
    return CLI_EXIT_NOT_FOUND;
  case 409:
    return CLI_EXIT_CONFLICT;
  case 400:
  case 413:
  case 422:
    return CLI_EXIT_INVALID;
  case 429:
    return CLI_EXIT_UNREACHABLE;
  default:
    return http_status >= 500 && http_status < 600 ? CLI_EXIT_UNREACHABLE
                                                   : CLI_EXIT_ERROR;
  }
}

int cli_wait_exit(const cJSON *rollout) {
  const char *state = mw_json_str(rollout, "state");
  if(!state)
    return -1;
  if(!strcmp(state, "promoted"))
    return CLI_EXIT_OK;
  if(!strcmp(state, "aborted"))
    return CLI_EXIT_ABORTED;
  if(!strcmp(state, "paused"))
    return CLI_EXIT_PAUSED;
  return -1;
}

/* ------------------------------------------------------------- retries */

long cli_retry_after_ms(const char *value, int64_t now_ms) {
  if(!value)
    return -1;
  while(*value == ' ' || *value == '\t')
    value++;
  size_t n = strlen(value);
  while(n && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r'))
    n--;
  if(!n)
    return -1;
  if(strspn(value, "0123456789") >= n) {
    /* delay-seconds; anything past a day is as good as "not soon". */
    long secs = 0;
    for(size_t i = 0; i < n; i++) {
      secs = secs * 10 + (value[i] - '0');
      if(secs > 86400)
        return 86400L * 1000;
    }
    return secs * 1000;
  }
  /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
  char buf[64];
  if(n >= sizeof buf)
    return -1;
  memcpy(buf, value, n);
  buf[n] = 0;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if(!end || *end)
    return -1;
  time_t t = timegm(&tm);
  if(t == (time_t)-1)
    return -1;
  int64_t d = (int64_t)t * 1000 - now_ms;
  if(d <= 0)
    return 0;
  return d > 86400LL * 1000 ? 86400L * 1000 : (long)d;
}

long cli_retry_delay_ms(int retries, int attempt, int idempotent, cli_net net,
                        long http_status, const char *retry_after, int64_t now_ms,
                        double jitter) {
  assert(attempt >= 1);
  if(attempt > retries)
    return -1;
  int again = 0, honour = 0;
  switch(net) {
  case CLI_NET_NOT_SENT:
    again = 1;
    break;
  case CLI_NET_FAILED:
    again = idempotent;
    break;
  case CLI_NET_OK:
    if(http_status == 429)
      again = honour = 1;
    else if(http_status == 502 || http_status == 503 || http_status == 504)
      again = honour = idempotent;
    break;
  default:
    break;
  }
  if(!again)
    return -1;
  if(honour && retry_after) {
    long ra = cli_retry_after_ms(retry_after, now_ms);
    if(ra > CLI_MAX_RETRY_AFTER_MS)
      return -1;
    if(ra >= 0)
      return ra;
  }
  long base = 250L << (attempt - 1 < 5 ? attempt - 1 : 5);
  if(base > 4000)
    base = 4000;
  if(jitter < 0 || jitter >= 1 || jitter != jitter)
    jitter = 0;
  return base + (long)(jitter * (double)base / 2);
}

/* ------------------------------------------------------------- parsing */

#define LIST_MAX 64
struct list {
  const char *v[LIST_MAX];
  int n;
};

/* The words of one command line, before they are checked. */
struct raw {
  const char *pos[8];
  int npos;
  const char *url, *token, *cacert, *retries, *request_timeout;
  int json, help;
  const char *description, *reason, *comment, *run_id, *source, *mode;
  const char *schema, *metrics_file, *analysis_file, *artifact;
  const char *expect, *to, *timeout, *interval;
  const char *max_drift, *max_cvb, *metric, *min_predictions, *label_delay,
      *max_wait;
  struct list tags, metrics, steps;
};

#define B(c) (1u << (c))
#define ALL 0xffffffffu
#define ROLLOUT_HANDS                                                    \
  (B(CLI_ROLLOUT_PAUSE) | B(CLI_ROLLOUT_RESUME) | B(CLI_ROLLOUT_ABORT) | \
   B(CLI_ROLLOUT_PROMOTE))

enum opt_kind { OPT_VALUE, OPT_LIST, OPT_FLAG };

struct opt {
  const char *name;
  enum opt_kind kind;
  size_t off;
  unsigned cmds; /* the subcommands that take it */
};

#define V(field) OPT_VALUE, offsetof(struct raw, field)
#define L(field) OPT_LIST, offsetof(struct raw, field)
#define F(field) OPT_FLAG, offsetof(struct raw, field)

static const struct opt OPTS[] = {
    {"--url", V(url), ALL},
    {"--token", V(token), ALL},
    {"--cacert", V(cacert), ALL},
    {"--retries", V(retries), ALL},
    {"--request-timeout", V(request_timeout), ALL},
    {"--json", F(json), ALL},
    {"--help", F(help), ALL},
    {"-h", F(help), ALL},
    {"--description", V(description), B(CLI_MODEL_CREATE) | B(CLI_VERSION_CREATE)},
    {"--tag", L(tags), B(CLI_MODEL_CREATE) | B(CLI_VERSION_CREATE)},
    {"--artifact", V(artifact), B(CLI_VERSION_CREATE)},
    {"--schema", V(schema), B(CLI_VERSION_CREATE)},
    {"--metrics", L(metrics), B(CLI_VERSION_CREATE)},
    {"--metrics-file", V(metrics_file), B(CLI_VERSION_CREATE)},
    {"--run-id", V(run_id), B(CLI_VERSION_CREATE)},
    {"--source", V(source), B(CLI_VERSION_CREATE)},
    {"--expect", V(expect), B(CLI_PROMOTE)},
    {"--to", V(to), B(CLI_ROLLBACK)},
    {"--reason", V(reason), B(CLI_PROMOTE) | B(CLI_ROLLBACK) | ROLLOUT_HANDS},
    {"--comment", V(comment), B(CLI_APPROVE) | B(CLI_REJECT)},
    {"--mode", V(mode), B(CLI_ROLLOUT_START)},
    {"--step", L(steps), B(CLI_ROLLOUT_START)},
    {"--max-drift-share", V(max_drift), B(CLI_ROLLOUT_START)},
    {"--max-candidate-vs-baseline-drift-share", V(max_cvb), B(CLI_ROLLOUT_START)},
    {"--metric", V(metric), B(CLI_ROLLOUT_START)},
    {"--min-predictions", V(min_predictions), B(CLI_ROLLOUT_START)},
    {"--label-delay", V(label_delay), B(CLI_ROLLOUT_START)},
    {"--max-wait", V(max_wait), B(CLI_ROLLOUT_START)},
    {"--analysis-file", V(analysis_file), B(CLI_ROLLOUT_START)},
    {"--timeout", V(timeout), B(CLI_ROLLOUT_WAIT)},
    {"--interval", V(interval), B(CLI_ROLLOUT_WAIT)},
};

#undef V
#undef L
#undef F

/* The subcommand argv starts with, and how many words name it. */
static int which(int argc, char **argv, cli_cmd *cmd, int *words) {
  static const struct {
    const char *a, *b;
    cli_cmd cmd;
  } T[] = {
      {"model", "create", CLI_MODEL_CREATE},
      {"version", "create", CLI_VERSION_CREATE},
      {"version", "upload", CLI_VERSION_UPLOAD},
      {"promote", NULL, CLI_PROMOTE},
      {"rollback", NULL, CLI_ROLLBACK},
      {"approve", NULL, CLI_APPROVE},
      {"reject", NULL, CLI_REJECT},
      {"rollout", "start", CLI_ROLLOUT_START},
      {"rollout", "status", CLI_ROLLOUT_STATUS},
      {"rollout", "wait", CLI_ROLLOUT_WAIT},
      {"rollout", "pause", CLI_ROLLOUT_PAUSE},
      {"rollout", "resume", CLI_ROLLOUT_RESUME},
      {"rollout", "abort", CLI_ROLLOUT_ABORT},
      {"rollout", "promote", CLI_ROLLOUT_PROMOTE},
      {"get", NULL, CLI_GET},
  };
  if(argc < 1)
    return 0;
  for(size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    if(strcmp(argv[0], T[i].a))
      continue;
    if(!T[i].b) {
      *cmd = T[i].cmd;
      *words = 1;
      return 1;
    }
    if(argc >= 2 && !strcmp(argv[1], T[i].b)) {
      *cmd = T[i].cmd;
      *words = 2;
      return 1;
    }
  }
  return 0;
}

int cli_is_command(int argc, char **argv) {
  if(argc < 1)
    return 0;
  if(!strcmp(argv[0], "version"))
    return argc >= 2 && (!strcmp(argv[1], "create") || !strcmp(argv[1], "upload"));
  static const char *const words[] = {"model",  "promote", "rollback", "approve",
                                      "reject", "rollout", "get"};
  for(size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if(!strcmp(argv[0], words[i]))
      return 1;
  return 0;
}

/* Takes the options and positionals of argv[from..argc) into raw. */
static mw_status split_args(int argc, char **argv, int from, cli_cmd cmd,
                            struct raw *raw, mw_err *err) {
  int dashdash = 0;
  for(int i = from; i < argc; i++) {
    const char *a = argv[i];
    if(dashdash || a[0] != '-' || !a[1]) {
      if(raw->npos >= (int)(sizeof raw->pos / sizeof raw->pos[0]))
        return mw_errf(err, MW_EINVAL, "too many arguments");
      raw->pos[raw->npos++] = a;
      continue;
    }
    if(!strcmp(a, "--")) {
      dashdash = 1;
      continue;
    }
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    const struct opt *o = NULL;
    for(size_t k = 0; k < sizeof OPTS / sizeof OPTS[0] && !o; k++)
      if(strlen(OPTS[k].name) == nlen && !strncmp(OPTS[k].name, a, nlen))
        o = &OPTS[k];
    if(!o)
      return mw_errf(err, MW_EINVAL, "unknown option %.*s", (int)nlen, a);
    if(!(o->cmds & B(cmd)))
      return mw_errf(err, MW_EINVAL, "%.*s does not apply to this command",
                     (int)nlen, a);
    char *field = (char *)raw + o->off;
    if(o->kind == OPT_FLAG) {
      if(eq)
        return mw_errf(err, MW_EINVAL, "%s takes no value", o->name);
      *(int *)(void *)field = 1;
      continue;
    }
    const char *val = eq ? eq + 1 : NULL;
    if(!val) {
      if(i + 1 >= argc)
        return mw_errf(err, MW_EINVAL, "%s needs a value", o->name);
      val = argv[++i];
    }
    if(o->kind == OPT_LIST) {
      struct list *l = (struct list *)(void *)field;
      if(l->n >= LIST_MAX)
        return mw_errf(err, MW_EINVAL, "%s given more than %d times", o->name,
                       LIST_MAX);
      l->v[l->n++] = val;
    } else {
      const char **slot = (const char **)(void *)field;
      if(*slot)
        return mw_errf(err, MW_EINVAL, "%s given twice", o->name);
      *slot = val;
    }
  }
  return MW_OK;
}

static mw_status parse_int(const char *what, const char *s, int64_t lo, int64_t hi,
                           int64_t *out, mw_err *err) {
  if(!mw_parse_i64(s, out) && *out >= lo && *out <= hi)
    return MW_OK;
  if(lo == 1 && hi == INT64_MAX)
    return mw_errf(err, MW_EINVAL, "%s must be a positive integer, not '%s'", what,
                   s);
  return mw_errf(err, MW_EINVAL, "%s must be an integer in [%lld, %lld], not '%s'",
                 what, (long long)lo, (long long)hi, s);
}

static mw_status parse_num(const char *what, const char *s, double *out,
                           mw_err *err) {
  char *end = NULL;
  errno = 0;
  *out = s && *s ? strtod(s, &end) : 0;
  if(!s || !*s || !end || *end || errno || !isfinite(*out))
    return mw_errf(err, MW_EINVAL, "%s must be a number, not '%s'", what,
                   s ? s : "");
  return MW_OK;
}

/* Reads the JSON object of file (up to 16 MiB) into *out (caller frees). */
static mw_status read_json_object(const char *opt, const char *file, cJSON **out,
                                  mw_err *err) {
  *out = NULL;
  FILE *f = fopen(file, "rb");
  if(!f)
    return mw_errf(err, MW_EINVAL, "%s %s: %s", opt, file, strerror(errno));
  mw_buf b;
  mw_buf_init(&b, 16u << 20);
  char chunk[8192];
  size_t n;
  mw_status st = MW_OK;
  while(!st && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    st = mw_buf_append(&b, chunk, n);
  int bad = ferror(f);
  fclose(f);
  if(st || bad) {
    mw_buf_free(&b);
    return mw_errf(err, MW_EINVAL, "%s %s: %s", opt, file,
                   st ? "larger than 16 MiB" : "read error");
  }
  cJSON *j = b.len ? cJSON_ParseWithLength(b.data, b.len) : NULL;
  mw_buf_free(&b);
  if(!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return mw_errf(err, MW_EINVAL, "%s %s: not a JSON object", opt, file);
  }
  *out = j;
  return MW_OK;
}

/* {k: v} of "k=v" words; numbers when numeric (metrics), else strings. */
static mw_status kv_object(const char *opt, const struct list *l, int numeric,
                           cJSON **out, mw_err *err) {
  cJSON *o = cJSON_CreateObject();
  for(int i = 0; i < l->n; i++) {
    const char *eq = strchr(l->v[i], '=');
    if(!eq || eq == l->v[i]) {
      cJSON_Delete(o);
      return mw_errf(err, MW_EINVAL, "%s takes key=value, not '%s'", opt, l->v[i]);
    }
    char key[512];
    size_t klen = (size_t)(eq - l->v[i]);
    if(klen >= sizeof key) {
      cJSON_Delete(o);
      return mw_errf(err, MW_EINVAL, "%s: key longer than %zu bytes", opt,
                     sizeof key - 1);
    }
    memcpy(key, l->v[i], klen);
    key[klen] = 0;
    if(cJSON_GetObjectItemCaseSensitive(o, key)) {
      cJSON_Delete(o);
      return mw_errf(err, MW_EINVAL, "%s: key '%s' given twice", opt, key);
    }
    if(numeric) {
      double d;
      char what[600];
      snprintf(what, sizeof what, "%s %s", opt, key);
      if(parse_num(what, eq + 1, &d, err)) {
        cJSON_Delete(o);
        return MW_EINVAL;
      }
      cJSON_AddNumberToObject(o, key, d);
    } else {
      cJSON_AddStringToObject(o, key, eq + 1);
    }
  }
  *out = o;
  return MW_OK;
}

/* Appends "/" and seg percent-encoded (all but A-Z a-z 0-9 - . _ ~). */
static mw_status path_seg(cli_request *r, const char *seg, mw_err *err) {
  if(!*seg || !strcmp(seg, ".") || !strcmp(seg, ".."))
    return mw_errf(err, MW_EINVAL, "'%s' is not a name", seg);
  size_t n = strlen(r->path);
  static const char hex[] = "0123456789ABCDEF";
  if(n + 1 >= sizeof r->path)
    return mw_errf(err, MW_EINVAL, "path too long");
  r->path[n++] = '/';
  for(const unsigned char *p = (const unsigned char *)seg; *p; p++) {
    int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                (*p >= '0' && *p <= '9') || strchr("-._~", *p);
    if(n + (plain ? 1 : 3) >= sizeof r->path)
      return mw_errf(err, MW_EINVAL, "path too long");
    if(plain) {
      r->path[n++] = (char)*p;
    } else {
      r->path[n++] = '%';
      r->path[n++] = hex[*p >> 4];
      r->path[n++] = hex[*p & 15];
    }
  }
  r->path[n] = 0;
  return MW_OK;
}

/* r->path = /api/v1/models/<model> followed by the segments of rest
 * (NULL-terminated; literal words and names alike are encoded). */
static mw_status model_path(cli_request *r, const char *const *rest, mw_err *err) {
  mw_status st = mw_strlcpy(r->path, "/api/v1/models", sizeof r->path);
  if(!st)
    st = path_seg(r, r->model, err);
  for(; !st && rest && *rest; rest++)
    st = path_seg(r, *rest, err);
  return st;
}

static void add_opt_string(cJSON *o, const char *key, const char *v) {
  if(v)
    cJSON_AddStringToObject(o, key, v);
}

/* Sets analysis[key] to the number of the option's value. */
static mw_status analysis_num(cJSON *an, const char *key, const char *opt,
                              const char *val, int integer, mw_err *err) {
  if(!val)
    return MW_OK;
  cJSON *it;
  if(integer) {
    int64_t v;
    if(parse_int(opt, val, 0, INT64_C(1) << 40, &v, err))
      return MW_EINVAL;
    it = cJSON_CreateNumber((double)v);
  } else {
    double d;
    if(parse_num(opt, val, &d, err))
      return MW_EINVAL;
    it = cJSON_CreateNumber(d);
  }
  cJSON_DeleteItemFromObjectCaseSensitive(an, key);
  cJSON_AddItemToObject(an, key, it);
  return MW_OK;
}

static mw_status build_rollout_start(cli_request *r, const struct raw *raw,
                                     mw_err *err) {
  int64_t cand;
  if(parse_int("CANDIDATE", raw->pos[2], 1, INT64_MAX, &cand, err))
    return MW_EINVAL;
  if(!raw->steps.n)
    return mw_errf(err, MW_EINVAL,
                   "rollout start needs at least one --step WEIGHT:HOLD_SECONDS");
  cJSON *steps = cJSON_CreateArray();
  cJSON_AddItemToObject(r->body, "steps", steps);
  for(int i = 0; i < raw->steps.n; i++) {
    const char *s = raw->steps.v[i], *colon = strchr(s, ':');
    char w[32];
    int64_t wv, hv;
    if(!colon || (size_t)(colon - s) >= sizeof w)
      return mw_errf(err, MW_EINVAL, "--step takes WEIGHT:HOLD_SECONDS, not '%s'",
                     s);
    memcpy(w, s, (size_t)(colon - s));
    w[colon - s] = 0;
    if(parse_int("--step weight", w, 1, 100, &wv, err) ||
       parse_int("--step hold", colon + 1, 0, INT64_C(1) << 40, &hv, err))
      return MW_EINVAL;
    cJSON *st = cJSON_CreateObject();
    cJSON_AddNumberToObject(st, "weight_percent", (double)wv);
    cJSON_AddNumberToObject(st, "hold_seconds", (double)hv);
    cJSON_AddItemToArray(steps, st);
  }
  cJSON *an = NULL;
  if(raw->analysis_file) {
    if(read_json_object("--analysis-file", raw->analysis_file, &an, err))
      return MW_EINVAL;
  } else {
    an = cJSON_CreateObject();
  }
  cJSON_AddItemToObject(r->body, "analysis", an);
  if(analysis_num(an, "max_drift_share", "--max-drift-share", raw->max_drift, 0,
                  err) ||
     analysis_num(an, "max_candidate_vs_baseline_drift_share",
                  "--max-candidate-vs-baseline-drift-share", raw->max_cvb, 0, err) ||
     analysis_num(an, "min_predictions", "--min-predictions", raw->min_predictions,
                  1, err) ||
     analysis_num(an, "label_delay_seconds", "--label-delay", raw->label_delay, 1,
                  err) ||
     analysis_num(an, "max_wait_seconds", "--max-wait", raw->max_wait, 1, err))
    return MW_EINVAL;
  if(raw->metric) {
    const char *colon = strrchr(raw->metric, ':');
    double drop;
    if(!colon || colon == raw->metric)
      return mw_errf(err, MW_EINVAL, "--metric takes NAME:MAX_DROP, not '%s'",
                     raw->metric);
    if(parse_num("--metric MAX_DROP", colon + 1, &drop, err))
      return MW_EINVAL;
    char name[64];
    if((size_t)(colon - raw->metric) >= sizeof name)
      return mw_errf(err, MW_EINVAL, "--metric: the name is too long");
    memcpy(name, raw->metric, (size_t)(colon - raw->metric));
    name[colon - raw->metric] = 0;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddNumberToObject(m, "max_drop", drop);
    cJSON_DeleteItemFromObjectCaseSensitive(an, "metric");
    cJSON_AddItemToObject(an, "metric", m);
  }
  cJSON_AddStringToObject(r->body, "alias", r->alias);
  cJSON_AddNumberToObject(r->body, "candidate_version", (double)cand);
  add_opt_string(r->body, "mode", raw->mode);
  r->version = cand;
  return MW_OK;
}

static mw_status build_version_create(cli_request *r, const struct raw *raw,
                                      mw_err *err) {
  if(raw->metrics.n && raw->metrics_file)
    return mw_errf(err, MW_EINVAL, "give --metrics k=v or --metrics-file, not both");
  add_opt_string(r->body, "description", raw->description);
  add_opt_string(r->body, "run_id", raw->run_id);
  add_opt_string(r->body, "source", raw->source);
  cJSON *o = NULL;
  if(raw->tags.n) {
    if(kv_object("--tag", &raw->tags, 0, &o, err))
      return MW_EINVAL;
    cJSON_AddItemToObject(r->body, "tags", o);
  }
  if(raw->metrics.n) {
    if(kv_object("--metrics", &raw->metrics, 1, &o, err))
      return MW_EINVAL;
    cJSON_AddItemToObject(r->body, "metrics", o);
  } else if(raw->metrics_file) {
    if(read_json_object("--metrics-file", raw->metrics_file, &o, err))
      return MW_EINVAL;
    cJSON_AddItemToObject(r->body, "metrics", o);
  }
  if(raw->schema) {
    if(read_json_object("--schema", raw->schema, &o, err))
      return MW_EINVAL;
    cJSON_AddItemToObject(r->body, "schema", o);
  }
  if(raw->artifact && mw_strlcpy(r->artifact, raw->artifact, sizeof r->artifact))
    return mw_errf(err, MW_EINVAL, "--artifact: path too long");
  return model_path(r, (const char *const[]){"versions", NULL}, err);
}

/* The connection settings: flags over the environment over defaults. */
static mw_status build_conn(cli_conn *c, const struct raw *raw, const char *env_url,
                            const char *env_token, const char *env_cacert,
                            mw_err *err) {
  const char *url = raw->url              ? raw->url
                    : env_url && *env_url ? env_url
                                          : CLI_DEFAULT_URL;
  if(strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
    return mw_errf(err, MW_EINVAL,
                   "the server URL must start with http:// or "
                   "https:// (--url or MODELWATCH_URL)");
  for(const char *p = url; *p; p++)
    if((unsigned char)*p <= ' ' || *p == 0x7f)
      return mw_errf(err, MW_EINVAL,
                     "the server URL has a space or control "
                     "character");
  if(mw_strlcpy(c->url, url, sizeof c->url))
    return mw_errf(err, MW_EINVAL, "the server URL is too long");
  size_t n = strlen(c->url);
  while(n > 0 && c->url[n - 1] == '/')
    c->url[--n] = 0;
  const char *tok = raw->token ? raw->token : env_token ? env_token : "";
  for(const char *p = tok; *p; p++)
    if((unsigned char)*p < ' ' || *p == 0x7f)
      return mw_errf(err, MW_EINVAL, "the token has a control character");
  if(mw_strlcpy(c->token, tok, sizeof c->token))
    return mw_errf(err, MW_EINVAL, "the token is too long");
  const char *ca = raw->cacert ? raw->cacert : env_cacert ? env_cacert : "";
  if(mw_strlcpy(c->cacert, ca, sizeof c->cacert))
    return mw_errf(err, MW_EINVAL, "--cacert: path too long");
  int64_t v = CLI_DEFAULT_RETRIES;
  if(raw->retries && parse_int("--retries", raw->retries, 0, 10, &v, err))
    return MW_EINVAL;
  c->retries = (int)v;
  c->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
  if(raw->request_timeout) {
    double s;
    if(parse_num("--request-timeout", raw->request_timeout, &s, err))
      return MW_EINVAL;
    if(s <= 0 || s > 86400)
      return mw_errf(err, MW_EINVAL, "--request-timeout must be in (0, 86400]");
    c->timeout_ms = (long)(s * 1000);
    if(c->timeout_ms < 1)
      c->timeout_ms = 1;
  }
  return MW_OK;
}

/* How many positionals each subcommand takes, and their names. */
static const char *positionals(cli_cmd cmd, int *n) {
  static const struct {
    int n;
    const char *names;
  } P[] = {
      [CLI_MODEL_CREATE] = {1, "NAME"},
      [CLI_VERSION_CREATE] = {1, "MODEL"},
      [CLI_VERSION_UPLOAD] = {3, "MODEL VERSION FILE"},
      [CLI_PROMOTE] = {3, "MODEL ALIAS VERSION"},
      [CLI_ROLLBACK] = {2, "MODEL ALIAS"},
      [CLI_APPROVE] = {2, "MODEL VERSION"},
      [CLI_REJECT] = {2, "MODEL VERSION"},
      [CLI_ROLLOUT_START] = {3, "MODEL ALIAS CANDIDATE"},
      [CLI_ROLLOUT_STATUS] = {2, "MODEL ID"},
      [CLI_ROLLOUT_WAIT] = {2, "MODEL ID"},
      [CLI_ROLLOUT_PAUSE] = {2, "MODEL ID"},
      [CLI_ROLLOUT_RESUME] = {2, "MODEL ID"},
      [CLI_ROLLOUT_ABORT] = {2, "MODEL ID"},
      [CLI_ROLLOUT_PROMOTE] = {2, "MODEL ID"},
      [CLI_GET] = {1, "PATH"},
  };
  *n = P[cmd].n;
  return P[cmd].names;
}

/* The request of a parsed command line. */
static mw_status build(cli_request *r, const struct raw *raw, mw_err *err) {
  int64_t v;
  r->method = "POST";
  r->body = cJSON_CreateObject();
  if(r->cmd != CLI_GET && mw_strlcpy(r->model, raw->pos[0], sizeof r->model))
    return mw_errf(err, MW_EINVAL, "the model name is too long");
  switch(r->cmd) {
  case CLI_MODEL_CREATE: {
    cJSON_AddStringToObject(r->body, "name", r->model);
    add_opt_string(r->body, "description", raw->description);
    if(raw->tags.n) {
      cJSON *tags;
      if(kv_object("--tag", &raw->tags, 0, &tags, err))
        return MW_EINVAL;
      cJSON_AddItemToObject(r->body, "tags", tags);
    }
    return mw_strlcpy(r->path, "/api/v1/models", sizeof r->path);
  }
  case CLI_VERSION_CREATE:
    return build_version_create(r, raw, err);
  case CLI_VERSION_UPLOAD: {
    if(parse_int("VERSION", raw->pos[1], 1, INT64_MAX, &r->version, err))
      return MW_EINVAL;
    if(mw_strlcpy(r->artifact, raw->pos[2], sizeof r->artifact))
      return mw_errf(err, MW_EINVAL, "FILE: path too long");
    cJSON_Delete(r->body);
    r->body = NULL;
    r->method = "PUT";
    r->idempotent = 1;
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)r->version);
    return model_path(r, (const char *const[]){"versions", num, "artifact", NULL},
                      err);
  }
  case CLI_PROMOTE: {
    if(mw_strlcpy(r->alias, raw->pos[1], sizeof r->alias))
      return mw_errf(err, MW_EINVAL, "the alias name is too long");
    if(parse_int("VERSION", raw->pos[2], 1, INT64_MAX, &r->version, err))
      return MW_EINVAL;
    cJSON_AddNumberToObject(r->body, "version", (double)r->version);
    if(raw->expect) {
      if(!strcmp(raw->expect, "none") || !strcmp(raw->expect, "null")) {
        cJSON_AddNullToObject(r->body, "expected_version");
      } else {
        if(parse_int("--expect", raw->expect, 1, INT64_MAX, &v, err))
          return mw_errf(err, MW_EINVAL,
                         "--expect takes a version number or none, not '%s'",
                         raw->expect);
        cJSON_AddNumberToObject(r->body, "expected_version", (double)v);
      }
      r->cas = 1;
    }
    add_opt_string(r->body, "reason", raw->reason);
    r->method = "PUT";
    r->idempotent = 1; /* the same move again changes nothing (r->cas) */
    return model_path(r, (const char *const[]){"aliases", r->alias, NULL}, err);
  }
  case CLI_ROLLBACK:
    if(mw_strlcpy(r->alias, raw->pos[1], sizeof r->alias))
      return mw_errf(err, MW_EINVAL, "the alias name is too long");
    if(raw->to) {
      if(parse_int("--to", raw->to, 1, INT64_MAX, &v, err))
        return MW_EINVAL;
      cJSON_AddNumberToObject(r->body, "to_version", (double)v);
    }
    add_opt_string(r->body, "reason", raw->reason);
    return model_path(
        r, (const char *const[]){"aliases", r->alias, "rollback", NULL}, err);
  case CLI_APPROVE:
  case CLI_REJECT: {
    if(parse_int("VERSION", raw->pos[1], 1, INT64_MAX, &r->version, err))
      return MW_EINVAL;
    cJSON_AddStringToObject(r->body, "decision",
                            r->cmd == CLI_APPROVE ? "approved" : "rejected");
    add_opt_string(r->body, "comment", raw->comment);
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)r->version);
    return model_path(r, (const char *const[]){"versions", num, "approval", NULL},
                      err);
  }
  case CLI_ROLLOUT_START:
    if(mw_strlcpy(r->alias, raw->pos[1], sizeof r->alias))
      return mw_errf(err, MW_EINVAL, "the alias name is too long");
    if(build_rollout_start(r, raw, err))
      return MW_EINVAL;
    return model_path(r, (const char *const[]){"rollouts", NULL}, err);
  case CLI_ROLLOUT_STATUS:
  case CLI_ROLLOUT_WAIT:
  case CLI_ROLLOUT_PAUSE:
  case CLI_ROLLOUT_RESUME:
  case CLI_ROLLOUT_ABORT:
  case CLI_ROLLOUT_PROMOTE: {
    static const char *const hand[] = {
        [CLI_ROLLOUT_PAUSE] = "pause",
        [CLI_ROLLOUT_RESUME] = "resume",
        [CLI_ROLLOUT_ABORT] = "abort",
        [CLI_ROLLOUT_PROMOTE] = "promote",
    };
    if(parse_int("ID", raw->pos[1], 1, INT64_MAX, &r->rollout_id, err))
      return MW_EINVAL;
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)r->rollout_id);
    const char *verb = r->cmd >= CLI_ROLLOUT_PAUSE ? hand[r->cmd] : NULL;
    if(!verb) {
      cJSON_Delete(r->body);
      r->body = NULL;
      r->method = "GET";
      r->idempotent = 1;
    } else {
      add_opt_string(r->body, "reason", raw->reason);
    }
    if(r->cmd == CLI_ROLLOUT_WAIT) {
      double d;
      if(raw->timeout) {
        if(parse_num("--timeout", raw->timeout, &d, err))
          return MW_EINVAL;
        if(d < 0)
          return mw_errf(err, MW_EINVAL, "--timeout must not be negative");
        r->wait_timeout_s = d;
      }
      if(raw->interval) {
        if(parse_num("--interval", raw->interval, &d, err))
          return MW_EINVAL;
        if(d < 0.05 || d > 3600)
          return mw_errf(err, MW_EINVAL, "--interval must be in [0.05, 3600]");
        r->wait_interval_s = d;
      }
    }
    return model_path(r, (const char *const[]){"rollouts", num, verb, NULL}, err);
  }
  case CLI_GET: {
    const char *p = raw->pos[0];
    for(const char *q = p; *q; q++)
      if((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f || *q == '#')
        return mw_errf(err, MW_EINVAL,
                       "PATH has a space, a control character or a '#'");
    cJSON_Delete(r->body);
    r->body = NULL;
    r->method = "GET";
    r->idempotent = 1;
    int n =
        snprintf(r->path, sizeof r->path, "%s%s", p[0] == '/' ? "" : "/api/v1/", p);
    if(n < 0 || (size_t)n >= sizeof r->path)
      return mw_errf(err, MW_EINVAL, "PATH too long");
    return MW_OK;
  }
  case CLI_HELP:
    break;
  }
  return mw_errf(err, MW_EINVAL, "unknown command");
}

mw_status cli_parse(int argc, char **argv, const char *env_url,
                    const char *env_token, const char *env_cacert, cli_request *out,
                    mw_err *err) {
  memset(out, 0, sizeof *out);
  out->wait_interval_s = 1;
  out->method = "GET";
  for(int i = 0; i < argc; i++) {
    if(!strcmp(argv[i], "--"))
      break;
    if(!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      out->cmd = CLI_HELP;
      return MW_OK;
    }
  }
  int words = 0;
  if(!which(argc, argv, &out->cmd, &words)) {
    static const char *const groups[][2] = {
        {"model", "create"},
        {"version", "create or upload"},
        {"rollout", "start, status, wait, pause, resume, abort or promote"}};
    for(size_t i = 0; argc > 0 && i < sizeof groups / sizeof groups[0]; i++)
      if(!strcmp(argv[0], groups[i][0]))
        return mw_errf(err, MW_EINVAL, "%s takes %s", groups[i][0], groups[i][1]);
    return mw_errf(err, MW_EINVAL, "unknown command %s", argc > 0 ? argv[0] : "");
  }
  struct raw raw;
  memset(&raw, 0, sizeof raw);
  if(split_args(argc, argv, words, out->cmd, &raw, err))
    return MW_EINVAL;
  int want;
  const char *names = positionals(out->cmd, &want);
  if(raw.npos != want)
    return mw_errf(err, MW_EINVAL, "%s%s%s takes %s (%s)", argv[0],
                   words > 1 ? " " : "", words > 1 ? argv[1] : "", names,
                   raw.npos < want ? "missing" : "too many arguments");
  out->json = raw.json;
  if(build_conn(&out->conn, &raw, env_url, env_token, env_cacert, err))
    return MW_EINVAL;
  return build(out, &raw, err);
}

void cli_request_free(cli_request *r) {
  if(!r)
    return;
  cJSON_Delete(r->body);
  r->body = NULL;
}

/* ------------------------------------------------------------- output */

/* Appends at most max bytes of s with control characters as '?'. */
static mw_status append_clean(mw_buf *out, const char *s, size_t len, size_t max) {
  mw_status st = MW_OK;
  size_t n = len < max ? len : max;
  for(size_t i = 0; i < n && !st; i++) {
    char c = (unsigned char)s[i] < ' ' || s[i] == 0x7f ? '?' : s[i];
    st = mw_buf_append(out, &c, 1);
  }
  if(!st && len > max)
    st = mw_buf_printf(out, "...");
  return st;
}

mw_status cli_describe_error(const char *method, const char *path, long status,
                             const char *body, size_t len, mw_buf *out) {
  mw_status st = mw_buf_printf(out, "modelwatch: %s %s: %ld", method, path, status);
  cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  const char *code = mw_json_str(e, "code"), *msg = mw_json_str(e, "message");
  if(!st && code)
    st = mw_buf_printf(out, " %s", code);
  if(!st && msg) {
    st = mw_buf_printf(out, ": ");
    if(!st)
      st = append_clean(out, msg, strlen(msg), 2000);
  }
  if(!st && !code && !msg && body && len) {
    st = mw_buf_printf(out, ": ");
    if(!st)
      st = append_clean(out, body, len, 300);
  }
  if(!st)
    st = mw_buf_printf(out, "\n");
  const cJSON *det = cJSON_GetObjectItemCaseSensitive(e, "details");
  if(!st && det && cJSON_IsObject(det) && det->child) {
    char *s = cJSON_PrintUnformatted(det);
    st = s ? mw_buf_printf(out, "  details: %s\n", s) : MW_ENOMEM;
    cJSON_free(s);
  }
  if(!st && status == 401)
    st = mw_buf_printf(out, "  (the token is missing, unknown or expired: set "
                            "MODELWATCH_TOKEN or --token)\n");
  cJSON_Delete(j);
  return st;
}

static long long num_of(const cJSON *o, const char *key) {
  int64_t v = 0;
  return mw_json_int(cJSON_GetObjectItemCaseSensitive(o, key), &v) ? (long long)v
                                                                   : -1;
}

mw_status cli_describe_result(const cli_request *r, const cJSON *a, mw_buf *out) {
  const char *s;
  switch(r->cmd) {
  case CLI_MODEL_CREATE:
    s = mw_json_str(a, "name");
    return mw_buf_printf(out, "created model %s\n", s ? s : r->model);
  case CLI_VERSION_CREATE:
  case CLI_VERSION_UPLOAD:
    return mw_buf_printf(out, "%lld\n", num_of(a, "version"));
  case CLI_PROMOTE:
  case CLI_ROLLBACK: {
    long long prev = num_of(a, "previous_version");
    char was[32];
    if(prev > 0)
      snprintf(was, sizeof was, "%lld", prev);
    else
      snprintf(was, sizeof was, "unset");
    s = mw_json_str(a, "alias");
    return mw_buf_printf(out, "%s@%s -> %lld (was %s)\n", r->model, s ? s : r->alias,
                         num_of(a, "version"), was);
  }
  case CLI_APPROVE:
  case CLI_REJECT: {
    s = mw_json_str(cJSON_GetObjectItemCaseSensitive(a, "approval"), "state");
    return mw_buf_printf(out, "%s version %lld %s\n", r->model, num_of(a, "version"),
                         s ? s : "?");
  }
  case CLI_ROLLOUT_START:
    return mw_buf_printf(out, "%lld\n", num_of(a, "id"));
  case CLI_ROLLOUT_PAUSE:
  case CLI_ROLLOUT_RESUME:
  case CLI_ROLLOUT_ABORT:
  case CLI_ROLLOUT_PROMOTE: {
    const char *alias = mw_json_str(a, "alias"), *state = mw_json_str(a, "state");
    return mw_buf_printf(out, "rollout %lld of %s@%s: %s\n", num_of(a, "id"),
                         r->model, alias ? alias : "?", state ? state : "?");
  }
  default:
    return MW_EINVAL;
  }
}

static mw_status timeline_checks(const cJSON *checks, mw_buf *out) {
  mw_status st = MW_OK;
  const cJSON *c;
  cJSON_ArrayForEach(c, checks) {
    if(st)
      break;
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(c, "value");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(c, "threshold");
    const char *name = mw_json_str(c, "name"), *op = mw_json_str(c, "op");
    const char *detail = mw_json_str(c, "detail");
    char vs[32] = "n/a", ts[32] = "-";
    if(cJSON_IsNumber(val))
      snprintf(vs, sizeof vs, "%.4g", val->valuedouble);
    if(cJSON_IsNumber(thr))
      snprintf(ts, sizeof ts, "%.4g", thr->valuedouble);
    st = mw_buf_printf(
        out, "        %-4s %-36s %10s %s %-8s %s\n",
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "passed")) ? "ok" : "FAIL",
        name ? name : "?", vs, op ? op : "?", ts, detail ? detail : "");
  }
  return st;
}

mw_status cli_timeline(const cJSON *r, mw_buf *out) {
  const char *model = mw_json_str(r, "model"), *alias = mw_json_str(r, "alias");
  const char *mode = mw_json_str(r, "mode"), *state = mw_json_str(r, "state");
  int64_t t0 = 0;
  const char *created = mw_json_str(r, "created_at");
  if(created)
    mw_time_parse(created, &t0);
  mw_status st = mw_buf_printf(
      out, "rollout %lld of %s@%s: v%lld -> v%lld (%s), %s\n", num_of(r, "id"),
      model ? model : "?", alias ? alias : "?", num_of(r, "baseline_version"),
      num_of(r, "candidate_version"), mode ? mode : "?", state ? state : "?");
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "events")) {
    if(st)
      break;
    int64_t at = t0;
    const char *ats = mw_json_str(e, "at"), *kind = mw_json_str(e, "kind");
    const char *actor = mw_json_str(e, "actor");
    if(ats)
      mw_time_parse(ats, &at);
    st = mw_buf_printf(out, "  +%7.2f s  %-9s step %lld  weight %3lld%%  by %s\n",
                       (double)(at - t0) / 1000, kind ? kind : "?",
                       num_of(e, "step") + 1, num_of(e, "weight_percent"),
                       actor ? actor : "?");
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(e, "detail");
    if(!st && cJSON_IsArray(det))
      st = timeline_checks(det, out);
  }
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(r, "steps");
  if(!st && state && (!strcmp(state, "running") || !strcmp(state, "paused")))
    st = mw_buf_printf(out, "  now: step %lld of %d, weight %lld%%\n",
                       num_of(r, "step") + 1, cJSON_GetArraySize(steps),
                       num_of(r, "weight_percent"));
  const char *reason = mw_json_str(r, "reason");
  if(!st && reason) {
    st = mw_buf_printf(out, "  reason: ");
    if(!st)
      st = append_clean(out, reason, strlen(reason), 4000);
    if(!st)
      st = mw_buf_printf(out, "\n");
  }
  return st;
}

/* ------------------------------------------------------------- usage */

void cli_usage(FILE *out) {
  fprintf(
      out,
      "Client commands (talk to a server over HTTP, for CI jobs):\n"
      "  modelwatch model create NAME [--description D] [--tag k=v ...]\n"
      "  modelwatch version create MODEL [--artifact FILE] [--schema FILE.json]\n"
      "      [--metrics k=v ... | --metrics-file FILE.json] [--description D]\n"
      "      [--run-id ID] [--source S] [--tag k=v ...]\n"
      "                                  creates the version, streams the artifact\n"
      "                                  (sha256 sent as X-Content-SHA256), checks\n"
      "                                  the answer; prints the version number\n"
      "  modelwatch version upload MODEL VERSION FILE\n"
      "                                  uploads the artifact of a pending version\n"
      "  modelwatch promote MODEL ALIAS VERSION [--expect V|none] [--reason R]\n"
      "                                  moves the alias; --expect: "
      "compare-and-swap\n"
      "  modelwatch rollback MODEL ALIAS [--to V] [--reason R]\n"
      "  modelwatch approve|reject MODEL VERSION [--comment C]\n"
      "  modelwatch rollout start MODEL ALIAS CANDIDATE --step W:HOLD_SECONDS ...\n"
      "      [--mode canary|shadow] [--max-drift-share X]\n"
      "      [--max-candidate-vs-baseline-drift-share X] [--metric NAME:MAX_DROP]\n"
      "      [--min-predictions N] [--label-delay S] [--max-wait S]\n"
      "      [--analysis-file FILE.json]    prints the rollout id\n"
      "  modelwatch rollout status MODEL ID\n"
      "  modelwatch rollout wait MODEL ID [--timeout S] [--interval S]\n"
      "                                  polls until promoted, aborted or paused;\n"
      "                                  prints the timeline\n"
      "  modelwatch rollout pause|resume|abort|promote MODEL ID [--reason R]\n"
      "  modelwatch get PATH             GET /api/v1/PATH, prints the JSON answer\n"
      "Every client command takes --url URL (MODELWATCH_URL, default\n"
      "%s), --token T (MODELWATCH_TOKEN; prefer the variable:\n"
      "flags show in ps), --cacert FILE (MODELWATCH_CACERT), --json (print the\n"
      "server's JSON answer), --retries N (default %d: failed connections, 429\n"
      "after its Retry-After, 502/503/504 of idempotent calls) and\n"
      "--request-timeout S (default %ld).\n\n"
      "Exit codes of client commands:\n",
      CLI_DEFAULT_URL, CLI_DEFAULT_RETRIES, CLI_DEFAULT_TIMEOUT_MS / 1000);
#define CLI_X_USAGE(name, val, word, text) \
  fprintf(out, "  %3d %-12s %s\n", val, word, text);
  CLI_EXIT_MAP(CLI_X_USAGE)
#undef CLI_X_USAGE
  fprintf(out, "\n");
}
