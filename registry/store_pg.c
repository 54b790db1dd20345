/* registry/store_pg.c - the registry's store interface (registry/store.h)
 * on PostgreSQL. The statements mirror registry/store_sqlite.c; where they
 * differ it is said why. Two differences run through the file:
 *  - text is ordered and compared with COLLATE "C" wherever order is
 *    visible (names of models, aliases and nodes), so that pages and lists
 *    come out in byte order as on SQLite, whatever collation the database
 *    was created with;
 *  - parameters whose type the server cannot infer from a column are cast
 *    ($1::bigint, $2::text). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_pg.h"
#include "registry/store.h"

/* Column text, or NULL for SQL NULL (borrowed until PQclear). */
static const char *col_opt(const PGresult *r, int row, int col) {
  return mw_pg_null(r, row, col) ? NULL : mw_pg_text(r, row, col);
}

/* Runs a query that must give one integer (an id, a version). */
static mw_status one_i64(mw_conn *c, const char *sql, const mw_pg_params *p,
                         int64_t *out) {
  mw_status s;
  PGresult *r = mw_pg_run(c, sql, p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s)
    *out = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return s;
}

/* The aliases of a row, from the text string_agg made of them: names
 * separated by spaces, each followed by ':' and its version for a model.
 * Alias names never hold either character (mw_name_valid). */
struct alias_set {
  char *text; /* a copy, cut in place */
  struct reg_alias_ref *refs;
  const char **names;
  int n;
};

static mw_status alias_set_parse(const char *agg, struct alias_set *a) {
  memset(a, 0, sizeof *a);
  if(!*agg)
    return MW_OK;
  int n = 1;
  for(const char *p = agg; *p; p++)
    n += *p == ' ';
  a->text = strdup(agg);
  a->refs = calloc((size_t)n, sizeof *a->refs);
  a->names = calloc((size_t)n, sizeof *a->names);
  if(!a->text || !a->refs || !a->names)
    return MW_ENOMEM;
  for(char *p = a->text; p && a->n < n;) {
    char *end = strchr(p, ' ');
    if(end)
      *end = '\0';
    char *colon = strchr(p, ':');
    int64_t v = -1;
    if(colon) {
      *colon = '\0';
      if(mw_parse_i64(colon + 1, &v))
        return MW_EINTERNAL;
    }
    a->refs[a->n] = (struct reg_alias_ref){p, v};
    a->names[a->n++] = p;
    p = end ? end + 1 : NULL;
  }
  return MW_OK;
}

static void alias_set_free(struct alias_set *a) {
  free(a->text);
  free(a->refs);
  free(a->names);
}

/* ---------------------------------------------------------------- models */

/* A model with its latest version, version count and aliases, in one
 * query: a page of models is one round trip instead of three per model. */
#define MODEL_SELECT                                                         \
  "SELECT m.id, m.name, m.description, m.tags, m.created_at, m.updated_at, " \
  "s.latest, s.n, (SELECT string_agg(a.alias || ':' || v.version, ' ' "      \
  "ORDER BY a.alias COLLATE \"C\") FROM aliases a JOIN model_versions v ON " \
  "v.id = a.version_id WHERE a.model_id = m.id) FROM models m CROSS JOIN "   \
  "LATERAL (SELECT max(version) AS latest, count(*) AS n FROM "              \
  "model_versions WHERE model_id = m.id) s "

static mw_status model_rows(PGresult *r, reg_model_fn fn, void *ctx) {
  mw_status s = MW_OK;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct alias_set as;
    s = alias_set_parse(mw_pg_text(r, i, 8), &as);
    struct reg_model_row m = {
        .id = mw_pg_i64(r, i, 0, 0),
        .name = mw_pg_text(r, i, 1),
        .description = mw_pg_text(r, i, 2),
        .tags = mw_pg_text(r, i, 3),
        .created_at = mw_pg_i64(r, i, 4, 0),
        .updated_at = mw_pg_i64(r, i, 5, 0),
        .latest_version = mw_pg_i64(r, i, 6, -1),
        .version_count = mw_pg_i64(r, i, 7, 0),
        .aliases = as.refs,
        .n_aliases = as.n,
    };
    if(!s)
      s = fn(ctx, &m);
    alias_set_free(&as);
  }
  PQclear(r);
  return s;
}

