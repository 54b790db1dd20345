/* monitor/pack.h - the byte layout of block chunks, the same on every
 * backend: arrays of 8-byte little-endian values (float64 or int64) and
 * NUL-terminated ids. Pure functions over memory. */
#ifndef MW_MONITOR_PACK_H
#define MW_MONITOR_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* 1 when a packed chunk of 8-byte values is this machine's own array
 * layout (little-endian), so arrays can be handed over without packing. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MON_PACK_NATIVE 1
#else
#define MON_PACK_NATIVE 0
#endif

/* Packs n doubles / int64s / ids into buf (replacing its contents) as a
 * chunk; rows (may be NULL: 0..n-1) picks the values. Ids are written as
 * NUL-terminated strings ("" when absent). MW_ETOOBIG past buf's limit
 * (buf freed), MW_ENOMEM. */
mw_status mon__pack_doubles(mw_buf *buf, const double *v, const size_t *rows,
                            size_t n);
mw_status mon__pack_i64(mw_buf *buf, const int64_t *v, const size_t *rows, size_t n);
mw_status mon__pack_ids(mw_buf *buf, const char *const *ids, const size_t *rows,
                        size_t n);
/* Reads value i of a packed chunk of 8-byte values (chunk need not be
 * aligned). */
double mon__chunk_double(const void *chunk, size_t i);
int64_t mon__chunk_i64(const void *chunk, size_t i);
/* Copies n packed float64 values into out (aligned, native order). */
void mon__unpack_doubles(const void *chunk, size_t n, double *out);
/* Splits a packed ids chunk of n ids into pointers into chunk (borrowed).
 * Returns 0 when the chunk is malformed. */
int mon__unpack_ids(const char *chunk, size_t len, size_t n, const char **out);

#endif
