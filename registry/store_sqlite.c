/* registry/store_sqlite.c - the registry's store interface
 * (registry/store.h) on SQLite: models, versions, aliases and their
 * history, serving nodes, and the chunks of the database artifact store.
 * Every statement is cached per connection (mw_stmt) and run through the
 * step helpers, so a failed prepare or step is always an error. A listing
 * calls its callback while its statement stands on the row; the callback
 * may run other statements of the connection (never this one, which
 * mw_stmt would hand out again reset). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_sqlite.h"
#include "registry/store.h"

/* Column text, or NULL for SQL NULL (borrowed until the next step). */
static const char *col_opt(sqlite3_stmt *st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL ? NULL : mw_col_text(st, col);
}

/* Runs a listing: fn(ctx, st) for each row until it returns non-zero. */
static mw_status each_row(mw_conn *c, sqlite3_stmt *st,
                          mw_status (*fn)(void *ctx, sqlite3_stmt *st), void *ctx) {
  if(!st)
    return MW_EDB;
  mw_status s = MW_OK;
  while(mw_step_next(c, st, &s) > 0) {
    s = fn(ctx, st);
    if(s) {
      sqlite3_reset(st);
      break;
    }
  }
  return s;
}

/* Steps a statement that must give one integer (an id, a count). */
static mw_status one_i64(mw_conn *c, sqlite3_stmt *st, int64_t *out) {
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return MW_OK;
}

/* The aliases of one model or version, copied out of their statement for
 * the callback of the row they belong to. */
struct alias_set {
  char (*name)[129]; /* alias names are at most 128 bytes (mw_name_valid) */
  int64_t *version;
  struct reg_alias_ref *refs;
  const char **names;
  int n, cap;
};

static mw_status alias_set_add(void *ctx, const char *alias, int64_t version) {
  struct alias_set *a = ctx;
  if(a->n == a->cap) {
    int cap = a->cap ? 2 * a->cap : 8;
    char(*nn)[129] = realloc(a->name, (size_t)cap * sizeof *nn);
    if(nn)
      a->name = nn;
    int64_t *nv = nn ? realloc(a->version, (size_t)cap * sizeof *nv) : NULL;
    if(!nv)
      return MW_ENOMEM;
    a->version = nv;
    a->cap = cap;
  }
  mw_strlcpy(a->name[a->n], alias, sizeof a->name[0]);
  a->version[a->n++] = version;
  return MW_OK;
}

static mw_status alias_name_add(void *ctx, const char *alias) {
  return alias_set_add(ctx, alias, -1);
}

/* Points refs and names at what was collected (once it no longer moves). */
static mw_status alias_set_seal(struct alias_set *a) {
  if(!a->n)
    return MW_OK;
  a->refs = malloc((size_t)a->n * sizeof *a->refs);
  a->names = malloc((size_t)a->n * sizeof *a->names);
  if(!a->refs || !a->names)
    return MW_ENOMEM;
  for(int i = 0; i < a->n; i++) {
    a->refs[i] = (struct reg_alias_ref){a->name[i], a->version[i]};
    a->names[i] = a->name[i];
  }
  return MW_OK;
}

static void alias_set_free(struct alias_set *a) {
  free(a->name);
  free(a->version);
  free(a->refs);
  free(a->names);
}

/* ---------------------------------------------------------------- models */

#define MODEL_COLS "id, name, description, tags, created_at, updated_at"

struct model_call {
  mw_conn *c;
  reg_model_fn fn;
  void *ctx;
};

struct alias_call {
  mw_status (*fn)(void *ctx, const char *alias, int64_t version);
  void *ctx;
};

static mw_status alias_row(void *ctx, sqlite3_stmt *st) {
  const struct alias_call *ac = ctx;
  return ac->fn(ac->ctx, mw_col_text(st, 0), sqlite3_column_int64(st, 1));
}

static mw_status model_aliases(mw_conn *c, int64_t model_id,
                               mw_status (*fn)(void *, const char *, int64_t),
                               void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT a.alias, v.version FROM aliases a "
                                "JOIN model_versions v ON v.id = a.version_id "
                                "WHERE a.model_id = ? ORDER BY a.alias");
  if(st)
    sqlite3_bind_int64(st, 1, model_id);
  struct alias_call ac = {fn, ctx};
  return each_row(c, st, alias_row, &ac);
}