static mw_status model_id(mw_conn *c, const char *name, int64_t *id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  return one_i64(c, "SELECT id FROM models WHERE name = $1", &p, id);
}

static mw_status model_get(mw_conn *c, const char *name, reg_model_fn fn,
                           void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_status s;
  PGresult *r = mw_pg_run(c, MODEL_SELECT "WHERE m.name = $1", &p, &s);
  if(!r)
    return s;
  if(!PQntuples(r)) {
    PQclear(r);
    return MW_ENOTFOUND;
  }
  return model_rows(r, fn, ctx);
}

static mw_status model_insert(mw_conn *c, const char *name, const char *description,
                              const char *tags, int64_t now) {
  assert(mw_tx_state(c) == 1); /* writes run in the caller's transaction */
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_pgp_text(&p, description);
  mw_pgp_text(&p, tags);
  mw_pgp_i64(&p, now);
  return mw_pg_do(c,
                  "INSERT INTO models(name, description, tags, created_at, "
                  "updated_at) VALUES($1, $2, $3, $4, $4)",
                  &p, NULL);
}

static mw_status model_update(mw_conn *c, const char *name, const char *description,
                              const char *tags, int64_t now) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, description);
  mw_pgp_text(&p, tags);
  mw_pgp_i64(&p, now);
  mw_pgp_text(&p, name);
  int64_t n = 0;
  mw_status s = mw_pg_do(c,
                         "UPDATE models SET description = coalesce($1, "
                         "description), tags = coalesce($2, tags), updated_at = $3 "
                         "WHERE name = $4",
                         &p, &n);
  return !s && n == 0 ? MW_ENOTFOUND : s;
}

static mw_status model_delete(mw_conn *c, int64_t id) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  return mw_pg_do(c, "DELETE FROM models WHERE id = $1", &p, NULL);
}

static mw_status model_list(mw_conn *c, const char *after, const char *q_lower,
                            int limit, reg_model_fn fn, void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, after);
  mw_pgp_text(&p, q_lower);
  mw_pgp_i64(&p, limit);
  mw_status s;
  /* Names are ASCII (mw_name_valid): lower() of one is the same here as
   * on SQLite, and q arrives lower-cased by the caller. */
  PGresult *r = mw_pg_run(c,
                          MODEL_SELECT "WHERE m.name COLLATE \"C\" > $1 AND "
                                       "($2::text IS NULL OR strpos(lower(m.name), "
                                       "$2) > 0) ORDER BY m.name COLLATE \"C\" "
                                       "LIMIT $3",
                          &p, &s);
  return r ? model_rows(r, fn, ctx) : s;
}

static mw_status model_aliases(mw_conn *c, int64_t model_id,
                               mw_status (*fn)(void *, const char *, int64_t),
                               void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT a.alias, v.version FROM aliases a JOIN "
                          "model_versions v ON v.id = a.version_id WHERE "
                          "a.model_id = $1 ORDER BY a.alias COLLATE \"C\"",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++)
    s = fn(ctx, mw_pg_text(r, i, 0), mw_pg_i64(r, i, 1, 0));
  PQclear(r);
  return s;
}

/* -------------------------------------------------------------- versions */

/* With the names of the aliases pointing at the version, in the same
 * query. */
#define VERSION_COLS                                                         \
  "v.id, v.model_id, m.name, v.version, v.description, v.source, v.run_id, " \
  "v.tags, v.metrics, v.params, v.schema, v.status, v.sha256, v.size, "      \
  "v.created_at, v.created_by, (SELECT string_agg(a.alias, ' ' ORDER BY "    \
  "a.alias COLLATE \"C\") FROM aliases a WHERE a.version_id = v.id), "       \
  "v.approval_state, v.approval_by, v.approval_comment, v.approval_at, "     \
  "v.uploaded_by"

