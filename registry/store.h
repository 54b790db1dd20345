/* registry/store.h - the store interface of the registry: models,
 * versions, aliases and their history, serving nodes and the chunks of
 * artifacts kept in the database, in the registry's own terms. Internal to
 * registry/. registry/store_sqlite.c implements it on SQLite,
 * registry/store_pg.c on PostgreSQL; registry/store.c picks one by the
 * connection's backend.
 *
 * Rules live above it and are written once: name and field validation,
 * the compare-and-swap of aliases, the rollback stack, node in_sync and
 * every JSON shape (models.c, versions.c, aliases.c, nodes.c); what the
 * artifact stores do with chunks (blobs_db.c). Each operation does one
 * thing those files ask for.
 *
 * Conventions are core's (core/store.h): every operation takes the
 * calling thread's connection and runs inside the caller's transaction
 * when there is one (writes need one: the caller opens it with
 * mw_tx_begin and commits, so several operations commit together);
 * strings handed to a callback are borrowed for the duration of the call;
 * MW_ENOTFOUND when the thing looked for is absent and MW_ECONFLICT when a
 * uniqueness rule refused a write, with no message (err is the business
 * layer's job). Listing operations call fn once per row in the order they
 * state and stop at fn's first non-zero status, which they return. A
 * callback may run other operations of this store (never the one that
 * called it). Numbers that may be absent are -1 when they are.
 *
 * Operations (all by index unless said; n = rows returned):
 *  - models: model_id, model_insert, model_update, model_delete
 *    O(log models); model_get O(log models + aliases of the model);
 *    model_list O(n (log models + aliases)), by name in byte order;
 *    model_aliases O(aliases of the model). A model row comes with its
 *    latest version, version count and aliases: on PostgreSQL in the same
 *    query (one round trip for a page), on SQLite by two more statements.
 *  - versions: version_insert (the next number of its model),
 *    version_get, version_find, version_set_ready O(log versions);
 *    version_list O(n log versions), newest first (rows come with their
 *    aliases as models do); sha_referenced O(versions): no index on
 *    sha256, it runs only in the artifact collector and after a failed
 *    upload.
 *  - aliases: alias_version, alias_current, alias_put, alias_remove
 *    O(log aliases); history_insert O(log history); history_list
 *    O(n log history), newest first; history_walk O(history of the alias),
 *    oldest first; model_nodes O(nodes serving the model).
 *  - governance: approval_put, protect_put, protect_get, protect_remove,
 *    history_approved O(log rows); approval_list O(n log approvals),
 *    newest first; protect_list O(n log protected), by alias.
 *  - nodes: node_insert, node_follow, node_get, node_seen,
 *    node_status_put, node_delete O(log nodes); node_list O(nodes);
 *    candidate_count O(nodes serving the model);
 *    node_models O(models the node serves).
 *  - artifact chunks: blob_create, blob_chunk_put (one chunk of at most
 *    1 MiB), blob_find, blob_name, blob_chunk_get, blob_delete
 *    O(log blobs); blob_list O(n log blobs), by name; blob_purge_unnamed
 *    O(unnamed blobs and their chunks). */
#ifndef MW_REGISTRY_STORE_H
#define MW_REGISTRY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

/* An alias and the version number it points to. */
struct reg_alias_ref {
  const char *alias;
  int64_t version;
};

/* A model as stored, with what its answer shows of its versions and
 * aliases (read with it, in one round trip where the backend allows).
 * tags is the JSON text of its tags. */
struct reg_model_row {
  int64_t id;
  const char *name, *description, *tags;
  int64_t created_at, updated_at;
  int64_t latest_version; /* -1: no version yet */
  int64_t version_count;
  const struct reg_alias_ref *aliases; /* by name */
  int n_aliases;
};

/* What a new version is created with. JSON texts (tags, metrics, params,
 * schema) are stored as given; source, run_id and schema may be NULL. */
struct reg_version_fields {
  const char *description, *source, *run_id;
  const char *tags, *metrics, *params, *schema;
  int64_t created_at;
  const char *created_by;
};