/* The highest version number (-1 when none) and the number of versions. */
static mw_status model_latest(mw_conn *c, int64_t model_id, int64_t *latest,
                              int64_t *count) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT max(version), count(*) FROM model_versions "
                                "WHERE model_id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, model_id);
  /* An aggregate without GROUP BY always gives its row. */
  mw_status s = mw_step_one(c, st);
  if(s)
    return s == MW_ENOTFOUND ? MW_EINTERNAL : s;
  *latest = mw_col_i64(st, 0, -1);
  *count = sqlite3_column_int64(st, 1);
  sqlite3_reset(st);
  return MW_OK;
}

/* A model row with its aliases and latest version: two more statements,
 * which in-process cost about what joining them in would. */
static mw_status model_row(void *ctx, sqlite3_stmt *st) {
  const struct model_call *mc = ctx;
  struct reg_model_row m = {
      .id = sqlite3_column_int64(st, 0),
      .name = mw_col_text(st, 1),
      .description = mw_col_text(st, 2),
      .tags = mw_col_text(st, 3),
      .created_at = sqlite3_column_int64(st, 4),
      .updated_at = sqlite3_column_int64(st, 5),
  };
  struct alias_set as = {0};
  mw_status s = model_aliases(mc->c, m.id, alias_set_add, &as);
  if(!s)
    s = alias_set_seal(&as);
  if(!s)
    s = model_latest(mc->c, m.id, &m.latest_version, &m.version_count);
  if(!s) {
    m.aliases = as.refs;
    m.n_aliases = as.n;
    s = mc->fn(mc->ctx, &m);
  }
  alias_set_free(&as);
  return s;
}

static mw_status model_id(mw_conn *c, const char *name, int64_t *id) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id FROM models WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  return one_i64(c, st, id);
}

static mw_status model_get(mw_conn *c, const char *name, reg_model_fn fn,
                           void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT " MODEL_COLS " FROM models WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  struct model_call mc = {c, fn, ctx};
  s = model_row(&mc, st);
  sqlite3_reset(st);
  return s;
}

static mw_status model_insert(mw_conn *c, const char *name, const char *description,
                              const char *tags, int64_t now) {
  assert(mw_tx_state(c) == 1); /* writes run in the caller's transaction */
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO models(name, description, tags, "
                 "created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?4)");
  if(st) {
    mw_bind_text(st, 1, name);
    mw_bind_text(st, 2, description);
    mw_bind_text(st, 3, tags);
    sqlite3_bind_int64(st, 4, now);
  }
  return mw_step_done(c, st);
}

static mw_status model_update(mw_conn *c, const char *name, const char *description,
                              const char *tags, int64_t now) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE models SET description = coalesce(?1, description), "
                 "tags = coalesce(?2, tags), updated_at = ?3 WHERE name = ?4");
  if(st) {
    mw_bind_text(st, 1, description);
    mw_bind_text(st, 2, tags);
    sqlite3_bind_int64(st, 3, now);
    mw_bind_text(st, 4, name);
  }
  mw_status s = mw_step_done(c, st);
  return !s && mw_sqlite_changes(c) == 0 ? MW_ENOTFOUND : s;
}

static mw_status model_delete(mw_conn *c, int64_t id) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM models WHERE id = ?");
  if(st)
    sqlite3_bind_int64(st, 1, id);
  return mw_step_done(c, st);
}

static mw_status model_list(mw_conn *c, const char *after, const char *q_lower,
                            int limit, reg_model_fn fn, void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT " MODEL_COLS " FROM models WHERE name > ?1 "
                                "AND (?2 IS NULL OR instr(lower(name), ?2) > 0) "
                                "ORDER BY name LIMIT ?3");
  if(st) {
    mw_bind_text(st, 1, after);
    mw_bind_text(st, 2, q_lower);
    sqlite3_bind_int(st, 3, limit);
  }
  struct model_call mc = {c, fn, ctx};
  return each_row(c, st, model_row, &mc);
}

/* -------------------------------------------------------------- versions */

#define VERSION_COLS                                                         \
  "v.id, v.model_id, m.name, v.version, v.description, v.source, v.run_id, " \
  "v.tags, v.metrics, v.params, v.schema, v.status, v.sha256, v.size, "      \
  "v.created_at, v.created_by, v.approval_state, v.approval_by, "            \
  "v.approval_comment, v.approval_at, v.uploaded_by"

struct version_call {
  mw_conn *c;
  reg_version_fn fn;
  void *ctx;
};

struct name_call {
  mw_status (*fn)(void *ctx, const char *name);
  void *ctx;
};

static mw_status name_row(void *ctx, sqlite3_stmt *st) {
  const struct name_call *nc = ctx;
  return nc->fn(nc->ctx, mw_col_text(st, 0));
}

