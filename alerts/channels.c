/* alerts/channels.c - notification channels: create (with the signing
 * secret shown once; an email channel's sender, recipients and login,
 * whose password is never shown), list, get, delete (refused while rules name the
 * channel, unless forced), a test notification, and queueing a
 * notification for a channel into the outbox, formatted for its type by
 * alerts/payloads.c.
 *
 * Every change is one transaction with its audit row, and every answer is
 * read inside it, before COMMIT: read after, a failed read would answer an
 * error for a change that was made. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "alerts/store.h"

/* What the callbacks of a channel read need: the connection (to decrypt
 * the URL), where the JSON goes, and the error of a failed decryption. */
struct read_ctx {
  mw_conn *c;
  cJSON *out; /* an object (get) or an array (list) */
  mw_err *err;
};

/* JSON of a channel (name, type, url, created_at; an email channel's to,
 * from and username), its URL decrypted; never the secret, never the
 * password. */
static mw_status channel_json(const struct read_ctx *x,
                              const struct alert__channel_row *ch, cJSON **out) {
  *out = NULL;
  char *url = NULL;
  mw_status s =
      mw_secret_get(x->c, MW_SECRET_CHANNEL_URL, ch->name, ch->url, &url, x->err);
  cJSON *o = s ? NULL : cJSON_CreateObject();
  if(!s && !o)
    s = MW_ENOMEM;
  if(!s) {
    cJSON_AddStringToObject(o, "name", ch->name);
    cJSON_AddStringToObject(o, "type", ch->type);
    cJSON_AddStringToObject(o, "url", url);
    cJSON *settings = ch->settings ? cJSON_Parse(ch->settings) : NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, settings) {
      if(it->string)
        cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
    }
    cJSON_Delete(settings);
    if(ch->username)
      cJSON_AddStringToObject(o, "username", ch->username);
    mw_json_add_time(o, "created_at", ch->created_at);
    *out = o;
  }
  mw_secret_free(url);
  return s;
}

static mw_status take_json(void *ctx, const struct alert__channel_row *ch) {
  struct read_ctx *x = ctx;
  return channel_json(x, ch, &x->out);
}

mw_status alert_channel_get(mw_conn *c, const char *name, cJSON **out, mw_err *err) {
  *out = NULL;
  struct read_ctx x = {c, NULL, err};
  mw_status s = alert__store(c)->channel_get(c, name, take_json, &x);
  if(s == MW_ENOTFOUND)
    return mw_errf(err, s, "no channel named '%s'", name);
  if(s)
    cJSON_Delete(x.out);
  else
    *out = x.out;
  return s;
}

static mw_status add_json(void *ctx, const struct alert__channel_row *ch) {
  struct read_ctx *x = ctx;
  cJSON *o = NULL;
  mw_status s = channel_json(x, ch, &o);
  if(!s && !cJSON_AddItemToArray(x->out, o)) {
    cJSON_Delete(o);
    s = MW_ENOMEM;
  }
  return s;
}

mw_status alert_channel_list(mw_conn *c, cJSON **out, mw_err *err) {
  *out = NULL;
  cJSON *root = cJSON_CreateObject();
  struct read_ctx x = {c, cJSON_AddArrayToObject(root, "channels"), err};
  mw_status s = x.out ? alert__store(c)->channel_list(c, add_json, &x) : MW_ENOMEM;
  if(s) {
    cJSON_Delete(root);
    return s;
  }
  *out = root;
  return MW_OK;
}

/* Inserts channel ch with its URL, signing secret and (email) password
 * encrypted (core/secrets.h). */