static mw_status version_rows(PGresult *r, reg_version_fn fn, void *ctx) {
  mw_status s = MW_OK;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct reg_version_row v = {
        .id = mw_pg_i64(r, i, 0, 0),
        .model_id = mw_pg_i64(r, i, 1, 0),
        .model = mw_pg_text(r, i, 2),
        .version = mw_pg_i64(r, i, 3, 0),
        .description = mw_pg_text(r, i, 4),
        .source = col_opt(r, i, 5),
        .run_id = col_opt(r, i, 6),
        .tags = mw_pg_text(r, i, 7),
        .metrics = mw_pg_text(r, i, 8),
        .params = mw_pg_text(r, i, 9),
        .schema = col_opt(r, i, 10),
        .status = mw_pg_text(r, i, 11),
        .sha256 = col_opt(r, i, 12),
        .size = mw_pg_i64(r, i, 13, -1),
        .created_at = mw_pg_i64(r, i, 14, 0),
        .created_by = mw_pg_text(r, i, 15),
        .approval_state = mw_pg_text(r, i, 17),
        .approval_by = col_opt(r, i, 18),
        .approval_comment = col_opt(r, i, 19),
        .approval_at = mw_pg_i64(r, i, 20, -1),
        .uploaded_by = col_opt(r, i, 21),
    };
    struct alias_set as;
    s = alias_set_parse(mw_pg_text(r, i, 16), &as);
    v.aliases = as.names;
    v.n_aliases = as.n;
    if(!s)
      s = fn(ctx, &v);
    alias_set_free(&as);
  }
  PQclear(r);
  return s;
}

static mw_status version_insert(mw_conn *c, int64_t model_id,
                                const struct reg_version_fields *f,
                                int64_t *version) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, f->description);
  mw_pgp_text(&p, f->source);
  mw_pgp_text(&p, f->run_id);
  mw_pgp_text(&p, f->tags);
  mw_pgp_text(&p, f->metrics);
  mw_pgp_text(&p, f->params);
  mw_pgp_text(&p, f->schema);
  mw_pgp_i64(&p, f->created_at);
  mw_pgp_text(&p, f->created_by);
  /* The next number is read and taken under the write lock (mw_tx_begin),
   * so two replicas never compute the same one. */
  mw_status s = one_i64(
      c,
      "INSERT INTO model_versions(model_id, version, description, source, "
      "run_id, tags, metrics, params, schema, created_at, created_by) SELECT "
      "$1::bigint, coalesce(max(version), 0) + 1, $2::text, $3::text, $4::text, "
      "$5::text, $6::text, $7::text, $8::text, $9::bigint, $10::text FROM "
      "model_versions WHERE model_id = $1::bigint RETURNING version",
      &p, version);
  return s == MW_ENOTFOUND ? MW_EINTERNAL : s;
}

static mw_status version_get(mw_conn *c, const char *model, int64_t version,
                             reg_version_fn fn, void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, model);
  mw_pgp_i64(&p, version);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT " VERSION_COLS " FROM model_versions v JOIN "
                          "models m ON m.id = v.model_id WHERE m.name = $1 AND "
                          "v.version = $2",
                          &p, &s);
  if(!r)
    return s;
  if(!PQntuples(r)) {
    PQclear(r);
    return MW_ENOTFOUND;
  }
  return version_rows(r, fn, ctx);
}

static mw_status version_find(mw_conn *c, const char *model, int64_t version,
                              reg_version_info *out) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, model);
  mw_pgp_i64(&p, version);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT v.id, v.model_id, v.status, v.sha256, v.size, "
                          "v.schema, v.approval_state FROM model_versions v JOIN "
                          "models m ON m.id = "
                          "v.model_id WHERE m.name = $1 AND v.version = $2",
                          &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    out->id = mw_pg_i64(r, 0, 0, 0);
    out->model_id = mw_pg_i64(r, 0, 1, 0);
    out->version = version;
    out->ready = !strcmp(mw_pg_text(r, 0, 2), "ready");
    mw_strlcpy(out->sha256, mw_pg_text(r, 0, 3), sizeof out->sha256);
    out->size = mw_pg_i64(r, 0, 4, 0);
    mw_strlcpy(out->approval, mw_pg_text(r, 0, 6), sizeof out->approval);
    if(!mw_pg_null(r, 0, 5) && !(out->schema_json = mw_pg_dup(r, 0, 5)))
      s = MW_ENOMEM;
  }
  PQclear(r);
  return s;
}

static mw_status version_list(mw_conn *c, int64_t model_id, int64_t before,
                              int limit, reg_version_fn fn, void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_i64(&p, before);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT " VERSION_COLS " FROM model_versions v JOIN "
                          "models m ON m.id = v.model_id WHERE v.model_id = $1 "
                          "AND v.version < $2 ORDER BY v.version DESC LIMIT $3",
                          &p, &s);
  return r ? version_rows(r, fn, ctx) : s;
}

