/* registry/registry.h - models, versions, content-addressed artifacts,
 * aliases with append-only history and rollback, serving nodes.
 *
 * Every function takes the calling thread's connection. Functions that
 * change state run one transaction (with its audit row and outbox events)
 * and take `actor` ("token:ci", "rule:drift-high", "cli"). On failure they
 * return a negative mw_status, fill err (may be NULL) with a message for the
 * API client, and leave *out NULL. JSON results are new objects the caller
 * frees with cJSON_Delete. */
#ifndef MW_REGISTRY_H
#define MW_REGISTRY_H

#include "core/core.h"

/* Where the registry keeps artifacts and how it names itself in links.
 * Borrowed strings, valid while the registry is used. */
struct reg_env {
  const char *data_dir;             /* the directory store: <data_dir>/artifacts */
  const char *external_url;         /* base of artifact URLs sent to nodes */
  enum mw_artifact_store artifacts; /* MW_ARTIFACTS_DIR when zeroed */
  int allow_self_approval;          /* --allow-self-approval */
};

/* ---- models ---- */

/* Creates a model. tags: NULL or an object of strings. 409 when taken. */
mw_status reg_model_create(mw_conn *c, const char *name, const char *description,
                           const cJSON *tags, const char *actor, cJSON **out,
                           mw_err *err);
/* The model with aliases {alias: version}, latest_version, version_count. */
mw_status reg_model_get(mw_conn *c, const char *name, cJSON **out, mw_err *err);
/* {models[], next_page_token}: ordered by name, q filters by substring
 * (case-insensitive), limit 1..1000 (default 100), page_token from a
 * previous page (NULL for the first). keep (NULL: every model) says which
 * models the caller may see: the others are skipped while the page is
 * filled, and the page token names only a model kept, so neither a page
 * nor its token reveals a skipped one. */
mw_status reg_model_list(mw_conn *c, const char *q, int limit,
                         const char *page_token,
                         int (*keep)(void *ctx, const char *name), void *keep_ctx,
                         cJSON **out, mw_err *err);
/* Updates description and/or tags (NULL leaves a field unchanged). */
mw_status reg_model_update(mw_conn *c, const char *name, const char *description,
                           const cJSON *tags, const char *actor, cJSON **out,
                           mw_err *err);
/* Deletes a model with its versions and history; MW_ECONFLICT while an
 * alias points into it. Its artifacts stay in the store until
 * reg_artifact_sweep finds no other version naming them. */
mw_status reg_model_delete(mw_conn *c, const char *name, const char *actor,
                           mw_err *err);

/* ---- versions ---- */

/* Creates the next version from a request body {description?, source?,
 * run_id?, tags?, metrics?, params?, schema?}; status "pending". */
mw_status reg_version_create(mw_conn *c, const char *model, const cJSON *body,
                             const char *actor, cJSON **out, mw_err *err);
mw_status reg_version_get(mw_conn *c, const char *model, int64_t version,
                          cJSON **out, mw_err *err);
/* {versions[], next_page_token}, newest first. */
mw_status reg_version_list(mw_conn *c, const char *model, int limit,
                           const char *page_token, cJSON **out, mw_err *err);

/* What other subsystems need to know about a version. */
typedef struct reg_version_info {
  int64_t id; /* model_versions.id, stable across renames */
  int64_t model_id;
  int64_t version;
  int ready;
  char sha256[65];
  int64_t size;
  char *schema_json; /* malloc'd; NULL when the version has no schema */
  char approval[16]; /* "none", "approved" or "rejected" */
} reg_version_info;

/* Looks a version up by model name and number. Caller frees with
 * reg_version_info_free (also on failure: safe). */
mw_status reg_version_lookup(mw_conn *c, const char *model, int64_t version,
                             reg_version_info *out, mw_err *err);