/* Names of the aliases pointing at the version (by id), by name. */
static mw_status version_aliases(mw_conn *c, int64_t version_id,
                                 mw_status (*fn)(void *, const char *), void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT alias FROM aliases WHERE version_id = ? "
                                "ORDER BY alias");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  struct name_call nc = {fn, ctx};
  return each_row(c, st, name_row, &nc);
}

static mw_status version_row(void *ctx, sqlite3_stmt *st) {
  const struct version_call *vc = ctx;
  struct reg_version_row v = {
      .id = sqlite3_column_int64(st, 0),
      .model_id = sqlite3_column_int64(st, 1),
      .model = mw_col_text(st, 2),
      .version = sqlite3_column_int64(st, 3),
      .description = mw_col_text(st, 4),
      .source = col_opt(st, 5),
      .run_id = col_opt(st, 6),
      .tags = mw_col_text(st, 7),
      .metrics = mw_col_text(st, 8),
      .params = mw_col_text(st, 9),
      .schema = col_opt(st, 10),
      .status = mw_col_text(st, 11),
      .sha256 = col_opt(st, 12),
      .size = mw_col_i64(st, 13, -1),
      .created_at = sqlite3_column_int64(st, 14),
      .created_by = mw_col_text(st, 15),
      .approval_state = mw_col_text(st, 16),
      .approval_by = col_opt(st, 17),
      .approval_comment = col_opt(st, 18),
      .approval_at = mw_col_i64(st, 19, -1),
      .uploaded_by = col_opt(st, 20),
  };
  struct alias_set as = {0};
  mw_status s = version_aliases(vc->c, v.id, alias_name_add, &as);
  if(!s)
    s = alias_set_seal(&as);
  if(!s) {
    v.aliases = as.names;
    v.n_aliases = as.n;
    s = vc->fn(vc->ctx, &v);
  }
  alias_set_free(&as);
  return s;
}

static mw_status version_insert(mw_conn *c, int64_t model_id,
                                const struct reg_version_fields *f,
                                int64_t *version) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO model_versions(model_id, version, description, source, "
         "run_id, tags, metrics, params, schema, created_at, created_by) "
         "SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
         "?9, ?10 FROM model_versions WHERE model_id = ?1 RETURNING version");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, f->description);
    mw_bind_text(st, 3, f->source);
    mw_bind_text(st, 4, f->run_id);
    mw_bind_text(st, 5, f->tags);
    mw_bind_text(st, 6, f->metrics);
    mw_bind_text(st, 7, f->params);
    mw_bind_text(st, 8, f->schema);
    sqlite3_bind_int64(st, 9, f->created_at);
    mw_bind_text(st, 10, f->created_by);
  }
  /* INSERT ... RETURNING: its row, then its end (the insert is done only
   * when the statement has run to completion). */
  mw_status s = mw_step_one(c, st);
  if(s)
    return s == MW_ENOTFOUND ? MW_EINTERNAL : s;
  *version = sqlite3_column_int64(st, 0);
  return mw_step_done(c, st);
}

static mw_status version_get(mw_conn *c, const char *model, int64_t version,
                             reg_version_fn fn, void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT " VERSION_COLS " FROM model_versions v "
                                "JOIN models m ON m.id = v.model_id "
                                "WHERE m.name = ? AND v.version = ?");
  if(st) {
    mw_bind_text(st, 1, model);
    sqlite3_bind_int64(st, 2, version);
  }
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  struct version_call vc = {c, fn, ctx};
  s = version_row(&vc, st);
  sqlite3_reset(st);
  return s;
}

static mw_status version_find(mw_conn *c, const char *model, int64_t version,
                              reg_version_info *out) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT v.id, v.model_id, v.status, v.sha256, v.size, v.schema, "
         "v.approval_state FROM model_versions v JOIN models m ON m.id = v.model_id "
         "WHERE m.name = ? AND v.version = ?");
  if(st) {
    mw_bind_text(st, 1, model);
    sqlite3_bind_int64(st, 2, version);
  }
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  out->id = sqlite3_column_int64(st, 0);
  out->model_id = sqlite3_column_int64(st, 1);
  out->version = version;
  out->ready = !strcmp(mw_col_text(st, 2), "ready");
  mw_strlcpy(out->sha256, mw_col_text(st, 3), sizeof out->sha256);
  out->size = sqlite3_column_int64(st, 4);
  mw_strlcpy(out->approval, mw_col_text(st, 6), sizeof out->approval);
  if(sqlite3_column_type(st, 5) != SQLITE_NULL &&
     !(out->schema_json = mw_col_dup(st, 5)))
    s = MW_ENOMEM;
  sqlite3_reset(st);
  return s;
}

