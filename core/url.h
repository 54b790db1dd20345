/* core/url.h - webhook and mail targets: where a webhook or a mail may
 * connect (the egress address policy), which URLs a channel or node may
 * have, and how they are shown below admin (core/url.c). */
#ifndef MW_CORE_URL_H
#define MW_CORE_URL_H

#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "core/status.h"

/* What an address is to the egress policy. */
enum mw_addr_class {
  MW_ADDR_PUBLIC,   /* always allowed */
  MW_ADDR_PRIVATE,  /* loopback, RFC 1918, CGNAT, ULA: with
                       --allow-private-webhooks */
  MW_ADDR_FORBIDDEN /* link-local, cloud metadata, unspecified, multicast,
                       broadcast: never */
};

/* Classifies a socket address (IPv4-mapped and NAT64 IPv6 as the IPv4
 * address they reach); *why (may be NULL) receives a static description
 * such as "link-local (169.254.0.0/16)". Unknown families and truncated
 * addresses are forbidden. */
enum mw_addr_class mw_addr_classify(const struct sockaddr *sa, socklen_t len,
                                    const char **why);
/* 1 when url is an http:// or https:// URL of 8..1000 bytes without
 * spaces or control characters (webhook and node targets). */
int mw_url_valid(const char *url);
/* Checks the URL of a webhook target (channel, node) at creation:
 * mw_url_valid, one host (no second '@' or backslash in the authority),
 * a port of 1-65535 when one is given, and - when the host is an IP
 * literal as curl reads it (IPv4 in any form inet_aton takes: "127.1",
 * "0x7f.0.0.1", "2130706433"; a bracketed IPv6 address, zone ignored) -
 * an address the egress policy lets through: never MW_ADDR_FORBIDDEN,
 * MW_ADDR_PRIVATE only with allow_private. A host name passes: what it
 * resolves to is checked when the webhook connects. MW_EVALIDATION with
 * err saying why otherwise. */
mw_status mw_url_check_target(const char *url, int allow_private, mw_err *err);
/* 1 when url is an smtp:// or smtps:// URL of 8..1000 bytes without
 * spaces or control characters (email channels). */
int mw_url_valid_smtp(const char *url);
/* Checks the URL of an email channel's mail server at creation:
 * mw_url_valid_smtp, no userinfo (credentials are given apart, as
 * secrets), nothing after "host[:port]" but an optional "/", a port of
 * 1-65535 when one is given, and the egress policy on a host that is an IP
 * literal, as mw_url_check_target (a host name is checked where it
 * resolves, when the mail is sent). MW_EVALIDATION with err saying why
 * otherwise. */
mw_status mw_url_check_smtp_target(const char *url, int allow_private, mw_err *err);
/* Writes url's scheme, host and port ("https://hooks.example.com:8443")
 * into out (cap bytes, cap > 0): no userinfo, path, query or fragment.
 * "" when url has no "scheme://host" or the result does not fit. Returns
 * out. */
const char *mw_url_redact(const char *url, char *out, size_t cap);
/* Replaces the string obj[key] in place by its mw_url_redact form; does
 * nothing when obj[key] is absent or not a string. */
void mw_json_redact_url(cJSON *obj, const char *key);

#endif