/* A version as stored, with its model's name and the names of the aliases
 * pointing at it (by name). source, run_id, schema and sha256 are NULL
 * when unset; size is -1 until the artifact is there. */
struct reg_version_row {
  int64_t id, model_id, version;
  const char *model;
  const char *description, *source, *run_id;
  const char *tags, *metrics, *params, *schema;
  const char *status, *sha256;
  int64_t size, created_at;
  const char *created_by;
  const char *const *aliases;
  int n_aliases;
  /* The current decision: approval_state "none", "approved" or
   * "rejected"; by and comment NULL and at -1 while it is "none". */
  const char *approval_state, *approval_by, *approval_comment;
  int64_t approval_at;
  const char *uploaded_by; /* who uploaded the artifact; NULL: nobody yet */
};

/* One decision on a version. decision is "approved" or "rejected";
 * comment may be NULL. */
struct reg_approval_row {
  const char *decision, *actor, *comment;
  int64_t at;
};

/* A protected alias of a model (it need not exist yet). */
struct reg_protected_row {
  const char *alias;
  int require_approval;
  const char *actor;
  int64_t at;
};

/* One move of an alias. kind is "set", "rollback" or "delete"; version is
 * -1 for a delete, previous_version -1 when the alias did not exist;
 * reason may be NULL. */
struct reg_history_row {
  int64_t version, previous_version;
  const char *kind, *actor, *reason;
  int64_t at;
  int approved; /* the version moved to was approved at that moment */
};

/* A serving node (its secret stays in the store). */
struct reg_node_row {
  int64_t id;
  const char *name, *url;
  int64_t created_at, last_seen_at; /* -1: never reported */
};

/* One model a node serves: the alias it follows, the version that alias
 * points to (-1: none) and what the node last reported (state NULL and
 * versions -1 when it never did; reported_version -1 also when it reported
 * no version). */
struct reg_node_model_row {
  const char *model, *alias;
  int64_t desired_version, reported_version;
  const char *state;
  int64_t reported_at;
  /* A candidate the node runs beside it during a rollout (-1, NULL, -1:
   * none reported). */
  int64_t candidate_version;
  const char *candidate_state;
  int64_t candidate_weight;
};

/* What a node reports of one model it serves (versions and weight -1:
 * none; candidate_state NULL: none). */
struct reg_node_status_row {
  const char *model;
  int64_t version;
  const char *state;
  int64_t candidate_version;
  const char *candidate_state;
  int64_t candidate_weight;
};

/* A named blob of the database artifact store, as the collector lists it. */
struct reg_blob_row {
  char sha256[65];
  int64_t touched_at;
};

typedef mw_status (*reg_model_fn)(void *ctx, const struct reg_model_row *m);
typedef mw_status (*reg_version_fn)(void *ctx, const struct reg_version_row *v);

struct reg_store {
  /* ---- models ---- */
  mw_status (*model_id)(mw_conn *c, const char *name, int64_t *id);
  mw_status (*model_get)(mw_conn *c, const char *name, reg_model_fn fn, void *ctx);
  /* MW_ECONFLICT when the name is taken. */
  mw_status (*model_insert)(mw_conn *c, const char *name, const char *description,
                            const char *tags, int64_t now);
  /* Sets description and tags (NULL keeps either) and updated_at. */
  mw_status (*model_update)(mw_conn *c, const char *name, const char *description,
                            const char *tags, int64_t now);
  /* Deletes the model with its versions, history and node links. */
  mw_status (*model_delete)(mw_conn *c, int64_t id);
  /* Models named after `after` (byte order) whose lower-cased name holds
   * q_lower (NULL: all), at most limit. */
  mw_status (*model_list)(mw_conn *c, const char *after, const char *q_lower,
                          int limit, reg_model_fn fn, void *ctx);
  /* The model's aliases by name with the version each points to. */
  mw_status (*model_aliases)(mw_conn *c, int64_t model_id,
                             mw_status (*fn)(void *ctx, const char *alias,
                                             int64_t version),
                             void *ctx);

