/* core/crypto.h - sha256, HMAC, base64, random tokens and Standard
 * Webhooks signatures (OpenSSL underneath). */
#ifndef MW_CORE_CRYPTO_H
#define MW_CORE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* sha256 of data as 64 lowercase hex chars plus NUL into hex[65]. */
void mw_sha256_hex(const void *data, size_t len, char hex[65]);
/* HMAC-SHA256 of msg with key into out[32]. */
void mw_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                    unsigned char out[32]);
/* Standard base64 with padding; out must hold 4*ceil(len/3)+1 bytes.
 * Returns the encoded length. */
size_t mw_base64_encode(const unsigned char *in, size_t len, char *out);
/* Decodes standard base64 into out (cap bytes). Returns the decoded length
 * or -1 if the input is malformed or does not fit. */
long mw_base64_decode(const char *in, unsigned char *out, size_t cap);
/* Fills buf with cryptographically secure random bytes. */
mw_status mw_random_bytes(void *buf, size_t len);
/* Writes len random characters of [A-Za-z0-9] plus NUL into out. */
mw_status mw_random_token(char *out, size_t len);
/* A new Standard Webhooks signing secret: "whsec_" + base64 of 24 random
 * bytes, into out[48]. */
mw_status mw_webhook_secret_new(char out[48]);
/* Constant-time comparison of two equal-length buffers; 1 if equal. */
int mw_ct_equal(const void *a, const void *b, size_t len);
/* Standard Webhooks signature "v1,<base64>" for secret "whsec_<base64 key>"
 * over "<id>.<timestamp>.<body>". out must hold 64 bytes. */
mw_status mw_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp,
                          const char *body, size_t bodylen, char out[64]);

#endif
