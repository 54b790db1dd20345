/* tests/fuzz/fuzz_route.c - what the router reads before any handler: the
 * input is "<path>?<query>\n<Authorization header>\n<Cookie header>".
 * The path is matched against every route of the table the server uses
 * (web_route_match, with percent-decoding of parameters), the query
 * string read for every parameter name the handlers use (web_query_get),
 * parsed as handlers parse them (integers, RFC 3339 times), and the
 * credentials looked up as authenticate() does (bearer token, session
 * cookie). */
#include <string.h>

#include "tests/fuzz/fuzz_common.h"
#include "web/web_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_env();
  return 0;
}

static char *next_line(char **p) {
  char *s = *p;
  if(!s)
    return NULL;
  char *nl = strchr(s, '\n');
  if(nl) {
    *nl = 0;
    *p = nl + 1;
  } else {
    *p = NULL;
  }
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fuzz_env *e = fuzz_env();
  char *text = fuzz_str(data, size);
  char *rest = text;
  char *target = next_line(&rest);
  char *auth = next_line(&rest);
  char *cookie = next_line(&rest);
  char *query = strchr(target, '?');
  if(query)
    *query++ = 0;

  struct web_req r;
  memset(&r, 0, sizeof r);
  size_t nroutes;
  const struct web_route *routes = web_route_table(&nroutes);
  for(size_t i = 0; i < nroutes; i++) {
    int np = -1;
    if(!web_route_match(routes[i].pattern, target, r.pvals, r.pnames, r.pnamelen, &np))
      continue;
    FUZZ_CHECK(np >= 0 && np <= WEB_MAX_PARAMS);
    for(int k = 0; k < np; k++) {
      size_t len = strlen(r.pvals[k]);
      FUZZ_CHECK(len > 0 && len < 256);
      FUZZ_CHECK(r.pnamelen[k] > 0 && r.pnames[k][-1] == '{' &&
                 r.pnames[k][r.pnamelen[k]] == '}');
    }
    /* What handlers do with {v}: a number or an alias name. */
    r.nparams = np;
    const char *v = web_param(&r, "v");
    int64_t num;
    if(v && !mw_parse_i64(v, &num) && num > 0) {
      reg_version_info vi;
      mw_err err = {{0}, NULL};
      (void)reg_version_lookup(e->c, "fraud", num, &vi, &err);
      reg_version_info_free(&vi);
      mw_err_clear(&err);
    }
  }

  static const char *const names[] = {"limit", "q", "page_token", "from", "to",
                                      "state", "reason", "column", "metric",
                                      "before", "version"};
  for(size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char buf[64];
    enum web_query_result res = web_query_get(query, names[i], buf, sizeof buf);
    FUZZ_CHECK(strlen(buf) < sizeof buf);
    if(res != WEB_QUERY_FOUND) {
      FUZZ_CHECK(!buf[0]);
      continue;
    }
    int64_t n;
    (void)mw_parse_i64(buf, &n);
    (void)web_query_time(buf, &n);
  }
  char tok[600];
  if(web_query_get(query, "page_token", tok, sizeof tok) == WEB_QUERY_FOUND) {
    cJSON *out = NULL;
    mw_err err = {{0}, NULL};
    if(!reg_model_list(e->c, NULL, 10, tok, NULL, NULL, &out, &err))
      cJSON_Delete(out);
    if(!reg_version_list(e->c, "fraud", 10, tok, &out, &err))
      cJSON_Delete(out);
    mw_err_clear(&err);
  }

  mw_token_info info;
  if(auth && !strncasecmp(auth, "Bearer ", 7) && auth[7])
    FUZZ_CHECK(mw_token_verify(e->c, auth + 7, &info) == MW_EUNAUTH);
  if(cookie) {
    char sid[64], csrf[64];
    if(mg_get_cookie(cookie, "mw_session", sid, sizeof sid) > 0)
      FUZZ_CHECK(mw_session_verify(e->c, sid, &info, csrf) == MW_EUNAUTH);
  }
  fuzz_after(e);
  free(text);
  return 0;
}
