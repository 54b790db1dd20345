/* core/json.h - small helpers over cJSON. */
#ifndef MW_CORE_JSON_H
#define MW_CORE_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* Returns the string value of obj[key] or NULL if absent or not a string
 * (borrowed from obj). */
const char *mw_json_str(const cJSON *obj, const char *key);
/* 1 when it is a JSON number holding an integer that int64_t represents
 * exactly, stored in *out; 0 otherwise (fractions, NaN, and the
 * infinities and huge values cJSON reads from "1e999": converting those
 * to an integer type is undefined behaviour). */
int mw_json_int(const cJSON *it, int64_t *out);
/* Serialises and frees nothing; caller frees the result with free(). */
char *mw_json_print(const cJSON *obj);
/* Adds "key": RFC 3339 time, or null when ms < 0. */
void mw_json_add_time(cJSON *obj, const char *key, int64_t ms);

#endif