static mw_status insert_sealed(mw_conn *c, const struct alert__channel_new *ch) {
  char *u = NULL, *sec = NULL, *pw = NULL;
  mw_status s = mw_secret_put(c, MW_SECRET_CHANNEL_URL, ch->name, ch->url, &u);
  if(!s)
    s = mw_secret_put(c, MW_SECRET_CHANNEL_SECRET, ch->name, ch->secret, &sec);
  if(!s && ch->password)
    s = mw_secret_put(c, MW_SECRET_CHANNEL_PASSWORD, ch->name, ch->password, &pw);
  struct alert__channel_new sealed = *ch;
  sealed.url = u;
  sealed.secret = sec;
  sealed.password = pw;
  if(!s)
    s = alert__store(c)->channel_insert(c, &sealed);
  free(u);
  free(sec);
  if(pw) {
    OPENSSL_cleanse(pw, strlen(pw));
    free(pw);
  }
  return s;
}

/* Recipients an email channel may have at most. */
#define EMAIL_MAX_TO 20

/* An email channel's {to, from} as settings JSON text (*settings, freed
 * with cJSON_free), checked: 1-EMAIL_MAX_TO distinct recipients and a
 * sender, each an address alert__email_address_valid takes. */
static mw_status email_settings(const cJSON *body, char **settings, mw_err *err) {
  const cJSON *to = cJSON_GetObjectItemCaseSensitive(body, "to");
  const char *from = mw_json_str(body, "from");
  int n = cJSON_GetArraySize(to);
  if(!cJSON_IsArray(to) || n < 1 || n > EMAIL_MAX_TO)
    return mw_errf(err, MW_EVALIDATION,
                   "to must be an array of 1-%d email addresses", EMAIL_MAX_TO);
  for(int i = 0; i < n; i++) {
    const cJSON *a = cJSON_GetArrayItem(to, i);
    if(!cJSON_IsString(a) || !alert__email_address_valid(a->valuestring))
      return mw_errf(err, MW_EVALIDATION,
                     "to[%d] must be an email address (local@domain, ASCII)", i);
    for(int k = 0; k < i; k++)
      if(!strcmp(cJSON_GetArrayItem(to, k)->valuestring, a->valuestring))
        return mw_errf(err, MW_EVALIDATION, "to[%d] repeats to[%d]", i, k);
  }
  if(!alert__email_address_valid(from))
    return mw_errf(err, MW_EVALIDATION,
                   "from must be an email address (local@domain, ASCII)");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "to", cJSON_Duplicate(to, 1));
  cJSON_AddStringToObject(o, "from", from);
  *settings = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return *settings ? MW_OK : MW_ENOMEM;
}

/* An email channel's login: username and password both or neither;
 * printable, no line breaks (they go into SMTP commands). */
static mw_status email_login(const cJSON *body, const char **user, const char **pass,
                             mw_err *err) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(body, "username");
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");
  *user = *pass = NULL;
  if((!u || cJSON_IsNull(u)) && (!p || cJSON_IsNull(p)))
    return MW_OK;
  if(!cJSON_IsString(u) || !cJSON_IsString(p))
    return mw_errf(err, MW_EVALIDATION,
                   "username and password are strings, given both or neither");
  const char *v[2] = {u->valuestring, p->valuestring};
  for(int i = 0; i < 2; i++) {
    size_t len = strlen(v[i]);
    int ok = len >= 1 && len <= 512;
    for(size_t k = 0; ok && k < len; k++)
      ok = (unsigned char)v[i][k] >= 0x20 && v[i][k] != 0x7f;
    if(!ok)
      return mw_errf(err, MW_EVALIDATION,
                     "%s must be 1-512 bytes without control characters",
                     i ? "password" : "username");
  }
  *user = v[0];
  *pass = v[1];
  return MW_OK;
}

/* What a channel of the body's type needs beyond name and url: an email
 * channel's settings and login; any other type takes none of them. */
static mw_status type_fields(const cJSON *body, const char *type,
                             struct alert__channel_new *ch, char **settings,
                             mw_err *err) {
  static const char *const email_only[] = {"to", "from", "username", "password"};
  if(!strcmp(type, "email")) {
    mw_status s = email_settings(body, settings, err);
    if(!s)
      s = email_login(body, &ch->username, &ch->password, err);
    ch->settings = *settings;
    return s;
  }
  for(size_t i = 0; i < sizeof email_only / sizeof email_only[0]; i++)
    if(cJSON_GetObjectItemCaseSensitive(body, email_only[i]))
      return mw_errf(err, MW_EVALIDATION, "%s is only for channels of type email",
                     email_only[i]);
  return MW_OK;
}