/* Version an alias points to; MW_ENOTFOUND when it does not exist. */
mw_status reg_alias_lookup(mw_conn *c, const char *model, const char *alias,
                           int64_t *version, mw_err *err);
void reg_version_info_free(reg_version_info *vi);

/* Validates a feature schema {"features": [{name, type}], "prediction":
 * {type}}. MW_EVALIDATION with err describing the first problem. */
mw_status reg_schema_validate(const cJSON *schema, mw_err *err);

/* ---- artifacts ----
 *
 * Content-addressed (by sha256) and kept once per content, in the store
 * env->artifacts names: files under <data_dir>/artifacts, or chunks in the
 * database (so every replica sharing it serves every artifact). Bytes are
 * hashed while an upload is written and again while a download is read.
 * See registry/artifacts.c. */

typedef struct reg_upload reg_upload;

/* Starts an upload into the store, hashing as it goes. Keeps c and a copy
 * of *env. Caller ends it with reg_upload_commit or reg_upload_abort. No
 * transaction may be open on c while an upload writes or ends. */
mw_status reg_upload_begin(mw_conn *c, const struct reg_env *env, reg_upload **out,
                           mw_err *err);
/* Appends bytes; MW_ETOOBIG past `limit` total bytes (the upload is then
 * only good for reg_upload_abort). Holds at most one chunk of 1 MiB in
 * memory whatever the artifact's size. */
mw_status reg_upload_write(reg_upload *u, const void *data, size_t len,
                           int64_t limit, mw_err *err);
/* Verifies the digest against expected_sha256 (lowercase hex), makes the
 * bytes durable, and in one write transaction marks the version ready with
 * sha256 and size and stores the bytes under their digest (kept once per
 * content). c and env are the ones the upload began with. Frees u in
 * every case. On any failure - a digest mismatch (MW_EVALIDATION), a
 * version that already has its artifact (MW_ECONFLICT, the loser of two
 * concurrent uploads), a database error - no artifact of this upload is
 * left that no version names. */
mw_status reg_upload_commit(mw_conn *c, const struct reg_env *env, reg_upload *u,
                            const char *model, int64_t version,
                            const char *expected_sha256, const char *actor,
                            cJSON **out, mw_err *err);
/* Drops an upload and what it wrote; NULL is fine. */
void reg_upload_abort(reg_upload *u);

typedef struct reg_artifact_reader reg_artifact_reader;

/* Opens the stored artifact sha256 of size bytes (a ready version's) for
 * reading. MW_EIO (err says so, logged) when the store has no such
 * artifact. Caller frees with reg_artifact_close; c must stay this
 * thread's connection until then. */
mw_status reg_artifact_open(mw_conn *c, const struct reg_env *env,
                            const char *sha256, int64_t size,
                            reg_artifact_reader **out, mw_err *err);
/* The next piece of the artifact: *data (borrowed from rd until the next
 * call or reg_artifact_close), *n bytes; *n = 0 at the end. The piece that
 * completes the artifact is handed out only once the sha256 of everything
 * read matches its name: when it does not, or when the store holds fewer
 * bytes than size, MW_EIO (logged) and nothing of that piece. The first
 * piece holds up to 1 MiB, so an artifact of at most that is verified
 * before its caller sends anything. */
mw_status reg_artifact_read(reg_artifact_reader *rd, const void **data, size_t *n);
/* Frees rd; NULL is fine. */
void reg_artifact_close(reg_artifact_reader *rd);

/* How old an unreferenced artifact or an upload that never ended must be
 * before the sweep removes it (see registry/artifacts.c for why a margin,
 * though uploads and the sweep already exclude each other). */
#define REG_ARTIFACT_GRACE_MS (3600 * 1000LL)

typedef struct reg_sweep_stats {
  int64_t blobs_seen;    /* artifacts in the store */
  int64_t blobs_removed; /* no version named them */
  int64_t temps_removed; /* uploads that never ended (a crash) */
} reg_sweep_stats;