  /* ---- versions ---- */
  /* Inserts the model's next version (1 for the first); *version gets it. */
  mw_status (*version_insert)(mw_conn *c, int64_t model_id,
                              const struct reg_version_fields *f, int64_t *version);
  mw_status (*version_get)(mw_conn *c, const char *model, int64_t version,
                           reg_version_fn fn, void *ctx);
  /* What other subsystems use of a version (out->schema_json: malloc'd,
   * freed by the caller with reg_version_info_free). */
  mw_status (*version_find)(mw_conn *c, const char *model, int64_t version,
                            reg_version_info *out);
  /* Versions of the model numbered below `before`, newest first. */
  mw_status (*version_list)(mw_conn *c, int64_t model_id, int64_t before, int limit,
                            reg_version_fn fn, void *ctx);
  /* Marks a pending version ready with its artifact; *changed = 0 when the
   * version is not there or not pending. */
  mw_status (*version_set_ready)(mw_conn *c, const char *model, int64_t version,
                                 const char *uploaded_by, const char *sha256,
                                 int64_t size, int *changed);
  /* *yes = 1 when some version names the artifact sha256. */
  mw_status (*sha_referenced)(mw_conn *c, const char *sha256, int *yes);

  /* ---- aliases ---- */
  /* The version number alias of model (both by name) points to. */
  mw_status (*alias_version)(mw_conn *c, const char *model, const char *alias,
                             int64_t *version);
  /* As alias_version by model id; *version = 0 when the alias is unset. */
  mw_status (*alias_current)(mw_conn *c, int64_t model_id, const char *alias,
                             int64_t *version);
  /* Points the alias at a version (by id), creating it when needed. */
  mw_status (*alias_put)(mw_conn *c, int64_t model_id, const char *alias,
                         int64_t version_id, int64_t now);
  mw_status (*alias_remove)(mw_conn *c, int64_t model_id, const char *alias);
  mw_status (*history_insert)(mw_conn *c, int64_t model_id, const char *alias,
                              const struct reg_history_row *h);
  /* The alias's history, newest first, at most limit rows. */
  mw_status (*history_list)(
      mw_conn *c, int64_t model_id, const char *alias, int limit,
      mw_status (*fn)(void *ctx, const struct reg_history_row *h), void *ctx);
  /* Every move of the alias, oldest first: kind and version (-1: none). */
  mw_status (*history_walk)(mw_conn *c, int64_t model_id, const char *alias,
                            mw_status (*fn)(void *ctx, const char *kind,
                                            int64_t version),
                            void *ctx);
  /* The nodes serving the model, by name, with their URL. */
  mw_status (*model_nodes)(mw_conn *c, int64_t model_id,
                           mw_status (*fn)(void *ctx, const char *name,
                                           const char *url),
                           void *ctx);

  /* *yes = 1 when the alias once moved to version while that version was
   * approved (history_insert's approved). */
  mw_status (*history_approved)(mw_conn *c, int64_t model_id, const char *alias,
                                int64_t version, int *yes);

  /* ---- governance ---- */
  /* Records a decision on the version (by id): its current approval and a
   * row of its append-only history. */
  mw_status (*approval_put)(mw_conn *c, int64_t version_id,
                            const struct reg_approval_row *a);
  /* The version's decisions, newest first. */
  mw_status (*approval_list)(mw_conn *c, int64_t version_id,
                             mw_status (*fn)(void *ctx,
                                             const struct reg_approval_row *a),
                             void *ctx);
  /* Protects the alias (creating or replacing its row). */
  mw_status (*protect_put)(mw_conn *c, int64_t model_id,
                           const struct reg_protected_row *p);
  /* MW_ENOTFOUND when the alias is not protected. */
  mw_status (*protect_get)(mw_conn *c, int64_t model_id, const char *alias,
                           int *require_approval);
  /* MW_ENOTFOUND when the alias was not protected. */
  mw_status (*protect_remove)(mw_conn *c, int64_t model_id, const char *alias);
  /* The model's protected aliases, by alias. */
  mw_status (*protect_list)(mw_conn *c, int64_t model_id,
                            mw_status (*fn)(void *ctx,
                                            const struct reg_protected_row *p),
                            void *ctx);

