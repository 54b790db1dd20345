/* web/api_session.c - dashboard sign-in (a token buys a session cookie and
 * a CSRF token) and the embedded dashboard assets. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "web/web_internal.h"

#define SESSION_TTL_MS (12LL * 3600 * 1000)

struct mw_embedded_asset {
  const char *name;
  const unsigned char *data;
  size_t len;
};
extern const struct mw_embedded_asset web_assets[];
extern const size_t web_assets_count;

/* The dashboard loads nothing from elsewhere and runs no inline script. */
#define CSP_HEADERS                                                  \
  "Content-Security-Policy: default-src 'self'; script-src 'self'; " \
  "style-src 'self'; img-src 'self' data:; connect-src 'self'; "     \
  "object-src 'none'; base-uri 'none'; form-action 'self'; "         \
  "frame-ancestors 'none'\r\n"                                       \
  "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"

/* Who the caller is, and what the dashboard needs to know to offer only
 * what it may do. */
static cJSON *session_obj(struct web_req *r, const char *csrf) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", r->token.name);
  mw_scope_to_json(r->token.scopes, cJSON_AddArrayToObject(o, "scopes"));
  if(csrf)
    cJSON_AddStringToObject(o, "csrf_token", csrf);
  cJSON_AddBoolToObject(o, "allow_self_approval", r->app->cfg.allow_self_approval);
  mw_token_models_json(r->token.models, o);
  return o;
}

static void session_json(struct web_req *r, const char *csrf, int status) {
  web_reply_json(r, status, session_obj(r, csrf));
}

/* Lower-cases an origin's or a Host header's authority (host[:port]) of
 * n bytes into out (cap bytes), dropping the port when it is the default
 * of scheme. 0 when it does not fit. */
static int authority(const char *a, size_t n, const char *scheme, char *out,
                     size_t cap) {
  if(n + 1 > cap)
    return 0;
  for(size_t i = 0; i < n; i++)
    out[i] = (char)tolower((unsigned char)a[i]);
  out[n] = '\0';
  const char *dflt = !strcmp(scheme, "https") ? ":443" : ":80";
  size_t dl = strlen(dflt);
  if(n > dl && !strcmp(out + n - dl, dflt))
    out[n - dl] = '\0';
  return 1;
}

/* True when origin ("scheme://host[:port]", as browsers send it) is this
 * server: the host the request was sent to (Host), or the origin of
 * --external-url (a proxy in front may rewrite Host). */
static int same_origin(struct web_req *r, const char *origin) {
  const char *sep = strstr(origin, "://");
  if(!sep)
    return 0; /* "null": a sandboxed frame, a file, a redirect chain */
  char scheme[8], mine[300], theirs[300];
  size_t sl = (size_t)(sep - origin);
  if(sl + 1 > sizeof scheme)
    return 0;
  for(size_t i = 0; i < sl; i++)
    scheme[i] = (char)tolower((unsigned char)origin[i]);
  scheme[sl] = '\0';
  if(strcmp(scheme, "http") && strcmp(scheme, "https"))
    return 0;
  const char *auth = sep + 3;
  if(!authority(auth, strlen(auth), scheme, theirs, sizeof theirs))
    return 0;
  const char *host = web_header(r, "Host");
  if(host && authority(host, strlen(host), scheme, mine, sizeof mine) &&
     !strcmp(mine, theirs))
    return 1;
  /* The external URL's scheme must match too: it is the origin the
   * dashboard is published under. */
  const char *ext = r->app->cfg.external_url;
  const char *esep = strstr(ext, "://");
  if(!esep || (size_t)(esep - ext) != sl || strncasecmp(ext, scheme, sl))
    return 0;
  const char *eauth = esep + 3;
  size_t el = strcspn(eauth, "/?#");
  return authority(eauth, el, scheme, mine, sizeof mine) && !strcmp(mine, theirs);
}

/* Sign-in is the one write that needs no credentials, so a page on
 * another site could post a token of its own choosing and leave the
 * browser signed in as that token (login CSRF). A form can only send
 * text/plain, urlencoded or multipart bodies without a preflight, so JSON
 * is required; and a browser names the page's origin in Origin (and
 * Sec-Fetch-Site), which must be this server's. Clients that are not
 * browsers send neither header and are not affected. Returns 1 when the
 * request may go on; otherwise the reply is sent. */
static int sign_in_allowed(struct web_req *r) {
  const char *site = web_header(r, "Sec-Fetch-Site");
  const char *origin = web_header(r, "Origin");
  if((site && strcasecmp(site, "same-origin") && strcasecmp(site, "none")) ||
     (origin && !same_origin(r, origin))) {
    cJSON *det = cJSON_CreateObject();
    if(origin)
      cJSON_AddStringToObject(det, "origin", origin);
    if(site)
      cJSON_AddStringToObject(det, "sec_fetch_site", site);
    web_reply_error(r, 403, "cross_origin",
                    "sign-in is accepted only from this server's own pages", det);
    return 0;
  }
  const char *ct = web_header(r, "Content-Type");
  size_t n = ct ? strcspn(ct, "; \t") : 0;
  if(!ct || n != strlen("application/json") ||
     strncasecmp(ct, "application/json", n)) {
    cJSON *det = cJSON_CreateObject();
    cJSON_AddStringToObject(det, "content_type", ct ? ct : "");
    web_reply_error(r, 415, "unsupported_media_type",
                    "sign-in takes a JSON body (Content-Type: application/json)",
                    det);
    return 0;
  }
  return 1;
}