static mw_status version_set_ready(mw_conn *c, const char *model, int64_t version,
                                   const char *uploaded_by, const char *sha256,
                                   int64_t size, int *changed) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, sha256);
  mw_pgp_i64(&p, size);
  mw_pgp_i64(&p, version);
  mw_pgp_text(&p, model);
  mw_pgp_text(&p, uploaded_by);
  int64_t n = 0;
  mw_status s =
      mw_pg_do(c,
               "UPDATE model_versions SET status = 'ready', sha256 = $1, "
               "size = $2, uploaded_by = $5 WHERE version = $3 AND status = "
               "'pending' AND model_id = (SELECT id FROM models WHERE "
               "name = $4)",
               &p, &n);
  *changed = !s && n > 0;
  return s;
}

static mw_status sha_referenced(mw_conn *c, const char *sha256, int *yes) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, sha256);
  int64_t one = 0;
  mw_status s =
      one_i64(c, "SELECT 1 FROM model_versions WHERE sha256 = $1 LIMIT 1", &p, &one);
  *yes = s == MW_OK;
  return s == MW_ENOTFOUND ? MW_OK : s;
}

/* --------------------------------------------------------------- aliases */

static mw_status alias_version(mw_conn *c, const char *model, const char *alias,
                               int64_t *version) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, model);
  mw_pgp_text(&p, alias);
  return one_i64(c,
                 "SELECT v.version FROM aliases a JOIN models m ON m.id = "
                 "a.model_id JOIN model_versions v ON v.id = a.version_id "
                 "WHERE m.name = $1 AND a.alias = $2",
                 &p, version);
}

static mw_status alias_current(mw_conn *c, int64_t model_id, const char *alias,
                               int64_t *version) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  mw_status s = one_i64(c,
                        "SELECT v.version FROM aliases a JOIN model_versions v "
                        "ON v.id = a.version_id WHERE a.model_id = $1 AND "
                        "a.alias = $2",
                        &p, version);
  if(s == MW_ENOTFOUND) {
    *version = 0;
    s = MW_OK;
  }
  return s;
}

static mw_status alias_put(mw_conn *c, int64_t model_id, const char *alias,
                           int64_t version_id, int64_t now) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, now);
  return mw_pg_do(c,
                  "INSERT INTO aliases(model_id, alias, version_id, updated_at) "
                  "VALUES($1, $2, $3, $4) ON CONFLICT(model_id, alias) DO UPDATE "
                  "SET version_id = EXCLUDED.version_id, updated_at = "
                  "EXCLUDED.updated_at",
                  &p, NULL);
}

static mw_status alias_remove(mw_conn *c, int64_t model_id, const char *alias) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  return mw_pg_do(c, "DELETE FROM aliases WHERE model_id = $1 AND alias = $2", &p,
                  NULL);
}

static mw_status history_insert(mw_conn *c, int64_t model_id, const char *alias,
                                const struct reg_history_row *h) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  mw_pgp_text(&p, h->kind);
  mw_pgp_id(&p, h->version);
  mw_pgp_id(&p, h->previous_version);
  mw_pgp_text(&p, h->actor);
  mw_pgp_text(&p, h->reason);
  mw_pgp_i64(&p, h->at);
  mw_pgp_i64(&p, h->approved != 0);
  return mw_pg_do(c,
                  "INSERT INTO alias_history(model_id, alias, kind, version, "
                  "previous_version, actor, reason, at, approved) VALUES($1, $2, "
                  "$3, $4, $5, $6, $7, $8, $9)",
                  &p, NULL);
}

static mw_status history_approved(mw_conn *c, int64_t model_id, const char *alias,
                                  int64_t version, int *yes) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  mw_pgp_i64(&p, version);
  int64_t one = 0;
  mw_status s = one_i64(c,
                        "SELECT 1 FROM alias_history WHERE model_id = $1 AND "
                        "alias = $2 AND version = $3 AND approved <> 0 LIMIT 1",
                        &p, &one);
  *yes = s == MW_OK;
  return s == MW_ENOTFOUND ? MW_OK : s;
}