mw_status alert_channel_create(mw_conn *c, const cJSON *body, int allow_private,
                               const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  struct alert__channel_new ch = {.name = mw_json_str(body, "name"),
                                  .type = mw_json_str(body, "type"),
                                  .url = mw_json_str(body, "url")};
  const char *name = ch.name, *type = ch.type;
  if(!mw_name_valid(name))
    return mw_errf(err, MW_EVALIDATION,
                   "name must be 1-128 characters of A-Z a-z 0-9 . _ - and not "
                   "start with '.'");
  if(!alert_channel_type_valid(type))
    return mw_errf(err, MW_EVALIDATION, "type must be one of " ALERT_CHANNEL_TYPES);
  int email = !strcmp(type, "email");
  mw_status s = email ? mw_url_check_smtp_target(ch.url, allow_private, err)
                      : mw_url_check_target(ch.url, allow_private, err);
  char *settings = NULL;
  if(!s)
    s = type_fields(body, type, &ch, &settings, err);
  /* Every channel has a signing secret; mail is not signed, so an email
   * channel's is never shown. */
  char secret[48];
  if(!s && mw_webhook_secret_new(secret))
    s = MW_EINTERNAL;
  ch.secret = secret;
  ch.created_at = mw_now_ms();
  if(!s)
    s = mw_tx_begin(c);
  if(!s) {
    s = insert_sealed(c, &ch);
    if(s == MW_ECONFLICT)
      mw_errf(err, s, "a channel named '%s' already exists", name);
  }
  if(!s) {
    cJSON *det = cJSON_CreateObject();
    cJSON_AddStringToObject(det, "type", type);
    s = mw_audit(c, actor, "channel.create", name, det);
    cJSON_Delete(det);
  }
  if(!s)
    s = alert_channel_get(c, name, out, err);
  if(!s && !email && !cJSON_AddStringToObject(*out, "secret", secret))
    s = MW_ENOMEM;
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
  OPENSSL_cleanse(secret, sizeof secret);
  cJSON_free(settings);
  return s;
}

static mw_status exists(void *ctx, const struct alert__channel_row *ch) {
  (void)ctx, (void)ch;
  return MW_OK;
}

/* Rule names listed in a conflict's details; the count says how many. */
#define DELETE_CONFLICT_NAMES 20

/* The rules naming a channel: every name when forced (they are reported
 * as detached), else the first DELETE_CONFLICT_NAMES; n counts all. */
struct naming {
  cJSON *names;
  int64_t n;
  int force;
};

static mw_status add_naming(void *ctx, int64_t rule_id, const char *rule) {
  (void)rule_id;
  struct naming *x = ctx;
  x->n++;
  if(!x->force && x->n > DELETE_CONFLICT_NAMES)
    return MW_OK;
  cJSON *s = cJSON_CreateString(rule);
  if(!s || !cJSON_AddItemToArray(x->names, s)) {
    cJSON_Delete(s);
    return MW_ENOMEM;
  }
  return MW_OK;
}

/* The refusal of an unforced delete: 409 naming the rules. */
static mw_status refuse_delete(const char *name, struct naming *x, mw_err *err) {
  mw_status s = mw_errf(err, MW_ECONFLICT,
                        "channel '%s' is used by %lld alert rule(s); delete them "
                        "first, or delete with ?force=true to remove the channel "
                        "from them",
                        name, (long long)x->n);
  cJSON *det = cJSON_CreateObject();
  if(det) {
    cJSON_AddItemToObject(det, "rules", x->names);
    x->names = NULL;
    cJSON_AddNumberToObject(det, "rule_count", (double)x->n);
    if(err) {
      cJSON_Delete(err->details);
      err->details = det;
    } else {
      cJSON_Delete(det);
    }
  }
  return s;
}

