/* core/crypto.c - digests, HMAC, base64, randomness and Standard Webhooks
 * signatures, on OpenSSL's libcrypto. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/core.h"

static const char hexdig[] = "0123456789abcdef";

void mw_sha256_hex(const void *data, size_t len, char hex[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(data, len, md);
  for(int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
    hex[2 * i] = hexdig[md[i] >> 4];
    hex[2 * i + 1] = hexdig[md[i] & 15];
  }
  hex[64] = '\0';
}

void mw_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                    unsigned char out[32]) {
  unsigned int outlen = 32;
  HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t mw_base64_encode(const unsigned char *in, size_t len, char *out) {
  size_t o = 0;
  size_t i = 0;
  for(; i + 2 < len; i += 3) {
    uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = b64[(v >> 6) & 63];
    out[o++] = b64[v & 63];
  }
  if(i < len) {
    uint32_t v = (uint32_t)in[i] << 16;
    if(i + 1 < len)
      v |= (uint32_t)in[i + 1] << 8;
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static int b64val(char c) {
  if(c >= 'A' && c <= 'Z')
    return c - 'A';
  if(c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if(c >= '0' && c <= '9')
    return c - '0' + 52;
  if(c == '+')
    return 62;
  if(c == '/')
    return 63;
  return -1;
}

long mw_base64_decode(const char *in, unsigned char *out, size_t cap) {
  size_t n = strlen(in);
  while(n > 0 && in[n - 1] == '=')
    n--;
  if(n % 4 == 1)
    return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for(size_t i = 0; i < n; i++) {
    int v = b64val(in[i]);
    if(v < 0)
      return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if(bits >= 8) {
      bits -= 8;
      if(o >= cap)
        return -1;
      out[o++] = (unsigned char)((acc >> bits) & 0xff);
    }
  }
  return (long)o;
}

mw_status mw_random_bytes(void *buf, size_t len) {
  return RAND_bytes(buf, (int)len) == 1 ? MW_OK : MW_EINTERNAL;
}

mw_status mw_random_token(char *out, size_t len) {
  static const char alpha[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char r[256];
  size_t done = 0;
  while(done < len) {
    if(mw_random_bytes(r, sizeof r))
      return MW_EINTERNAL;
    for(size_t i = 0; i < sizeof r && done < len; i++) {
      /* Rejection sampling keeps the alphabet uniform: 248 = 4 * 62. */
      if(r[i] < 248)
        out[done++] = alpha[r[i] % 62];
    }
  }
  out[len] = '\0';
  return MW_OK;
}

int mw_ct_equal(const void *a, const void *b, size_t len) {
  return CRYPTO_memcmp(a, b, len) == 0;
}

mw_status mw_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp,
                          const char *body, size_t bodylen, char out[64]) {
  const char *k = secret;
  if(strncmp(k, "whsec_", 6) == 0)
    k += 6;
  unsigned char key[128];
  long klen = mw_base64_decode(k, key, sizeof key);
  if(klen <= 0)
    return MW_EINVAL;
  char prefix[160];
  int n = snprintf(prefix, sizeof prefix, "%s.%lld.", msg_id, (long long)timestamp);
  if(n < 0 || (size_t)n >= sizeof prefix)
    return MW_EINVAL;
  /* The signed content is "<id>.<timestamp>.<body>"; one buffer keeps us on
   * the one-shot HMAC call, the only HMAC API not deprecated in OpenSSL 3. */
  char *content = malloc((size_t)n + bodylen);
  if(!content) {
    OPENSSL_cleanse(key, sizeof key);
    return MW_ENOMEM;
  }
  memcpy(content, prefix, (size_t)n);
  memcpy(content + n, body, bodylen);
  unsigned char mac[32];
  mw_hmac_sha256(key, (size_t)klen, content, (size_t)n + bodylen, mac);
  free(content);
  OPENSSL_cleanse(key, sizeof key);
  memcpy(out, "v1,", 3);
  mw_base64_encode(mac, sizeof mac, out + 3);
  return MW_OK;
}

mw_status mw_webhook_secret_new(char out[48]) {
  unsigned char key[24];
  char b64[40];
  if(mw_random_bytes(key, sizeof key))
    return MW_EINTERNAL;
  mw_base64_encode(key, sizeof key, b64);
  snprintf(out, 48, "whsec_%s", b64);
  OPENSSL_cleanse(key, sizeof key);
  return MW_OK;
}
