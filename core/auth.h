/* core/auth.h - scopes, API tokens and dashboard sessions. */
#ifndef MW_CORE_AUTH_H
#define MW_CORE_AUTH_H

#include <stdint.h>

#include "core/db.h"

/* Scopes as bits. admin implies every other scope, read implies metrics. */
enum mw_scope {
  MW_SCOPE_NONE = 0,
  MW_SCOPE_READ = 1,
  MW_SCOPE_INGEST = 2,
  MW_SCOPE_PROMOTE = 4,
  MW_SCOPE_ADMIN = 8,
  /* Routes only: any valid token or session, whatever its scopes. */
  MW_SCOPE_ANY = 16,
  /* Scraping /metrics and nothing else; read implies it. */
  MW_SCOPE_METRICS = 32
};

/* Parses one scope name; 0 if unknown. */
unsigned mw_scope_parse(const char *name);
/* True when a token holding `have` may do what needs `need`. */
int mw_scope_allows(unsigned have, unsigned need);
/* Adds the scope names of `scopes` to a JSON array. */
void mw_scope_to_json(unsigned scopes, cJSON *arr);

/* At most this many model patterns limit a token. */
#define MW_TOKEN_MAX_MODELS 32

typedef struct mw_token_info {
  int64_t id;
  char name[129];
  unsigned scopes;
  /* The model patterns the token is limited to, one per line; "" when it
   * sees every model. */
  char models[MW_TOKEN_MAX_MODELS * 130];
} mw_token_info;

/* Whether the token may see model (always, when it is not limited). */
int mw_token_sees(const mw_token_info *t, const char *model);
/* Adds "models": [patterns] (or null when models is NULL or "", every
 * model) to obj; models as mw_token_info keeps them, one per line. */
void mw_token_models_json(const char *models, cJSON *obj);

/* Creates a token named name with scopes; writes the secret (shown once)
 * into secret (at least 64 bytes). MW_ECONFLICT when the name is taken,
 * MW_EINVAL for a bad name or no scope. Writes an audit row for actor. */
mw_status mw_token_create(mw_conn *c, const char *name, unsigned scopes,
                          const char *actor, char *secret, size_t cap);
/* As mw_token_create, limited to the model patterns in models (a JSON
 * array of 1..MW_TOKEN_MAX_MODELS mw_name_pattern_valid strings; NULL:
 * every model). A limited token may not hold the admin scope. MW_EINVAL
 * with err saying what is wrong. */
mw_status mw_token_create_limited(mw_conn *c, const char *name, unsigned scopes,
                                  const cJSON *models, const char *actor,
                                  char *secret, size_t cap, mw_err *err);
/* Verifies a presented token; fills info. MW_EUNAUTH if unknown or wrong
 * (the comparison of digests is constant-time). */
mw_status mw_token_verify(mw_conn *c, const char *token, mw_token_info *info);
/* Deletes a token by name. MW_ENOTFOUND if absent. Audited. */
mw_status mw_token_delete(mw_conn *c, const char *name, const char *actor);
/* Lists tokens (no secrets) as a new JSON array; caller frees with
 * cJSON_Delete. */
mw_status mw_token_list(mw_conn *c, cJSON **out);
/* Number of tokens stored. */
mw_status mw_token_count(mw_conn *c, int64_t *out);

/* Starts a dashboard session for a verified token: writes a new session id
 * (the cookie value, 48 chars) and CSRF token (32 chars) into sid[64] and
 * csrf[64]. Sessions last ttl_ms and die with their token. */
mw_status mw_session_create(mw_conn *c, int64_t token_id, const char *actor,
                            int64_t ttl_ms, char sid[64], char csrf[64]);
/* Resolves a session cookie to its token and CSRF token (csrf[64]).
 * MW_EUNAUTH when unknown or expired. */
mw_status mw_session_verify(mw_conn *c, const char *sid, mw_token_info *info,
                            char csrf[64]);
/* Ends a session (sign out); unknown ids are fine. Both write an audit row
 * for actor (session.create, session.delete). */
mw_status mw_session_delete(mw_conn *c, const char *sid, const char *actor);

#endif