mw_status alert_channel_delete(mw_conn *c, const char *name, int force,
                               const char *actor, cJSON **detached, mw_err *err) {
  if(detached)
    *detached = NULL;
  const struct alert__store *st = alert__store(c);
  struct naming x = {cJSON_CreateArray(), 0, force};
  if(!x.names)
    return MW_ENOMEM;
  /* One transaction: a rule created meanwhile checks its channels inside
   * its own, so it either sees this channel gone or is seen here. */
  mw_status s = mw_tx_begin(c);
  if(!s) {
    s = st->channel_get(c, name, exists, NULL);
    if(s == MW_ENOTFOUND)
      mw_errf(err, s, "no channel named '%s'", name);
  }
  if(!s)
    s = st->channel_rules(c, name, add_naming, &x);
  if(!s && x.n && !force)
    s = refuse_delete(name, &x, err);
  if(!s && x.n)
    s = st->channel_detach(c, name);
  if(!s)
    s = st->channel_delete(c, name);
  cJSON *det = NULL;
  if(!s && x.n) {
    det = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(det, "detached_from_rules", x.names);
  }
  if(!s)
    s = mw_audit(c, actor, "channel.delete", name, det);
  cJSON_Delete(det);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(!s && detached) {
    *detached = x.names;
    x.names = NULL;
  }
  cJSON_Delete(x.names);
  return s;
}

mw_status alert_channel_enqueue(mw_conn *c, const char *channel,
                                const struct alert_group_notice *g, int64_t *out_id,
                                mw_err *err) {
  return alert__channel_enqueue_kind(c, channel, "alert", g, out_id, err);
}

/* A channel's type, where its URL points (scheme, host and port) and its
 * settings (copied). */
struct target {
  mw_conn *c;
  char type[16];
  char shown[1100];
  char *settings; /* NULL: none */
};

static mw_status take_target(void *ctx, const struct alert__channel_row *ch) {
  struct target *t = ctx;
  mw_strlcpy(t->type, ch->type, sizeof t->type);
  if(ch->settings && !(t->settings = strdup(ch->settings)))
    return MW_ENOMEM;
  return mw_secret_url_shown(t->c, MW_SECRET_CHANNEL_URL, ch->name, ch->url,
                             t->shown, sizeof t->shown);
}

mw_status alert__channel_post_url(const char *type, const char *url, char **out) {
  *out = NULL;
  if(strcmp(type, "alertmanager"))
    return (*out = strdup(url)) ? MW_OK : MW_ENOMEM;
  /* An Alertmanager channel names the server; alerts go to its API. */
  size_t n = strlen(url);
  while(n && url[n - 1] == '/')
    n--;
  size_t cap = n + sizeof "/api/v2/alerts";
  if(!(*out = malloc(cap)))
    return MW_ENOMEM;
  snprintf(*out, cap, "%.*s/api/v2/alerts", (int)n, url);
  return MW_OK;
}

/* An email's payload takes the channel's sender and recipients as they
 * are when it is queued, as a webhook takes the URL. */
static mw_status add_envelope(cJSON *payload, const char *settings) {
  cJSON *set = settings ? cJSON_Parse(settings) : NULL;
  const char *from = mw_json_str(set, "from");
  cJSON *to = cJSON_DetachItemFromObjectCaseSensitive(set, "to");
  mw_status s = from && cJSON_IsArray(to) ? MW_OK : MW_EINTERNAL;
  if(!s && (!cJSON_AddStringToObject(payload, "from", from) ||
            !cJSON_AddItemToObject(payload, "to", to)))
    s = MW_ENOMEM;
  if(s)
    cJSON_Delete(to);
  cJSON_Delete(set);
  return s;
}