static mw_status version_list(mw_conn *c, int64_t model_id, int64_t before,
                              int limit, reg_version_fn fn, void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT " VERSION_COLS " FROM model_versions v "
                                "JOIN models m ON m.id = v.model_id "
                                "WHERE v.model_id = ? AND v.version < ? "
                                "ORDER BY v.version DESC LIMIT ?");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    sqlite3_bind_int64(st, 2, before);
    sqlite3_bind_int(st, 3, limit);
  }
  struct version_call vc = {c, fn, ctx};
  return each_row(c, st, version_row, &vc);
}

static mw_status version_set_ready(mw_conn *c, const char *model, int64_t version,
                                   const char *uploaded_by, const char *sha256,
                                   int64_t size, int *changed) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(
      c, "UPDATE model_versions SET status = 'ready', sha256 = ?1, size = ?2, "
         "uploaded_by = ?5 WHERE version = ?3 AND status = 'pending' AND model_id = "
         "(SELECT id FROM models WHERE name = ?4)");
  if(st) {
    mw_bind_text(st, 1, sha256);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, version);
    mw_bind_text(st, 4, model);
    mw_bind_text(st, 5, uploaded_by);
  }
  mw_status s = mw_step_done(c, st);
  *changed = !s && mw_sqlite_changes(c) > 0;
  return s;
}

static mw_status sha_referenced(mw_conn *c, const char *sha256, int *yes) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT 1 FROM model_versions WHERE sha256 = ? "
                                "LIMIT 1");
  if(st)
    mw_bind_text(st, 1, sha256);
  mw_status s = mw_step_row(c, st, yes);
  if(!s && *yes)
    sqlite3_reset(st);
  return s;
}

/* --------------------------------------------------------------- aliases */

static mw_status alias_version(mw_conn *c, const char *model, const char *alias,
                               int64_t *version) {
  sqlite3_stmt *st = mw_stmt(
      c, "SELECT v.version FROM aliases a JOIN models m ON m.id = a.model_id "
         "JOIN model_versions v ON v.id = a.version_id "
         "WHERE m.name = ? AND a.alias = ?");
  if(st) {
    mw_bind_text(st, 1, model);
    mw_bind_text(st, 2, alias);
  }
  return one_i64(c, st, version);
}

static mw_status alias_current(mw_conn *c, int64_t model_id, const char *alias,
                               int64_t *version) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT v.version FROM aliases a JOIN model_versions v "
                 "ON v.id = a.version_id WHERE a.model_id = ? AND a.alias = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
  }
  mw_status s = one_i64(c, st, version);
  if(s == MW_ENOTFOUND) {
    *version = 0;
    s = MW_OK;
  }
  return s;
}

static mw_status alias_put(mw_conn *c, int64_t model_id, const char *alias,
                           int64_t version_id, int64_t now) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "INSERT INTO aliases(model_id, alias, version_id, updated_at) "
                 "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(model_id, alias) DO UPDATE "
                 "SET version_id = ?3, updated_at = ?4");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
    sqlite3_bind_int64(st, 3, version_id);
    sqlite3_bind_int64(st, 4, now);
  }
  return mw_step_done(c, st);
}

static mw_status alias_remove(mw_conn *c, int64_t model_id, const char *alias) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "DELETE FROM aliases WHERE model_id = ? AND alias = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
  }
  return mw_step_done(c, st);
}

static mw_status history_insert(mw_conn *c, int64_t model_id, const char *alias,
                                const struct reg_history_row *h) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO alias_history(model_id, alias, kind, "
                                "version, previous_version, actor, reason, at, "
                                "approved) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
    mw_bind_text(st, 3, h->kind);
    mw_bind_id(st, 4, h->version);
    mw_bind_id(st, 5, h->previous_version);
    mw_bind_text(st, 6, h->actor);
    mw_bind_text(st, 7, h->reason);
    sqlite3_bind_int64(st, 8, h->at);
    sqlite3_bind_int(st, 9, h->approved != 0);
  }
  return mw_step_done(c, st);
}

static mw_status history_approved(mw_conn *c, int64_t model_id, const char *alias,
                                  int64_t version, int *yes) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT EXISTS(SELECT 1 FROM alias_history WHERE "
                                "model_id = ? AND alias = ? AND version = ? AND "
                                "approved <> 0)");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
    sqlite3_bind_int64(st, 3, version);
  }
  int64_t v = 0;
  mw_status s = one_i64(c, st, &v);
  *yes = !s && v;
  return s;
}