static mw_status
history_list(mw_conn *c, int64_t model_id, const char *alias, int limit,
             mw_status (*fn)(void *, const struct reg_history_row *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT version, previous_version, kind, actor, reason, "
                          "at, approved FROM alias_history WHERE model_id = $1 AND "
                          "alias = "
                          "$2 ORDER BY id DESC LIMIT $3",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct reg_history_row h = {mw_pg_i64(r, i, 0, -1),    mw_pg_i64(r, i, 1, -1),
                                mw_pg_text(r, i, 2),       mw_pg_text(r, i, 3),
                                col_opt(r, i, 4),          mw_pg_i64(r, i, 5, 0),
                                mw_pg_i64(r, i, 6, 0) != 0};
    s = fn(ctx, &h);
  }
  PQclear(r);
  return s;
}

static mw_status history_walk(mw_conn *c, int64_t model_id, const char *alias,
                              mw_status (*fn)(void *, const char *, int64_t),
                              void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT kind, version FROM alias_history WHERE "
                          "model_id = $1 AND alias = $2 ORDER BY id",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++)
    s = fn(ctx, mw_pg_text(r, i, 0), mw_pg_i64(r, i, 1, -1));
  PQclear(r);
  return s;
}

static mw_status model_nodes(mw_conn *c, int64_t model_id,
                             mw_status (*fn)(void *, const char *, const char *),
                             void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT n.name, n.url FROM nodes n JOIN node_models nm "
                          "ON nm.node_id = n.id WHERE nm.model_id = $1 ORDER BY "
                          "n.name COLLATE \"C\"",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++)
    s = fn(ctx, mw_pg_text(r, i, 0), mw_pg_text(r, i, 1));
  PQclear(r);
  return s;
}

/* ------------------------------------------------------------ governance */

static mw_status approval_put(mw_conn *c, int64_t version_id,
                              const struct reg_approval_row *a) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, a->decision);
  mw_pgp_text(&p, a->actor);
  mw_pgp_text(&p, a->comment);
  mw_pgp_i64(&p, a->at);
  mw_pgp_i64(&p, version_id);
  int64_t n = 0;
  /* The current decision and its history row in one statement. */
  mw_status s = mw_pg_do(
      c,
      "WITH v AS (UPDATE model_versions SET approval_state = $1, approval_by = "
      "$2, approval_comment = $3, approval_at = $4 WHERE id = $5 RETURNING id) "
      "INSERT INTO version_approvals(version_id, decision, actor, comment, at) "
      "SELECT id, $1, $2, $3, $4 FROM v",
      &p, &n);
  return !s && n == 0 ? MW_ENOTFOUND : s;
}

static mw_status
approval_list(mw_conn *c, int64_t version_id,
              mw_status (*fn)(void *, const struct reg_approval_row *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT decision, actor, comment, at FROM "
                          "version_approvals WHERE version_id = $1 ORDER BY id DESC",
                          &p, &s);
  if(!r)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct reg_approval_row a = {mw_pg_text(r, i, 0), mw_pg_text(r, i, 1),
                                 col_opt(r, i, 2), mw_pg_i64(r, i, 3, 0)};
    s = fn(ctx, &a);
  }
  PQclear(r);
  return s;
}

static mw_status protect_put(mw_conn *c, int64_t model_id,
                             const struct reg_protected_row *pr) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, pr->alias);
  mw_pgp_i64(&p, pr->require_approval != 0);
  mw_pgp_text(&p, pr->actor);
  mw_pgp_i64(&p, pr->at);
  return mw_pg_do(c,
                  "INSERT INTO protected_aliases(model_id, alias, "
                  "require_approval, actor, at) VALUES($1, $2, $3, $4, $5) ON "
                  "CONFLICT(model_id, alias) DO UPDATE SET require_approval = "
                  "EXCLUDED.require_approval, actor = EXCLUDED.actor, at = "
                  "EXCLUDED.at",
                  &p, NULL);
}

static mw_status protect_get(mw_conn *c, int64_t model_id, const char *alias,
                             int *require_approval) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  int64_t v = 0;
  mw_status s = one_i64(c,
                        "SELECT require_approval FROM protected_aliases WHERE "
                        "model_id = $1 AND alias = $2",
                        &p, &v);
  *require_approval = !s && v;
  return s;
}