/* Collects the artifact store: removes artifacts that no version names
 * (those of deleted models, of uploads that failed after placing theirs)
 * and what uploads that never ended left, each only when it was last
 * written more than grace_ms ago; an artifact some version names is never
 * removed. The check and the removal of each batch happen in one write
 * transaction, which uploads also hold while they place an artifact and
 * commit its version. The directory store narrows modes looser than 0700
 * (directories) and 0600 (files) on the way. Fills *stats. No transaction
 * may be open on c. */
mw_status reg_artifact_sweep(mw_conn *c, const struct reg_env *env, int64_t grace_ms,
                             reg_sweep_stats *stats);

/* ---- aliases ---- */

/* Points alias at version. alias: a name (mw_name_valid) that is not all
 * digits, since in monitor routes a numeric {v} is a version number
 * (MW_EVALIDATION otherwise). expected: NULL for an unconditional move, else a
 * compare-and-swap: a number the alias must hold now, or JSON null for
 * "must not exist" (MW_ECONFLICT otherwise). Only a ready version can be
 * aliased (MW_EVALIDATION). Writes the history row, the audit row and one
 * alias.moved outbox event per node serving the model, in one transaction.
 * Moving an alias to the version it already holds changes nothing.
 * out: {alias, version, previous_version}. */
mw_status reg_alias_set(mw_conn *c, const struct reg_env *env, const char *model,
                        const char *alias, int64_t version, const cJSON *expected,
                        const char *reason, const char *actor, cJSON **out,
                        mw_err *err);
/* As reg_alias_set inside a transaction the caller has open and will
 * commit (rollouts promote in the transaction that ends them). kind:
 * "set" or "rollout" (the history row's kind); expected: the version the
 * alias must hold (0: must not exist; < 0: no compare-and-swap). A move a
 * protected alias refuses (MW_ENOTAPPROVED) is not audited here: the
 * caller rolls back and may call reg_alias_audit_refusal. */
mw_status reg_alias_move_tx(mw_conn *c, const struct reg_env *env, const char *model,
                            const char *alias, int64_t version, int64_t expected,
                            const char *kind, const char *reason, const char *actor,
                            cJSON **out, mw_err *err);
/* Removes an alias (history keeps a 'delete' row). */
mw_status reg_alias_delete(mw_conn *c, const char *model, const char *alias,
                           const char *reason, const char *actor, mw_err *err);
/* {history: [{version, previous_version, kind, actor, reason, at}]}, newest
 * first, at most limit rows (default 100, max 1000). */
mw_status reg_alias_history(mw_conn *c, const char *model, const char *alias,
                            int limit, cJSON **out, mw_err *err);
/* Moves the alias back to the version it held before the current one
 * (to_version <= 0), or to to_version. Rollbacks walk back through earlier
 * versions like a stack: v1 -> v2 -> v3, rollback gives v2, again gives v1,
 * and again MW_ECONFLICT (nothing older to return to). Same effects and
 * answer as reg_alias_set. */
mw_status reg_alias_rollback(mw_conn *c, const struct reg_env *env,
                             const char *model, const char *alias,
                             int64_t to_version, const char *reason,
                             const char *actor, cJSON **out, mw_err *err);

/* As reg_alias_rollback, inside a transaction the caller has open and will
 * commit (the alert evaluator rolls back in the transaction that records
 * the firing, so a crash can never roll back twice for one firing). */
mw_status reg_alias_rollback_tx(mw_conn *c, const struct reg_env *env,
                                const char *model, const char *alias,
                                int64_t to_version, const char *reason,
                                const char *actor, cJSON **out, mw_err *err);

/* ---- governance (registry/governance.c) ----
 *
 * Versions carry approval {state: none|approved|rejected, by, at,
 * comment}. A protected alias with require_approval refuses, with
 * MW_ENOTAPPROVED (403 not_approved) and nothing moved, every move to a
 * version that is not approved, except a rollback to a version that was
 * approved while it held the alias. */

