/* monitor/privacy.h - hashed columns (monitor/privacy.c).
 *
 * A feature with "privacy": "hash" stores, instead of its value, the hex
 * HMAC-SHA256 of the value's canonical text (monitor/schema.h:
 * mon__json_category) under a key of its own column:
 *
 *     column key = HMAC-SHA256(privacy key, "modelwatch/privacy/v1\0"
 *                              <model> "\0" <column>)
 *     stored     = hex(HMAC-SHA256(column key, value))
 *
 * The privacy key is 32 random bytes made once per database (the first
 * time a hashed value is written) and kept in privacy_key, sealed under
 * the secret key like every credential (core/secrets.h): a copied database
 * without the secret key cannot recompute hashes of guessed values, and
 * rotate-key re-encrypts the key without changing it, so the hashes (and
 * the drift of hashed columns) stay what they were. Per model and column,
 * the same value gives the same hash in every version of the model (drift
 * and comparisons work) and different hashes in another column or model
 * (they cannot be joined). Cost: two HMAC passes per value; the key is
 * read once per process.
 *
 * Every path that stores feature values must attach the keys and go
 * through mon__batch_parse, which hashes and drops: ingest and reference
 * rows today. The quarantine of invalid rows (?on_invalid=quarantine)
 * stores a row as sent except that it hashes and drops these columns
 * likewise (monitor/quarantine.c: row_values), and erasure
 * (monitor/erasure.c) deletes quarantined rows by id too. */
#ifndef MW_MONITOR_PRIVACY_H
#define MW_MONITOR_PRIVACY_H

#include "monitor/schema.h"

struct mon_ctx;

/* Gives every hashed column of s its key (v names the model); reads the
 * privacy key (m caches it; m may be NULL), creating it on first use in a
 * transaction of its own (so c must be outside a transaction when s has a
 * hashed column and no key exists yet). No-op without hashed columns. */
mw_status mon__privacy_attach(struct mon_ctx *m, mw_conn *c, const char *model,
                              mon_schema *s);
/* The stored text of value for hashed column col into hex[65].
 * MW_EINTERNAL when the column has no key attached (a bug). */
mw_status mon__privacy_hash(const mon_column *col, const char *value, char hex[65]);

#endif
