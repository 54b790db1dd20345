/* core/utf8.h - strict UTF-8 decoding and validation. */
#ifndef MW_CORE_UTF8_H
#define MW_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Strict UTF-8 (RFC 3629, core/utf8.c): overlong forms, surrogates encoded
 * in UTF-8 (ED A0..BF ..), values past U+10FFFF, truncated sequences and
 * stray continuation bytes are all invalid. */

/* Decodes the sequence starting at s (n bytes available) into *cp and
 * returns its length (1-4); 0 when it is invalid or n is 0 (*cp is then
 * left alone). */
size_t mw_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encodes cp (a Unicode scalar value: at most U+10FFFF, not a surrogate)
 * into out; returns the bytes written (1-4). */
size_t mw_utf8_encode(uint32_t cp, char out[4]);
/* MW_OK when data[0..n) is valid UTF-8 (NUL bytes included: they are
 * valid characters); MW_EINVAL otherwise. *bad (may be NULL) receives the
 * offset of the first byte of the first invalid sequence, or n when there
 * is none. */
mw_status mw_utf8_check(const void *data, size_t n, size_t *bad);

#endif