/* Decides on a ready version: decision "approved" or "rejected", comment
 * optional (<= 4096 bytes). MW_ESELFAPPROVAL when actor created the
 * version and env->allow_self_approval is off. Writes the version's
 * approval, a row of its history and an audit row in one transaction; out
 * is the version as reg_version_get answers it. */
mw_status reg_version_decide(mw_conn *c, const struct reg_env *env,
                             const char *model, int64_t version,
                             const char *decision, const char *comment,
                             const char *actor, cJSON **out, mw_err *err);
/* {model, version, state, approvals: [{decision, by, at, comment}]},
 * newest first. */
mw_status reg_version_approvals(mw_conn *c, const char *model, int64_t version,
                                cJSON **out, mw_err *err);
/* Protects alias of model (it need not exist yet): out {alias,
 * require_approval, by, at}. Audited. */
mw_status reg_protect_set(mw_conn *c, const char *model, const char *alias,
                          int require_approval, const char *actor, cJSON **out,
                          mw_err *err);
/* Lifts the protection (MW_ENOTFOUND when there is none). Audited. */
mw_status reg_protect_delete(mw_conn *c, const char *model, const char *alias,
                             const char *actor, mw_err *err);
/* {protected_aliases: [...]} by alias; with alias non-NULL that one
 * object, or MW_ENOTFOUND. */
mw_status reg_protect_list(mw_conn *c, const char *model, const char *alias,
                           cJSON **out, mw_err *err);
/* Writes the audit row of a move refused with MW_ENOTAPPROVED (err as the
 * refusal filled it), inside the caller's transaction. For callers that
 * move inside their own transaction (reg_alias_rollback_tx) and roll the
 * refused move back. */
mw_status reg_alias_audit_refusal(mw_conn *c, const char *actor, const char *model,
                                  const char *alias, const mw_err *err);

/* ---- serving nodes ---- */

/* Registers a node {name, url, models: ["m" | {"name", "alias"}]}; the
 * answer carries its signing secret (whsec_...), shown only here. The URL
 * must pass mw_url_check_target (allow_private: the server runs with
 * --allow-private-webhooks); MW_EVALIDATION otherwise. */
mw_status reg_node_create(mw_conn *c, const cJSON *body, int allow_private,
                          const char *actor, cJSON **out, mw_err *err);
/* A node with, per model, the alias it follows, the desired version (from
 * the alias), the version it last reported and whether they agree. */
mw_status reg_node_get(mw_conn *c, const char *name, cJSON **out, mw_err *err);
/* {nodes: [...]} as reg_node_get. */
mw_status reg_node_list(mw_conn *c, cJSON **out, mw_err *err);
/* Records a status report {models: [{name, version, state}]}. */
mw_status reg_node_report(mw_conn *c, const char *name, const cJSON *body,
                          cJSON **out, mw_err *err);
mw_status reg_node_delete(mw_conn *c, const char *name, const char *actor,
                          mw_err *err);
/* Queues payload (kind: its outbox kind, e.g. "rollout.step") for every
 * node serving model, in the caller's open write transaction. */
mw_status reg_nodes_enqueue(mw_conn *c, const char *model, const char *kind,
                            const cJSON *payload, mw_err *err);
/* Of the nodes serving model: *nodes all of them, *loaded those whose last
 * status report says candidate `version` is loaded ({candidate_version,
 * candidate_state: "loaded"} in its item for the model). */
mw_status reg_nodes_candidate(mw_conn *c, const char *model, int64_t version,
                              int64_t *nodes, int64_t *loaded, mw_err *err);
/* {url, sha256, size} of vi's artifact, as node commands name it: the URL
 * under env->external_url. Caller frees with cJSON_Delete. */
cJSON *reg_artifact_json(const struct reg_env *env, const char *model,
                         const reg_version_info *vi);

#endif
