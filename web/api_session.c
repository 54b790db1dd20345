/* web/api_session.c - dashboard sign-in (a token buys a session cookie and
 * a CSRF token) and the embedded dashboard assets. */
#include <stdio.h>
#include <string.h>

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
#define CSP_HEADERS                                                          \
  "Content-Security-Policy: default-src 'self'; script-src 'self'; "       \
  "style-src 'self'; img-src 'self' data:; connect-src 'self'; "           \
  "object-src 'none'; base-uri 'none'; form-action 'self'; "               \
  "frame-ancestors 'none'\r\n"                                             \
  "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"

static void session_json(struct web_req *r, const char *csrf, int status) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", r->token.name);
  mw_scope_to_json(r->token.scopes, cJSON_AddArrayToObject(o, "scopes"));
  if(csrf)
    cJSON_AddStringToObject(o, "csrf_token", csrf);
  web_reply_json(r, status, o);
}

static void h_session_create(struct web_req *r) {
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
  st = mw_session_create(r->db, r->token.id, SESSION_TTL_MS, sid, csrf);
  if(st) {
    web_reply_status(r, st, "could not start a session");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", r->token.name);
  mw_scope_to_json(r->token.scopes, cJSON_AddArrayToObject(o, "scopes"));
  cJSON_AddStringToObject(o, "csrf_token", csrf);
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
  if(cookies && mg_get_cookie(cookies, "mw_session", sid, sizeof sid) > 0)
    mw_session_delete(r->db, sid);
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