struct history_call {
  mw_status (*fn)(void *ctx, const struct reg_history_row *h);
  void *ctx;
};

static mw_status history_row(void *ctx, sqlite3_stmt *st) {
  const struct history_call *hc = ctx;
  struct reg_history_row h = {mw_col_i64(st, 0, -1),
                              mw_col_i64(st, 1, -1),
                              mw_col_text(st, 2),
                              mw_col_text(st, 3),
                              col_opt(st, 4),
                              sqlite3_column_int64(st, 5),
                              sqlite3_column_int(st, 6) != 0};
  return hc->fn(hc->ctx, &h);
}

static mw_status
history_list(mw_conn *c, int64_t model_id, const char *alias, int limit,
             mw_status (*fn)(void *, const struct reg_history_row *), void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT version, previous_version, kind, actor, reason, at, "
                 "approved FROM alias_history WHERE model_id = ? AND alias = ? "
                 "ORDER BY id DESC LIMIT ?");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
    sqlite3_bind_int(st, 3, limit);
  }
  struct history_call hc = {fn, ctx};
  return each_row(c, st, history_row, &hc);
}

struct walk_call {
  mw_status (*fn)(void *ctx, const char *kind, int64_t version);
  void *ctx;
};

static mw_status walk_row(void *ctx, sqlite3_stmt *st) {
  const struct walk_call *wc = ctx;
  return wc->fn(wc->ctx, mw_col_text(st, 0), mw_col_i64(st, 1, -1));
}

static mw_status history_walk(mw_conn *c, int64_t model_id, const char *alias,
                              mw_status (*fn)(void *, const char *, int64_t),
                              void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT kind, version FROM alias_history "
                                "WHERE model_id = ? AND alias = ? ORDER BY id");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
  }
  struct walk_call wc = {fn, ctx};
  return each_row(c, st, walk_row, &wc);
}

struct pair_call {
  mw_status (*fn)(void *ctx, const char *a, const char *b);
  void *ctx;
};

static mw_status pair_row(void *ctx, sqlite3_stmt *st) {
  const struct pair_call *pc = ctx;
  return pc->fn(pc->ctx, mw_col_text(st, 0), mw_col_text(st, 1));
}

static mw_status model_nodes(mw_conn *c, int64_t model_id,
                             mw_status (*fn)(void *, const char *, const char *),
                             void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT n.name, n.url FROM nodes n JOIN node_models nm "
                 "ON nm.node_id = n.id WHERE nm.model_id = ? ORDER BY n.name");
  if(st)
    sqlite3_bind_int64(st, 1, model_id);
  struct pair_call pc = {fn, ctx};
  return each_row(c, st, pair_row, &pc);
}

/* ------------------------------------------------------------ governance */

static mw_status approval_put(mw_conn *c, int64_t version_id,
                              const struct reg_approval_row *a) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st =
      mw_stmt(c, "UPDATE model_versions SET approval_state = ?1, approval_by = ?2, "
                 "approval_comment = ?3, approval_at = ?4 WHERE id = ?5");
  if(st) {
    mw_bind_text(st, 1, a->decision);
    mw_bind_text(st, 2, a->actor);
    mw_bind_text(st, 3, a->comment);
    sqlite3_bind_int64(st, 4, a->at);
    sqlite3_bind_int64(st, 5, version_id);
  }
  mw_status s = mw_step_done(c, st);
  if(!s && mw_sqlite_changes(c) == 0)
    s = MW_ENOTFOUND;
  if(s)
    return s;
  st = mw_stmt(c, "INSERT INTO version_approvals(version_id, decision, actor, "
                  "comment, at) VALUES(?, ?, ?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, version_id);
    mw_bind_text(st, 2, a->decision);
    mw_bind_text(st, 3, a->actor);
    mw_bind_text(st, 4, a->comment);
    sqlite3_bind_int64(st, 5, a->at);
  }
  return mw_step_done(c, st);
}

struct approval_call {
  mw_status (*fn)(void *ctx, const struct reg_approval_row *a);
  void *ctx;
};

static mw_status approval_row(void *ctx, sqlite3_stmt *st) {
  const struct approval_call *ac = ctx;
  struct reg_approval_row a = {mw_col_text(st, 0), mw_col_text(st, 1),
                               col_opt(st, 2), sqlite3_column_int64(st, 3)};
  return ac->fn(ac->ctx, &a);
}

