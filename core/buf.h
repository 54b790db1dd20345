/* core/buf.h - a growable buffer with a hard cap fixed at birth, and
 * length-checked string helpers. */
#ifndef MW_CORE_BUF_H
#define MW_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* A growable byte buffer with a hard cap fixed at creation: an append that
 * would pass the cap fails with MW_ETOOBIG and frees the contents, so an
 * oversized input can never grow memory without bound. */
typedef struct mw_buf {
  char *data; /* NUL-terminated when len > 0 */
  size_t len;
  size_t cap;   /* allocated bytes */
  size_t limit; /* hard cap on len */
} mw_buf;

/* Initialises an empty buffer with the given hard limit. */
void mw_buf_init(mw_buf *b, size_t limit);
/* Appends len bytes. MW_ETOOBIG (buffer freed) past the limit. */
mw_status mw_buf_append(mw_buf *b, const void *p, size_t len);
/* Appends a formatted string (length-checked). */
mw_status mw_buf_printf(mw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s (NULL: nothing) as a Prometheus label value: backslash, quote
 * and newline escaped. */
mw_status mw_buf_label(mw_buf *b, const char *s);
/* Frees the contents; the buffer can be reused after mw_buf_init. */
void mw_buf_free(mw_buf *b);

/* Copies src into dst (cap bytes, always NUL-terminated). Returns MW_ETOOBIG
 * if src was truncated. */
mw_status mw_strlcpy(char *dst, const char *src, size_t cap);
/* Parses a base-10 signed integer filling the whole string. */
mw_status mw_parse_i64(const char *s, int64_t *out);

#endif