static void h_session_create(struct web_req *r) {
  if(!sign_in_allowed(r))
    return;
  cJSON *body = web_read_json(r);
  if(!body)
    return;
  const char *tok = mw_json_str(body, "token");
  mw_status st = tok ? mw_token_verify(r->db, tok, &r->token) : MW_EUNAUTH;
  cJSON_Delete(body);
  if(st) {
    web_reply_error(r, st == MW_EUNAUTH ? 401 : 503,
                    st == MW_EUNAUTH ? "unauthenticated" : "unavailable",
                    st == MW_EUNAUTH ? "invalid token" : "could not check the token",
                    NULL);
    return;
  }
  char sid[64], csrf[64];
  char actor[160];
  snprintf(actor, sizeof actor, "token:%s", r->token.name);
  st = mw_session_create(r->db, r->token.id, actor, SESSION_TTL_MS, sid, csrf);
  if(st) {
    web_reply_status(r, st, "could not start a session");
    return;
  }
  cJSON *o = session_obj(r, csrf);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  char hdr[300];
  snprintf(hdr, sizeof hdr,
           "Set-Cookie: mw_session=%s; Path=/; HttpOnly; SameSite=Strict; "
           "Max-Age=%lld%s\r\n",
           sid, SESSION_TTL_MS / 1000, r->ri->is_ssl ? "; Secure" : "");
  web_reply_raw(r, 201, "application/json", s, strlen(s), hdr);
  cJSON_free(s);
}

/* Who am I (and the CSRF token again, for a reloaded page). */
static void h_session_get(struct web_req *r) {
  char sid[64], csrf[64];
  const char *cookies = web_header(r, "Cookie");
  if(r->via_session && cookies &&
     mg_get_cookie(cookies, "mw_session", sid, sizeof sid) > 0 &&
     mw_session_verify(r->db, sid, &r->token, csrf) == MW_OK) {
    session_json(r, csrf, 200);
    return;
  }
  session_json(r, NULL, 200);
}

static void h_session_delete(struct web_req *r) {
  char sid[64];
  const char *cookies = web_header(r, "Cookie");
  if(cookies && mg_get_cookie(cookies, "mw_session", sid, sizeof sid) > 0) {
    /* Signing out must not say it worked while the session still lives. */
    mw_status st = mw_session_delete(r->db, sid, r->actor);
    if(st) {
      web_reply_status(r, st, "could not end the session");
      return;
    }
  }
  web_reply_raw(r, 200, "application/json", "{}", 2,
                "Set-Cookie: mw_session=; Path=/; HttpOnly; SameSite=Strict; "
                "Max-Age=0\r\n");
}

static const char *content_type(const char *name) {
  const char *dot = strrchr(name, '.');
  static const struct {
    const char *ext, *type;
  } types[] = {{".html", "text/html; charset=utf-8"},
               {".js", "text/javascript; charset=utf-8"},
               {".mjs", "text/javascript; charset=utf-8"},
               {".css", "text/css; charset=utf-8"},
               {".svg", "image/svg+xml"},
               {".png", "image/png"},
               {".json", "application/json"},
               {".ico", "image/x-icon"}};
  for(size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
    if(!strcmp(dot, types[i].ext))
      return types[i].type;
  return "application/octet-stream";
}

static void send_asset(struct web_req *r, const char *name) {
  for(size_t i = 0; i < web_assets_count; i++) {
    if(strcmp(web_assets[i].name, name))
      continue;
    web_reply_raw(r, 200, content_type(name), (const char *)web_assets[i].data,
                  web_assets[i].len, CSP_HEADERS);
    return;
  }
  web_reply_error(r, 404, "not_found", "no such asset", NULL);
}

static void h_index(struct web_req *r) { send_asset(r, "index.html"); }

/* The OpenAPI description of every route (web/static/openapi.json). */
static void h_openapi(struct web_req *r) { send_asset(r, "openapi.json"); }

static void h_static(struct web_req *r) {
  const char *f = web_param(r, "file");
  if(strstr(f, "..") || strchr(f, '/')) {
    web_reply_error(r, 404, "not_found", "no such asset", NULL);
    return;
  }
  send_asset(r, f);
}

const struct web_route web_routes_session[] = {
    {"POST", "/api/v1/session", MW_SCOPE_NONE, h_session_create},
    /* Any token may ask who it is and sign out: a dashboard session of a
     * token without read must survive a reload too. */
    {"GET", "/api/v1/session", MW_SCOPE_ANY, h_session_get},
    {"DELETE", "/api/v1/session", MW_SCOPE_ANY, h_session_delete},
    {"GET", "/api/v1/openapi.json", MW_SCOPE_NONE, h_openapi},
    {"GET", "/", MW_SCOPE_NONE, h_index},
    {"GET", "/static/{file}", MW_SCOPE_NONE, h_static},
};
const size_t web_routes_session_count =
    sizeof web_routes_session / sizeof web_routes_session[0];
