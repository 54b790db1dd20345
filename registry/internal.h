/* registry/internal.h - helpers shared by the registry's own files. */
#ifndef MW_REGISTRY_INTERNAL_H
#define MW_REGISTRY_INTERNAL_H

#include "core/db_sqlite.h"
#include "registry/registry.h"

/* Model id by name; MW_ENOTFOUND (with err) if absent. */
mw_status reg__model_id(mw_conn *c, const char *name, int64_t *id, mw_err *err);
/* Parses a stored JSON text column into a new item (an empty object when
 * the text is empty or broken, which migrations never store). */
cJSON *reg__json_col(sqlite3_stmt *st, int col);
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

#endif