static mw_status protect_remove(mw_conn *c, int64_t model_id, const char *alias) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  int64_t n = 0;
  mw_status s = mw_pg_do(c,
                         "DELETE FROM protected_aliases WHERE model_id = $1 AND "
                         "alias = $2",
                         &p, &n);
  return !s && n == 0 ? MW_ENOTFOUND : s;
}

static mw_status
protect_list(mw_conn *c, int64_t model_id,
             mw_status (*fn)(void *, const struct reg_protected_row *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT alias, require_approval, actor, at FROM "
                          "protected_aliases WHERE model_id = $1 ORDER BY alias "
                          "COLLATE \"C\"",
                          &p, &s);
  if(!r)
    return s;
  s = MW_OK;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct reg_protected_row pr = {mw_pg_text(r, i, 0), mw_pg_i64(r, i, 1, 0) != 0,
                                   mw_pg_text(r, i, 2), mw_pg_i64(r, i, 3, 0)};
    s = fn(ctx, &pr);
  }
  PQclear(r);
  return s;
}

/* ----------------------------------------------------------------- nodes */

static mw_status node_insert(mw_conn *c, const char *name, const char *url,
                             const char *secret, int64_t now, int64_t *id) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_pgp_text(&p, url);
  mw_pgp_text(&p, secret);
  mw_pgp_i64(&p, now);
  mw_status s = one_i64(c,
                        "INSERT INTO nodes(name, url, secret, created_at) "
                        "VALUES($1, $2, $3, $4) RETURNING id",
                        &p, id);
  return s == MW_ENOTFOUND ? MW_EINTERNAL : s;
}

static mw_status node_follow(mw_conn *c, int64_t node_id, int64_t model_id,
                             const char *alias) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, node_id);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, alias);
  return mw_pg_do(c,
                  "INSERT INTO node_models(node_id, model_id, alias) VALUES($1, "
                  "$2, $3) ON CONFLICT(node_id, model_id) DO UPDATE SET alias = "
                  "EXCLUDED.alias",
                  &p, NULL);
}

static mw_status node_rows(PGresult *r,
                           mw_status (*fn)(void *, const struct reg_node_row *),
                           void *ctx) {
  mw_status s = MW_OK;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct reg_node_row n = {mw_pg_i64(r, i, 0, 0), mw_pg_text(r, i, 1),
                             mw_pg_text(r, i, 2), mw_pg_i64(r, i, 3, 0),
                             mw_pg_i64(r, i, 4, -1)};
    s = fn(ctx, &n);
  }
  PQclear(r);
  return s;
}

static mw_status node_get(mw_conn *c, const char *name,
                          mw_status (*fn)(void *, const struct reg_node_row *),
                          void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT id, name, url, created_at, last_seen_at FROM "
                          "nodes WHERE name = $1",
                          &p, &s);
  if(!r)
    return s;
  if(!PQntuples(r)) {
    PQclear(r);
    return MW_ENOTFOUND;
  }
  return node_rows(r, fn, ctx);
}

static mw_status node_list(mw_conn *c,
                           mw_status (*fn)(void *, const struct reg_node_row *),
                           void *ctx) {
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT id, name, url, created_at, last_seen_at FROM "
                          "nodes ORDER BY name COLLATE \"C\"",
                          NULL, &s);
  return r ? node_rows(r, fn, ctx) : s;
}

static mw_status
node_models(mw_conn *c, int64_t node_id,
            mw_status (*fn)(void *, const struct reg_node_model_row *), void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, node_id);
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT m.name, nm.alias, v.version, ns.version, ns.state, ns.reported_at, "
      "ns.candidate_version, ns.candidate_state, ns.candidate_weight "
      "FROM node_models nm JOIN models m ON m.id = nm.model_id LEFT JOIN aliases "
      "a ON a.model_id = nm.model_id AND a.alias = nm.alias LEFT JOIN "
      "model_versions v ON v.id = a.version_id LEFT JOIN node_status ns ON "
      "ns.node_id = nm.node_id AND ns.model_name = m.name WHERE nm.node_id = $1 "
      "ORDER BY m.name COLLATE \"C\"",
      &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    struct reg_node_model_row m = {
        mw_pg_text(r, i, 0),    mw_pg_text(r, i, 1), mw_pg_i64(r, i, 2, -1),
        mw_pg_i64(r, i, 3, -1), col_opt(r, i, 4),    mw_pg_i64(r, i, 5, -1),
        mw_pg_i64(r, i, 6, -1), col_opt(r, i, 7),    mw_pg_i64(r, i, 8, -1)};
    s = fn(ctx, &m);
  }
  PQclear(r);
  return s;
}