static mw_status
approval_list(mw_conn *c, int64_t version_id,
              mw_status (*fn)(void *, const struct reg_approval_row *), void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT decision, actor, comment, at FROM "
                                "version_approvals WHERE version_id = ? "
                                "ORDER BY id DESC");
  if(st)
    sqlite3_bind_int64(st, 1, version_id);
  struct approval_call ac = {fn, ctx};
  return each_row(c, st, approval_row, &ac);
}

static mw_status protect_put(mw_conn *c, int64_t model_id,
                             const struct reg_protected_row *p) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO protected_aliases(model_id, alias, require_approval, actor, "
         "at) VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(model_id, alias) DO UPDATE "
         "SET require_approval = ?3, actor = ?4, at = ?5");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, p->alias);
    sqlite3_bind_int(st, 3, p->require_approval != 0);
    mw_bind_text(st, 4, p->actor);
    sqlite3_bind_int64(st, 5, p->at);
  }
  return mw_step_done(c, st);
}

static mw_status protect_get(mw_conn *c, int64_t model_id, const char *alias,
                             int *require_approval) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT require_approval FROM protected_aliases "
                                "WHERE model_id = ? AND alias = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
  }
  int64_t v = 0;
  mw_status s = one_i64(c, st, &v);
  *require_approval = !s && v;
  return s;
}

static mw_status protect_remove(mw_conn *c, int64_t model_id, const char *alias) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM protected_aliases WHERE model_id = ? "
                                "AND alias = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, alias);
  }
  mw_status s = mw_step_done(c, st);
  return !s && mw_sqlite_changes(c) == 0 ? MW_ENOTFOUND : s;
}

struct protect_call {
  mw_status (*fn)(void *ctx, const struct reg_protected_row *p);
  void *ctx;
};

static mw_status protect_row(void *ctx, sqlite3_stmt *st) {
  const struct protect_call *pc = ctx;
  struct reg_protected_row p = {mw_col_text(st, 0), sqlite3_column_int(st, 1) != 0,
                                mw_col_text(st, 2), sqlite3_column_int64(st, 3)};
  return pc->fn(pc->ctx, &p);
}

static mw_status
protect_list(mw_conn *c, int64_t model_id,
             mw_status (*fn)(void *, const struct reg_protected_row *), void *ctx) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT alias, require_approval, actor, at FROM "
                 "protected_aliases WHERE model_id = ? ORDER BY alias");
  if(st)
    sqlite3_bind_int64(st, 1, model_id);
  struct protect_call pc = {fn, ctx};
  return each_row(c, st, protect_row, &pc);
}

/* ----------------------------------------------------------------- nodes */

static mw_status node_insert(mw_conn *c, const char *name, const char *url,
                             const char *secret, int64_t now, int64_t *id) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO nodes(name, url, secret, created_at) "
                                "VALUES(?, ?, ?, ?)");
  if(st) {
    mw_bind_text(st, 1, name);
    mw_bind_text(st, 2, url);
    mw_bind_text(st, 3, secret);
    sqlite3_bind_int64(st, 4, now);
  }
  mw_status s = mw_step_done(c, st);
  if(!s)
    *id = mw_sqlite_last_id(c);
  return s;
}

static mw_status node_follow(mw_conn *c, int64_t node_id, int64_t model_id,
                             const char *alias) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO node_models(node_id, model_id, alias) "
                                "VALUES(?1, ?2, ?3) ON CONFLICT(node_id, model_id) "
                                "DO UPDATE SET alias = ?3");
  if(st) {
    sqlite3_bind_int64(st, 1, node_id);
    sqlite3_bind_int64(st, 2, model_id);
    mw_bind_text(st, 3, alias);
  }
  return mw_step_done(c, st);
}

struct node_call {
  mw_status (*fn)(void *ctx, const struct reg_node_row *n);
  void *ctx;
};

static mw_status node_row(void *ctx, sqlite3_stmt *st) {
  const struct node_call *nc = ctx;
  struct reg_node_row n = {sqlite3_column_int64(st, 0), mw_col_text(st, 1),
                           mw_col_text(st, 2), sqlite3_column_int64(st, 3),
                           mw_col_i64(st, 4, -1)};
  return nc->fn(nc->ctx, &n);
}

static mw_status node_get(mw_conn *c, const char *name,
                          mw_status (*fn)(void *, const struct reg_node_row *),
                          void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, name, url, created_at, last_seen_at "
                                "FROM nodes WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  struct node_call nc = {fn, ctx};
  s = node_row(&nc, st);
  sqlite3_reset(st);
  return s;
}

