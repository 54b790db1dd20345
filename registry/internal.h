/* registry/internal.h - helpers shared by the registry's own files
 * (models.c holds them). Nothing here names a backend: statements live
 * behind registry/store.h. */
#ifndef MW_REGISTRY_INTERNAL_H
#define MW_REGISTRY_INTERNAL_H

#include "registry/registry.h"
#include "registry/store.h"

/* Model id by name; MW_ENOTFOUND (with err) if absent. */
mw_status reg__model_id(mw_conn *c, const char *name, int64_t *id, mw_err *err);
/* Parses stored JSON text into a new item (an empty object when the text is
 * NULL, empty or broken, which the registry never stores). Caller frees
 * with cJSON_Delete. */
cJSON *reg__json_text(const char *text);
/* Adds key: s, or key: null when s is NULL. */
void reg__add_opt_string(cJSON *obj, const char *key, const char *s);
/* Adds key: v, or key: null when v < 0 (an absent number). */
void reg__add_opt_number(cJSON *obj, const char *key, int64_t v);
/* Validates that v is NULL or an object whose values are all strings (tags)
 * or all numbers (metrics), or strings/numbers/bools (params). */
enum reg_map_kind { REG_MAP_STRINGS, REG_MAP_NUMBERS, REG_MAP_SCALARS };
mw_status reg__check_map(const cJSON *v, const char *field, enum reg_map_kind k,
                         mw_err *err);
/* Decodes a page token made by reg__page_token (hex of a key) into buf. */
int reg__page_decode(const char *tok, char *buf, size_t cap);
void reg__page_token(const char *key, char *buf, size_t cap);
/* Parses limit: default 100, clamp 1..1000. */
int reg__limit(int limit);
/* Ends a change whose answer *out was built inside its write transaction:
 * commits when s is MW_OK, and otherwise (or when COMMIT fails) rolls back
 * and frees *out. Reading the answer before COMMIT means an error always
 * says nothing was changed: read after it, a failed read would report an
 * error for a change that was made, and a retry would make it twice. */
mw_status reg__commit_answer(mw_conn *c, mw_status s, cJSON **out);
/* An alias name: mw_name_valid and not all digits (MW_EVALIDATION). */
mw_status reg__alias_name_check(const char *alias, mw_err *err);
/* Whether the move of kind ("set", "rollback") of model's alias from
 * version from to version, whose approval state is approval, is allowed
 * where the alias is protected (governance.c); inside the move's write
 * transaction.
 * MW_ENOTAPPROVED with err (details: alias, version, approval, kind) when
 * refused. *approved: the version is approved now, for the history row. */
mw_status reg__move_check(mw_conn *c, int64_t mid, const char *model,
                          const char *alias, const char *kind, int64_t from,
                          int64_t version, const char *approval, int *approved,
                          mw_err *err);

#endif