  /* ---- serving nodes ---- */
  /* MW_ECONFLICT when the name is taken; *id gets the new node's id. */
  mw_status (*node_insert)(mw_conn *c, const char *name, const char *url,
                           const char *secret, int64_t now, int64_t *id);
  /* The node serves the model and follows alias (replacing an earlier
   * alias of the same model). */
  mw_status (*node_follow)(mw_conn *c, int64_t node_id, int64_t model_id,
                           const char *alias);
  mw_status (*node_get)(mw_conn *c, const char *name,
                        mw_status (*fn)(void *ctx, const struct reg_node_row *n),
                        void *ctx);
  /* Every node, by name. */
  mw_status (*node_list)(mw_conn *c,
                         mw_status (*fn)(void *ctx, const struct reg_node_row *n),
                         void *ctx);
  /* The models the node serves, by model name. */
  mw_status (*node_models)(mw_conn *c, int64_t node_id,
                           mw_status (*fn)(void *ctx,
                                           const struct reg_node_model_row *m),
                           void *ctx);
  /* Records that the node reported at now; *id gets its id. */
  mw_status (*node_seen)(mw_conn *c, const char *name, int64_t now, int64_t *id);
  /* What the node runs of a model (version -1: none). */
  mw_status (*node_status_put)(mw_conn *c, int64_t node_id,
                               const struct reg_node_status_row *r, int64_t now);
  /* Of the nodes serving model_id (named model), *nodes counts them all
   * and *loaded those whose last report says candidate `version` is
   * loaded. */
  mw_status (*candidate_count)(mw_conn *c, int64_t model_id, const char *model,
                               int64_t version, int64_t *nodes, int64_t *loaded);
  /* Deletes the node with its links and reports. */
  mw_status (*node_delete)(mw_conn *c, const char *name);

  /* ---- artifact chunks (the database artifact store, blobs_db.c) ---- */
  /* A new blob without a name; *id gets its id. */
  mw_status (*blob_create)(mw_conn *c, int64_t now, int64_t *id);
  /* Stores chunk seq (from 0) of the blob and refreshes its touched_at. */
  mw_status (*blob_chunk_put)(mw_conn *c, int64_t id, int64_t seq, const void *data,
                              size_t len, int64_t now);
  /* The blob named sha256: its id and size. */
  mw_status (*blob_find)(mw_conn *c, const char *sha256, int64_t *id, int64_t *size);
  /* Names the blob (no blob may have the name yet: blob_find first). */
  mw_status (*blob_name)(mw_conn *c, int64_t id, const char *sha256, int64_t size,
                         int64_t now);
  /* Copies chunk seq of the blob into buf (cap bytes, *len its size);
   * MW_ENOTFOUND when there is no such chunk, MW_ETOOBIG past cap. */
  mw_status (*blob_chunk_get)(mw_conn *c, int64_t id, int64_t seq, void *buf,
                              size_t cap, size_t *len);
  /* Deletes the blob with its chunks; with unnamed_only only while it has
   * no name. MW_OK when there is nothing to delete. */
  mw_status (*blob_delete)(mw_conn *c, int64_t id, int unnamed_only);
  /* Up to max named blobs whose name sorts after `after`, by name. */
  mw_status (*blob_list)(mw_conn *c, const char *after, int max,
                         struct reg_blob_row *rows, int *n);
  /* Deletes blobs without a name last touched at or before `before`
   * (uploads that never ended); *removed gets how many. */
  mw_status (*blob_purge_unnamed)(mw_conn *c, int64_t before, int64_t *removed);
};

extern const struct reg_store reg_store_sqlite;
extern const struct reg_store reg_store_pg;

/* The implementation for c's backend. */
const struct reg_store *reg__store(mw_conn *c);

#endif