static mw_status node_list(mw_conn *c,
                           mw_status (*fn)(void *, const struct reg_node_row *),
                           void *ctx) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT id, name, url, created_at, last_seen_at "
                                "FROM nodes ORDER BY name");
  struct node_call nc = {fn, ctx};
  return each_row(c, st, node_row, &nc);
}

struct node_model_call {
  mw_status (*fn)(void *ctx, const struct reg_node_model_row *m);
  void *ctx;
};

static mw_status node_model_row(void *ctx, sqlite3_stmt *st) {
  const struct node_model_call *nc = ctx;
  struct reg_node_model_row m = {
      mw_col_text(st, 0),    mw_col_text(st, 1), mw_col_i64(st, 2, -1),
      mw_col_i64(st, 3, -1), col_opt(st, 4),     mw_col_i64(st, 5, -1),
      mw_col_i64(st, 6, -1), col_opt(st, 7),     mw_col_i64(st, 8, -1)};
  return nc->fn(nc->ctx, &m);
}

static mw_status
node_models(mw_conn *c, int64_t node_id,
            mw_status (*fn)(void *, const struct reg_node_model_row *), void *ctx) {
  sqlite3_stmt *st = mw_stmt(
      c,
      "SELECT m.name, nm.alias, v.version, ns.version, ns.state, "
      "ns.reported_at, ns.candidate_version, ns.candidate_state, "
      "ns.candidate_weight FROM node_models nm JOIN models m ON m.id = nm.model_id "
      "LEFT JOIN aliases a ON a.model_id = nm.model_id AND a.alias = nm.alias "
      "LEFT JOIN model_versions v ON v.id = a.version_id "
      "LEFT JOIN node_status ns ON ns.node_id = nm.node_id "
      "AND ns.model_name = m.name WHERE nm.node_id = ? ORDER BY m.name");
  if(st)
    sqlite3_bind_int64(st, 1, node_id);
  struct node_model_call nc = {fn, ctx};
  return each_row(c, st, node_model_row, &nc);
}

static mw_status node_seen(mw_conn *c, const char *name, int64_t now, int64_t *id) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "UPDATE nodes SET last_seen_at = ? WHERE name = ? "
                                "RETURNING id");
  if(st) {
    sqlite3_bind_int64(st, 1, now);
    mw_bind_text(st, 2, name);
  }
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *id = sqlite3_column_int64(st, 0);
  /* RETURNING: the change is final once the statement runs to its end. */
  return mw_step_done(c, st);
}

static mw_status node_status_put(mw_conn *c, int64_t node_id,
                                 const struct reg_node_status_row *r, int64_t now) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(
      c, "INSERT INTO node_status(node_id, model_name, version, state, "
         "reported_at, candidate_version, candidate_state, candidate_weight) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
         "ON CONFLICT(node_id, model_name) DO UPDATE SET version = ?3, state = ?4, "
         "reported_at = ?5, candidate_version = ?6, candidate_state = ?7, "
         "candidate_weight = ?8");
  if(st) {
    sqlite3_bind_int64(st, 1, node_id);
    mw_bind_text(st, 2, r->model);
    mw_bind_id(st, 3, r->version);
    mw_bind_text(st, 4, r->state);
    sqlite3_bind_int64(st, 5, now);
    mw_bind_id(st, 6, r->candidate_version);
    mw_bind_text(st, 7, r->candidate_state);
    mw_bind_id(st, 8, r->candidate_weight);
  }
  return mw_step_done(c, st);
}

static mw_status candidate_count(mw_conn *c, int64_t model_id, const char *model,
                                 int64_t version, int64_t *nodes, int64_t *loaded) {
  sqlite3_stmt *st = mw_stmt(
      c,
      "SELECT count(*), count(ns.node_id) FROM node_models nm "
      "LEFT JOIN node_status ns ON ns.node_id = nm.node_id AND ns.model_name = ?2 "
      "AND ns.candidate_version = ?3 AND ns.candidate_state = 'loaded' "
      "WHERE nm.model_id = ?1");
  if(st) {
    sqlite3_bind_int64(st, 1, model_id);
    mw_bind_text(st, 2, model);
    sqlite3_bind_int64(st, 3, version);
  }
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *nodes = sqlite3_column_int64(st, 0);
  *loaded = sqlite3_column_int64(st, 1);
  return mw_step_done(c, st);
}

static mw_status node_delete(mw_conn *c, const char *name) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM nodes WHERE name = ?");
  if(st)
    mw_bind_text(st, 1, name);
  mw_status s = mw_step_done(c, st);
  return !s && mw_sqlite_changes(c) == 0 ? MW_ENOTFOUND : s;
}

/* ------------------------------------------------------- artifact chunks */

