/* core/secrets.c - sealing and opening credentials (core/secrets.h):
 * AES-256-GCM through OpenSSL's EVP interface, the text form
 * "enc:v1:<key id>:<base64>", and data keys. No I/O, no database. */
#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/crypto.h"
#include "core/secrets.h"

#define PREFIX "enc:v1:"
#define PREFIX_LEN 7
#define NONCE_LEN 12
#define TAG_LEN 16
/* "enc:v1:" + 8 hex + ':' */
#define HEAD_LEN (PREFIX_LEN + 8 + 1)

static const char *const col_names[MW_SECRET_COLS] = {
    "channels.url",      "channels.secret",    "nodes.url",
    "nodes.secret",      "subscriptions.url",  "subscriptions.secret",
    "channels.password", "privacy_key.secret",
};

const char *mw_secret_col_name(enum mw_secret_col col) {
  assert(col >= 0 && col < MW_SECRET_COLS);
  return col_names[col];
}

/* ------------------------------------------------------------------ keys */

static void key_set_id(mw_secret_key *k) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(k->bytes, sizeof k->bytes, md);
  static const char hex[] = "0123456789abcdef";
  for(int i = 0; i < 4; i++) {
    k->id[2 * i] = hex[md[i] >> 4];
    k->id[2 * i + 1] = hex[md[i] & 15];
  }
  k->id[8] = 0;
}

mw_status mw_secret_key_new(mw_secret_key *out) {
  memset(out, 0, sizeof *out);
  if(mw_random_bytes(out->bytes, sizeof out->bytes))
    return MW_EINTERNAL;
  key_set_id(out);
  return MW_OK;
}