mw_status alert__channel_enqueue_kind(mw_conn *c, const char *channel,
                                      const char *kind,
                                      const struct alert_group_notice *g,
                                      int64_t *out_id, mw_err *err) {
  assert(mw_tx_state(c) == 1); /* sent if and only if the caller commits */
  struct target t = {c, "", "", NULL};
  mw_status s = alert__store(c)->channel_get(c, channel, take_target, &t);
  if(s == MW_ENOTFOUND)
    mw_errf(err, s, "no channel named '%s'", channel);
  cJSON *payload = NULL;
  if(!s && (s = alert_payload_build(t.type, channel, g, &payload)) != MW_OK)
    mw_errf(err, s, "cannot format the notification for channel '%s'", channel);
  if(!s && !strcmp(t.type, "email") &&
     (s = add_envelope(payload, t.settings)) != MW_OK)
    mw_errf(err, s, "channel '%s' has no sender or recipients", channel);
  /* The outbox keeps where it goes (scheme and host); the delivery worker
   * reads the URL from the channel when it sends (alert__channel_post_url). */
  if(!s)
    s = mw_outbox_enqueue(c, kind, "channel", channel, t.shown, payload, out_id);
  cJSON_Delete(payload);
  free(t.settings);
  return s;
}

/* The test notice: one firing alert with example facts. */
static void test_notice(cJSON *labels, cJSON *ann, struct alert_notice *a) {
  cJSON_AddStringToObject(labels, "alertname", "modelwatch-test");
  cJSON_AddStringToObject(labels, "severity", "info");
  cJSON_AddStringToObject(
      ann, "summary", "A test notification from modelwatch: this channel works.");
  memset(a, 0, sizeof *a);
  a->status = "firing";
  a->labels = labels;
  a->annotations = ann;
  a->starts_at_ms = mw_now_ms();
  a->rule = "modelwatch-test";
  a->model = "example-model";
  a->version = 1;
  a->metric = "dataset_drift_share";
  a->op = ">";
  a->value = 0.5;
  a->threshold = 0.3;
  a->state = "firing";
}

/* {delivery_id, webhook_id} of outbox row id, as the delivery list has it. */
static mw_status test_answer(mw_conn *c, int64_t id, cJSON **out) {
  cJSON *page = NULL;
  mw_status s = mw_outbox_list(c, NULL, 1, id + 1, &page);
  const cJSON *d =
      cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(page, "deliveries"), 0);
  const char *msg_id = mw_json_str(d, "webhook_id");
  if(!s && !msg_id)
    s = MW_EINTERNAL; /* the row queued a moment ago is not there */
  if(!s) {
    *out = cJSON_CreateObject();
    if(!*out || !cJSON_AddNumberToObject(*out, "delivery_id", (double)id) ||
       !cJSON_AddStringToObject(*out, "webhook_id", msg_id))
      s = MW_ENOMEM;
  }
  cJSON_Delete(page);
  return s;
}

mw_status alert_channel_test(mw_conn *c, const char *name, const char *external_url,
                             const char *actor, cJSON **out, mw_err *err) {
  *out = NULL;
  cJSON *labels = cJSON_CreateObject();
  cJSON *ann = cJSON_CreateObject();
  mw_status s = labels && ann ? MW_OK : MW_ENOMEM;
  struct alert_notice a;
  struct alert_group_notice g;
  memset(&g, 0, sizeof g);
  if(!s) {
    test_notice(labels, ann, &a);
    g.external_url = external_url;
    g.alerts = &a;
    g.nalerts = 1;
  }
  int64_t id = 0;
  if(!s)
    s = mw_tx_begin(c);
  if(!s)
    s = alert__channel_enqueue_kind(c, name, "alert.test", &g, &id, err);
  if(!s)
    s = mw_audit(c, actor, "channel.test", name, NULL);
  if(!s)
    s = test_answer(c, id, out);
  if(!s)
    s = mw_tx_commit(c);
  mw_tx_rollback(c);
  if(s) {
    cJSON_Delete(*out);
    *out = NULL;
  }
  cJSON_Delete(labels);
  cJSON_Delete(ann);
  return s;
}