static mw_status blob_create(mw_conn *c, int64_t now, int64_t *id) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO artifact_blobs(touched_at) VALUES(?)");
  if(st)
    sqlite3_bind_int64(st, 1, now);
  mw_status s = mw_step_done(c, st);
  if(!s)
    *id = mw_sqlite_last_id(c);
  return s;
}

static mw_status blob_chunk_put(mw_conn *c, int64_t id, int64_t seq,
                                const void *data, size_t len, int64_t now) {
  assert(mw_tx_state(c) == 1);
  assert(len > 0 && len <= INT32_MAX);
  sqlite3_stmt *st = mw_stmt(c, "INSERT INTO artifact_chunks(blob_id, seq, data) "
                                "VALUES(?, ?, ?)");
  if(st) {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    /* Static: the bytes outlive the statement's single step. */
    sqlite3_bind_blob(st, 3, data, (int)len, SQLITE_STATIC);
  }
  mw_status s = mw_step_done(c, st);
  if(s)
    return s;
  st = mw_stmt(c, "UPDATE artifact_blobs SET touched_at = ? WHERE id = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, id);
  }
  return mw_step_done(c, st);
}

static mw_status blob_find(mw_conn *c, const char *sha256, int64_t *id,
                           int64_t *size) {
  sqlite3_stmt *st =
      mw_stmt(c, "SELECT id, size FROM artifact_blobs WHERE sha256 = ?");
  if(st)
    mw_bind_text(st, 1, sha256);
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  *id = sqlite3_column_int64(st, 0);
  *size = sqlite3_column_int64(st, 1);
  sqlite3_reset(st);
  return MW_OK;
}

static mw_status blob_name(mw_conn *c, int64_t id, const char *sha256, int64_t size,
                           int64_t now) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "UPDATE artifact_blobs SET sha256 = ?, size = ?, "
                                "touched_at = ? WHERE id = ?");
  if(st) {
    mw_bind_text(st, 1, sha256);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, id);
  }
  mw_status s = mw_step_done(c, st);
  return !s && mw_sqlite_changes(c) == 0 ? MW_ENOTFOUND : s;
}

static mw_status blob_chunk_get(mw_conn *c, int64_t id, int64_t seq, void *buf,
                                size_t cap, size_t *len) {
  sqlite3_stmt *st = mw_stmt(c, "SELECT data FROM artifact_chunks "
                                "WHERE blob_id = ? AND seq = ?");
  if(st) {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
  }
  mw_status s = mw_step_one(c, st);
  if(s)
    return s;
  const void *data = sqlite3_column_blob(st, 0);
  int n = sqlite3_column_bytes(st, 0);
  if(n < 0 || (size_t)n > cap) {
    s = MW_ETOOBIG;
  } else {
    if(n > 0)
      memcpy(buf, data, (size_t)n);
    *len = (size_t)n;
  }
  sqlite3_reset(st);
  return s;
}

static mw_status blob_delete(mw_conn *c, int64_t id, int unnamed_only) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM artifact_blobs WHERE id = ?1 "
                                "AND (?2 = 0 OR sha256 IS NULL)");
  if(st) {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, unnamed_only);
  }
  return mw_step_done(c, st);
}

static mw_status blob_list(mw_conn *c, const char *after, int max,
                           struct reg_blob_row *rows, int *n) {
  *n = 0;
  sqlite3_stmt *st = mw_stmt(c, "SELECT sha256, touched_at FROM artifact_blobs "
                                "WHERE sha256 > ? ORDER BY sha256 LIMIT ?");
  if(!st)
    return MW_EDB;
  mw_bind_text(st, 1, after);
  sqlite3_bind_int(st, 2, max);
  mw_status s = MW_OK;
  while(*n < max && mw_step_next(c, st, &s) > 0) {
    struct reg_blob_row *r = &rows[(*n)++];
    mw_strlcpy(r->sha256, mw_col_text(st, 0), sizeof r->sha256);
    r->touched_at = sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  return s;
}

static mw_status blob_purge_unnamed(mw_conn *c, int64_t before, int64_t *removed) {
  assert(mw_tx_state(c) == 1);
  sqlite3_stmt *st = mw_stmt(c, "DELETE FROM artifact_blobs WHERE sha256 IS NULL "
                                "AND touched_at <= ?");
  if(st)
    sqlite3_bind_int64(st, 1, before);
  mw_status s = mw_step_done(c, st);
  *removed = s ? 0 : mw_sqlite_changes(c);
  return s;
}

const struct reg_store reg_store_sqlite = {
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