static int hexval(int c) {
  if(c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

mw_status mw_secret_key_parse(const char *text, size_t len, mw_secret_key *out) {
  memset(out, 0, sizeof *out);
  while(len && isspace((unsigned char)*text))
    text++, len--;
  while(len && isspace((unsigned char)text[len - 1]))
    len--;
  if(len == 2 * MW_SECRET_KEY_BYTES) {
    for(size_t i = 0; i < MW_SECRET_KEY_BYTES; i++) {
      int hi = hexval((unsigned char)text[2 * i]);
      int lo = hexval((unsigned char)text[2 * i + 1]);
      if(hi < 0 || lo < 0) {
        mw_secret_key_wipe(out);
        return MW_EINVAL;
      }
      out->bytes[i] = (unsigned char)(hi << 4 | lo);
    }
  } else if(len == 44 && text[43] == '=' && text[42] != '=') {
    char b64[45];
    unsigned char raw[40];
    memcpy(b64, text, 44);
    b64[44] = 0;
    long n = mw_base64_decode(b64, raw, sizeof raw);
    OPENSSL_cleanse(b64, sizeof b64);
    if(n == MW_SECRET_KEY_BYTES)
      memcpy(out->bytes, raw, MW_SECRET_KEY_BYTES);
    OPENSSL_cleanse(raw, sizeof raw);
    if(n != MW_SECRET_KEY_BYTES)
      return MW_EINVAL;
  } else {
    return MW_EINVAL;
  }
  key_set_id(out);
  return MW_OK;
}

void mw_secret_key_hex(const mw_secret_key *k, char out[65]) {
  static const char hex[] = "0123456789abcdef";
  for(int i = 0; i < MW_SECRET_KEY_BYTES; i++) {
    out[2 * i] = hex[k->bytes[i] >> 4];
    out[2 * i + 1] = hex[k->bytes[i] & 15];
  }
  out[64] = 0;
}

void mw_secret_key_wipe(mw_secret_key *k) {
  if(k)
    OPENSSL_cleanse(k, sizeof *k);
}

/* ---------------------------------------------------------------- values */

int mw_secret_is_sealed(const char *stored) {
  return stored && !strncmp(stored, "enc:", 4);
}

mw_status mw_secret_key_id_of(const char *stored, char id[9]) {
  id[0] = 0;
  if(!stored || strncmp(stored, PREFIX, PREFIX_LEN) || strlen(stored) < HEAD_LEN ||
     stored[HEAD_LEN - 1] != ':')
    return MW_EINVAL;
  for(int i = 0; i < 8; i++) {
    char ch = stored[PREFIX_LEN + i];
    if(!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
      return MW_EINVAL;
    id[i] = ch;
  }
  id[8] = 0;
  return MW_OK;
}

/* The associated data of a value: "enc:v1:<key id>:<table.column>:<row>".
 * Caller frees. NULL when out of memory. */
static char *make_ad(const char *key_id, enum mw_secret_col col, const char *row) {
  const char *name = mw_secret_col_name(col);
  size_t n = HEAD_LEN + strlen(name) + 1 + strlen(row) + 1;
  char *ad = malloc(n);
  if(ad)
    snprintf(ad, n, PREFIX "%s:%s:%s", key_id, name, row);
  return ad;
}

/* One AES-256-GCM operation: enc 1 seals in into out and writes tag,
 * enc 0 opens in into out and checks tag. 1 on success. */
static int gcm(int enc, const unsigned char key[32], const unsigned char *nonce,
               const char *ad, const unsigned char *in, int n, unsigned char *out,
               unsigned char *tag) {
  EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
  int len = 0, ok = x != NULL;
  ok = ok && EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
  ok = ok && EVP_CipherInit_ex(x, NULL, NULL, key, nonce, enc) == 1;
  ok = ok && EVP_CipherUpdate(x, NULL, &len, (const unsigned char *)ad,
                              (int)strlen(ad)) == 1;
  ok = ok && EVP_CipherUpdate(x, out, &len, in, n) == 1;
  if(ok && !enc)
    ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
  /* Opening: the tag is checked here; a mismatch fails the final step. */
  ok = ok && EVP_CipherFinal_ex(x, out + len, &len) == 1;
  if(ok && enc)
    ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
  EVP_CIPHER_CTX_free(x);
  return ok;
}

mw_status mw_secret_seal(const mw_secret_key *k, enum mw_secret_col col,
                         const char *row, const char *plain, char **out) {
  assert(k && row && plain && out);
  *out = NULL;
  size_t n = strlen(plain);
  if(n > MW_SECRET_MAX_PLAIN)
    return MW_ETOOBIG;
  size_t raw_len = NONCE_LEN + n + TAG_LEN;
  unsigned char *raw = malloc(raw_len);
  char *text = malloc(HEAD_LEN + 4 * ((raw_len + 2) / 3) + 1);
  char *ad = make_ad(k->id, col, row);
  mw_status s = raw && text && ad ? MW_OK : MW_ENOMEM;
  /* A fresh random nonce per value: never one twice under a key (2^-32
   * odds of a repeat only after 2^32 values). */
  if(!s && mw_random_bytes(raw, NONCE_LEN))
    s = MW_EINTERNAL;
  if(!s && !gcm(1, k->bytes, raw, ad, (const unsigned char *)plain, (int)n,
                raw + NONCE_LEN, raw + NONCE_LEN + n))
    s = MW_EINTERNAL;
  if(!s) {
    snprintf(text, HEAD_LEN + 1, PREFIX "%s:", k->id);
    mw_base64_encode(raw, raw_len, text + HEAD_LEN);
    *out = text;
    text = NULL;
  }
  if(raw)
    OPENSSL_cleanse(raw, raw_len);
  free(raw);
  free(text);
  free(ad);
  return s;
}

/* Decodes the base64 part of stored into *raw (malloc'd) of *n bytes,
 * nonce and tag included. */
static mw_status decode_body(const char *stored, unsigned char **raw, size_t *n) {
  const char *b = stored + HEAD_LEN;
  size_t cap = strlen(b) / 4 * 3 + 3;
  *raw = malloc(cap);
  if(!*raw)
    return MW_ENOMEM;
  long got = mw_base64_decode(b, *raw, cap);
  if(got < NONCE_LEN + TAG_LEN) {
    free(*raw);
    *raw = NULL;
    return MW_EINVAL;
  }
  *n = (size_t)got;
  return MW_OK;
}

static mw_status open_fail(mw_status s, char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static mw_status open_fail(mw_status s, char *why, size_t cap, const char *fmt,
                           ...) {
  if(why && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return s;
}

mw_status mw_secret_open(const mw_secret_key *k, enum mw_secret_col col,
                         const char *row, const char *stored, char **out, char *why,
                         size_t cap) {
  assert(k && row && out);
  *out = NULL;
  char id[9];
  if(mw_secret_key_id_of(stored, id))
    return open_fail(MW_EINVAL, why, cap,
                     "the stored value is not encrypted (plain text, or not of "
                     "the form enc:v1:<key id>:<base64>)");
  if(strcmp(id, k->id))
    return open_fail(MW_ECONFLICT, why, cap,
                     "it is encrypted with key %s, and the key in use is %s", id,
                     k->id);
  unsigned char *raw = NULL;
  size_t n = 0;
  mw_status s = decode_body(stored, &raw, &n);
  if(s)
    return s == MW_EINVAL ? open_fail(s, why, cap,
                                      "the stored value is malformed (its "
                                      "base64 part is not a nonce, a "
                                      "ciphertext and a tag)")
                          : s;
  size_t plen = n - NONCE_LEN - TAG_LEN;
  char *plain = malloc(plen + 1);
  char *ad = make_ad(id, col, row);
  s = plain && ad ? MW_OK : MW_ENOMEM;
  if(!s && !gcm(0, k->bytes, raw, ad, raw + NONCE_LEN, (int)plen,
                (unsigned char *)plain, raw + NONCE_LEN + plen))
    s = open_fail(MW_ESECRET, why, cap,
                  "authentication failed: the stored value was altered, or "
                  "copied from another row or column (%s)",
                  mw_secret_col_name(col));
  free(ad);
  if(!s && memchr(plain, 0, plen))
    s = open_fail(MW_ESECRET, why, cap, "the decrypted value holds a NUL");
  OPENSSL_cleanse(raw, n);
  free(raw);
  if(s) {
    if(plain)
      OPENSSL_cleanse(plain, plen);
    free(plain);
    return s;
  }
  plain[plen] = 0;
  *out = plain;
  return MW_OK;
}

void mw_secret_free(char *plain) {
  if(!plain)
    return;
  OPENSSL_cleanse(plain, strlen(plain));
  free(plain);
}