static mw_status node_seen(mw_conn *c, const char *name, int64_t now, int64_t *id) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_pgp_text(&p, name);
  return one_i64(
      c, "UPDATE nodes SET last_seen_at = $1 WHERE name = $2 RETURNING id", &p, id);
}

static mw_status node_status_put(mw_conn *c, int64_t node_id,
                                 const struct reg_node_status_row *r, int64_t now) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, node_id);
  mw_pgp_text(&p, r->model);
  mw_pgp_id(&p, r->version);
  mw_pgp_text(&p, r->state);
  mw_pgp_i64(&p, now);
  mw_pgp_id(&p, r->candidate_version);
  mw_pgp_text(&p, r->candidate_state);
  mw_pgp_id(&p, r->candidate_weight);
  return mw_pg_do(
      c,
      "INSERT INTO node_status(node_id, model_name, version, state, reported_at, "
      "candidate_version, candidate_state, candidate_weight) VALUES($1, $2, $3, "
      "$4, $5, $6, $7, $8) ON CONFLICT(node_id, model_name) DO UPDATE SET version "
      "= EXCLUDED.version, state = EXCLUDED.state, reported_at = "
      "EXCLUDED.reported_at, candidate_version = EXCLUDED.candidate_version, "
      "candidate_state = EXCLUDED.candidate_state, candidate_weight = "
      "EXCLUDED.candidate_weight",
      &p, NULL);
}

static mw_status candidate_count(mw_conn *c, int64_t model_id, const char *model,
                                 int64_t version, int64_t *nodes, int64_t *loaded) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_pgp_text(&p, model);
  mw_pgp_i64(&p, version);
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT count(*), count(ns.node_id) FROM node_models nm LEFT JOIN "
      "node_status ns ON ns.node_id = nm.node_id AND ns.model_name = $2 AND "
      "ns.candidate_version = $3 AND ns.candidate_state = 'loaded' WHERE "
      "nm.model_id = $1",
      &p, &s);
  if(!r)
    return s;
  *nodes = mw_pg_i64(r, 0, 0, 0);
  *loaded = mw_pg_i64(r, 0, 1, 0);
  PQclear(r);
  return MW_OK;
}

static mw_status node_delete(mw_conn *c, const char *name) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  int64_t n = 0;
  mw_status s = mw_pg_do(c, "DELETE FROM nodes WHERE name = $1", &p, &n);
  return !s && n == 0 ? MW_ENOTFOUND : s;
}

/* ------------------------------------------------------- artifact chunks */

static mw_status blob_create(mw_conn *c, int64_t now, int64_t *id) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, now);
  mw_status s = one_i64(
      c, "INSERT INTO artifact_blobs(touched_at) VALUES($1) RETURNING id", &p, id);
  return s == MW_ENOTFOUND ? MW_EINTERNAL : s;
}

static mw_status blob_chunk_put(mw_conn *c, int64_t id, int64_t seq,
                                const void *data, size_t len, int64_t now) {
  assert(mw_tx_state(c) == 1);
  assert(len > 0 && len <= INT32_MAX);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_pgp_i64(&p, seq);
  mw_pgp_bytes(&p, data, len); /* binary: no hex doubling on the wire */
  mw_pgp_i64(&p, now);
  /* One round trip for the chunk and its blob's time. */
  return mw_pg_do(c,
                  "WITH chunk AS (INSERT INTO artifact_chunks(blob_id, seq, data) "
                  "VALUES($1, $2, $3)) UPDATE artifact_blobs SET touched_at = $4 "
                  "WHERE id = $1",
                  &p, NULL);
}

static mw_status blob_find(mw_conn *c, const char *sha256, int64_t *id,
                           int64_t *size) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, sha256);
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT id, size FROM artifact_blobs WHERE sha256 = $1", &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    *id = mw_pg_i64(r, 0, 0, 0);
    *size = mw_pg_i64(r, 0, 1, 0);
  }
  PQclear(r);
  return s;
}

static mw_status blob_name(mw_conn *c, int64_t id, const char *sha256, int64_t size,
                           int64_t now) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, sha256);
  mw_pgp_i64(&p, size);
  mw_pgp_i64(&p, now);
  mw_pgp_i64(&p, id);
  int64_t n = 0;
  mw_status s = mw_pg_do(c,
                         "UPDATE artifact_blobs SET sha256 = $1, size = $2, "
                         "touched_at = $3 WHERE id = $4",
                         &p, &n);
  return !s && n == 0 ? MW_ENOTFOUND : s;
}

static mw_status blob_chunk_get(mw_conn *c, int64_t id, int64_t seq, void *buf,
                                size_t cap, size_t *len) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_pgp_i64(&p, seq);
  mw_status s;
  /* Binary result: the chunk's bytes as they are, not as hex text. */
  PGresult *r = mw_pg_run_bin(c,
                              "SELECT data FROM artifact_chunks WHERE blob_id = $1 "
                              "AND seq = $2",
                              &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    size_t n = 0;
    const void *data = mw_pg_bin_data(r, 0, 0, &n);
    if(n > cap) {
      s = MW_ETOOBIG;
    } else {
      if(n > 0)
        memcpy(buf, data, n);
      *len = n;
    }
  }
  PQclear(r);
  return s;
}

static mw_status blob_delete(mw_conn *c, int64_t id, int unnamed_only) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, id);
  mw_pgp_i64(&p, unnamed_only);
  return mw_pg_do(c,
                  "DELETE FROM artifact_blobs WHERE id = $1 AND ($2::int4 = 0 OR "
                  "sha256 IS NULL)",
                  &p, NULL);
}

static mw_status blob_list(mw_conn *c, const char *after, int max,
                           struct reg_blob_row *rows, int *n) {
  *n = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, after);
  mw_pgp_i64(&p, max);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT sha256, touched_at FROM artifact_blobs WHERE "
                          "sha256 > $1 ORDER BY sha256 LIMIT $2",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && *n < max; i++) {
    struct reg_blob_row *b = &rows[(*n)++];
    mw_strlcpy(b->sha256, mw_pg_text(r, i, 0), sizeof b->sha256);
    b->touched_at = mw_pg_i64(r, i, 1, 0);
  }
  PQclear(r);
  return MW_OK;
}

static mw_status blob_purge_unnamed(mw_conn *c, int64_t before, int64_t *removed) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, before);
  *removed = 0;
  return mw_pg_do(c,
                  "DELETE FROM artifact_blobs WHERE sha256 IS NULL AND "
                  "touched_at <= $1",
                  &p, removed);
}

const struct reg_store reg_store_pg = {
    .model_id = model_id,
    .model_get = model_get,
    .model_insert = model_insert,
    .model_update = model_update,
    .model_delete = model_delete,
    .model_list = model_list,
    .model_aliases = model_aliases,
    .version_insert = version_insert,
    .version_get = version_get,
    .version_find = version_find,
    .version_list = version_list,
    .version_set_ready = version_set_ready,
    .sha_referenced = sha_referenced,
    .alias_version = alias_version,
    .alias_current = alias_current,
    .alias_put = alias_put,
    .alias_remove = alias_remove,
    .history_insert = history_insert,
    .history_list = history_list,
    .history_walk = history_walk,
    .history_approved = history_approved,
    .approval_put = approval_put,
    .approval_list = approval_list,
    .protect_put = protect_put,
    .protect_get = protect_get,
    .protect_remove = protect_remove,
    .protect_list = protect_list,
    .model_nodes = model_nodes,
    .node_insert = node_insert,
    .node_follow = node_follow,
    .node_get = node_get,
    .node_list = node_list,
    .node_models = node_models,
    .node_seen = node_seen,
    .node_status_put = node_status_put,
    .candidate_count = candidate_count,
    .node_delete = node_delete,
    .blob_create = blob_create,
    .blob_chunk_put = blob_chunk_put,
    .blob_find = blob_find,
    .blob_name = blob_name,
    .blob_chunk_get = blob_chunk_get,
    .blob_delete = blob_delete,
    .blob_list = blob_list,
    .blob_purge_unnamed = blob_purge_unnamed,
};
