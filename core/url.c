/* core/url.c - URLs of webhook targets (channels, serving nodes) and of
 * mail servers (email channels): which are acceptable, which addresses a
 * webhook or a mail may reach, and the redacted form shown below admin.
 *
 * One definition of "forbidden": mw_addr_classify is both the delivery
 * worker's connect-time check (alerts/delivery.c judges every address curl
 * is about to connect to, after DNS) and, through mw_url_check_target, the
 * check at creation of a URL whose host is an IP literal. */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

/* ------------------------------------------------------------ addresses */

static enum mw_addr_class v4_class(uint32_t a, const char **why) {
  /* Metadata services first: some sit inside ranges that are otherwise
   * only "private". */
  if(a == 0xA9FEA9FEu /* 169.254.169.254 */ ||
     a == 0x646464C8u /* 100.100.100.200, Alibaba */ ||
     a == 0xA83F8110u /* 168.63.129.16, Azure */) {
    *why = "a cloud metadata address";
    return MW_ADDR_FORBIDDEN;
  }
  if((a >> 16) == 0xA9FEu) {
    *why = "link-local (169.254.0.0/16)";
    return MW_ADDR_FORBIDDEN;
  }
  if((a >> 24) == 0) {
    *why = "unspecified (0.0.0.0/8)";
    return MW_ADDR_FORBIDDEN;
  }
  if((a >> 28) >= 0xE) {
    *why = "multicast, reserved or broadcast (224.0.0.0/3)";
    return MW_ADDR_FORBIDDEN;
  }
  if((a >> 24) == 127) {
    *why = "loopback (127.0.0.0/8)";
    return MW_ADDR_PRIVATE;
  }
  if((a >> 24) == 10 || (a >> 20) == 0xAC1u || (a >> 16) == 0xC0A8u) {
    *why = "private (RFC 1918)";
    return MW_ADDR_PRIVATE;
  }
  if((a >> 22) == (0x64400000u >> 22)) {
    *why = "shared address space (100.64.0.0/10)";
    return MW_ADDR_PRIVATE;
  }
  if((a >> 17) == (0xC6120000u >> 17)) {
    *why = "benchmarking (198.18.0.0/15)";
    return MW_ADDR_PRIVATE;
  }
  *why = "public";
  return MW_ADDR_PUBLIC;
}

static enum mw_addr_class v6_class(const unsigned char b[16], const char **why) {
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0,
                                          0, 0,    0,    0,    0, 0};
  static const unsigned char zero[15] = {0};
  uint32_t v4 =
      (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
  /* An IPv4 address dressed as IPv6 reaches the IPv4 host: judge that. */
  if(!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12))
    return v4_class(v4, why);
  if(!memcmp(b, zero, 15) && b[15] == 1) {
    *why = "loopback (::1)";
    return MW_ADDR_PRIVATE;
  }
  if(!memcmp(b, zero, 12)) {
    *why = "unspecified or IPv4-compatible (::/96)";
    return MW_ADDR_FORBIDDEN;
  }
  if(b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    *why = "link-local (fe80::/10)";
    return MW_ADDR_FORBIDDEN;
  }
  if(b[0] == 0xff) {
    *why = "multicast (ff00::/8)";
    return MW_ADDR_FORBIDDEN;
  }
  /* fd00:ec2::254, the AWS metadata service over IPv6. */
  static const unsigned char aws[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0,    0,
                                        0,    0, 0,    0,    0, 0, 0x02, 0x54};
  if(!memcmp(b, aws, 16)) {
    *why = "a cloud metadata address";
    return MW_ADDR_FORBIDDEN;
  }
  if((b[0] & 0xfe) == 0xfc) {
    *why = "unique local (fc00::/7)";
    return MW_ADDR_PRIVATE;
  }
  if(b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) {
    *why = "site-local (fec0::/10)";
    return MW_ADDR_PRIVATE;
  }
  *why = "public";
  return MW_ADDR_PUBLIC;
}

enum mw_addr_class mw_addr_classify(const struct sockaddr *sa, socklen_t len,
                                    const char **why) {
  const char *dummy;
  if(!why)
    why = &dummy;
  if(sa && sa->sa_family == AF_INET &&
     len >= (socklen_t)sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return v4_class(ntohl(in->sin_addr.s_addr), why);
  }
  if(!sa || sa->sa_family != AF_INET6 ||
     len < (socklen_t)sizeof(struct sockaddr_in6)) {
    *why = "not an IP address";
    return MW_ADDR_FORBIDDEN;
  }
  return v6_class(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, why);
}

/* ----------------------------------------------------------------- URLs */

int mw_url_valid(const char *url) {
  size_t n = url ? strlen(url) : 0;
  if(n < 8 || n > 1000)
    return 0;
  if(strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
    return 0;
  for(const char *p = url; *p; p++)
    if((unsigned char)*p <= 0x20 || *p == 0x7f)
      return 0;
  return 1;
}

/* The pieces of "scheme://[userinfo@]host[:port][/path][?query][#frag]",
 * as offsets into the URL. */
struct url_parts {
  size_t scheme_len;     /* "https" */
  size_t auth, auth_end; /* the authority: after "://", up to / ? # or \ */
  size_t host, host_end; /* inside the authority, brackets included */
  size_t port, port_end; /* digits after ':' (port == port_end: none) */
  int ats;               /* '@' in the authority */
};

/* Splits url; 0 when it has no "scheme://" with a letter-led scheme. The
 * userinfo is everything before the last '@' of the authority (what a
 * browser takes; a URL with two is refused at creation anyway). */
static int url_split(const char *url, struct url_parts *p) {
  memset(p, 0, sizeof *p);
  const char *sep = strstr(url, "://");
  if(!sep || sep == url ||
     !((*url >= 'a' && *url <= 'z') || (*url >= 'A' && *url <= 'Z')))
    return 0;
  for(const char *s = url; s < sep; s++)
    if(!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
         (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || *s == '.'))
      return 0;
  p->scheme_len = (size_t)(sep - url);
  p->auth = p->scheme_len + 3;
  p->auth_end = p->auth + strcspn(url + p->auth, "/?#\\");
  p->host = p->auth;
  for(size_t i = p->auth; i < p->auth_end; i++)
    if(url[i] == '@') {
      p->ats++;
      p->host = i + 1;
    }
  p->host_end = p->auth_end;
  if(url[p->host] == '[') {
    const char *close = memchr(url + p->host, ']', p->auth_end - p->host);
    if(close)
      p->host_end = (size_t)(close - url) + 1;
  } else {
    const char *colon = memchr(url + p->host, ':', p->auth_end - p->host);
    if(colon)
      p->host_end = (size_t)(colon - url);
  }
  p->port = p->port_end = p->host_end;
  if(p->host_end < p->auth_end && url[p->host_end] == ':') {
    p->port = p->host_end + 1;
    p->port_end = p->auth_end;
  }
  return 1;
}

const char *mw_url_redact(const char *url, char *out, size_t cap) {
  assert(out && cap > 0);
  out[0] = '\0';
  struct url_parts p;
  if(!url || !url_split(url, &p) || p.host == p.host_end)
    return out;
  /* The port only when it is one (digits): whatever else sits there is
   * not shown. */
  int port = p.port < p.port_end && p.port_end - p.port <= 5;
  for(size_t i = p.port; port && i < p.port_end; i++)
    port = url[i] >= '0' && url[i] <= '9';
  int n = snprintf(out, cap, "%.*s://%.*s%s%.*s", (int)p.scheme_len, url,
                   (int)(p.host_end - p.host), url + p.host, port ? ":" : "",
                   port ? (int)(p.port_end - p.port) : 0, url + p.port);
  if(n < 0 || (size_t)n >= cap)
    out[0] = '\0'; /* never a cut host, which could mislead */
  return out;
}

void mw_json_redact_url(cJSON *obj, const char *key) {
  cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if(!cJSON_IsString(it) || !it->valuestring)
    return;
  char red[1100];
  mw_url_redact(it->valuestring, red, sizeof red);
  /* Never longer than the URL it comes from, so this copies in place and
   * cannot fail half-way, leaving the secret parts. */
  assert(strlen(red) <= strlen(it->valuestring));
  cJSON_SetValuestring(it, red);
}

static int hexval(char c) {
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Characters of a registered name (RFC 3986 reg-name, percent-escapes
 * decoded before this check). */
static int name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
         c >= 0x80;
}

/* The authority of a split URL: one '@' at most, no backslash, and only
 * ":<1-65535>" after the host. */
static mw_status check_authority(const char *url, const struct url_parts *p,
                                 mw_err *err) {
  if(url[p->auth_end] == '\\')
    return mw_errf(err, MW_EVALIDATION,
                   "url has a backslash in its authority (host part)");
  if(p->ats > 1)
    return mw_errf(err, MW_EVALIDATION,
                   "url has more than one '@' in its authority: percent-encode the "
                   "user name and password");
  if(p->port < p->port_end || p->host_end < p->auth_end) {
    /* Only ":digits" may follow the host. */
    int64_t port = 0;
    size_t i = p->host_end;
    int ok = url[i] == ':' && p->port < p->port_end && p->port_end - p->port <= 5;
    for(i = p->port; ok && i < p->port_end; i++) {
      ok = url[i] >= '0' && url[i] <= '9';
      port = port * 10 + (url[i] - '0');
    }
    if(!ok || port < 1 || port > 65535)
      return mw_errf(err, MW_EVALIDATION,
                     "url has a bad port (1-65535 after the host)");
  }
  return MW_OK;
}

/* The host as curl reads it: an IPv6 literal (zone ignored) or a name or
 * IPv4 literal with percent-escapes decoded. A literal address goes to
 * addr with *family AF_INET/AF_INET6; a name leaves *family 0. */
static mw_status host_address(const char *url, const struct url_parts *p,
                              unsigned char addr[16], int *family, mw_err *err) {
  char host[256];
  size_t hl = p->host_end - p->host;
  *family = 0;
  if(hl == 0)
    return mw_errf(err, MW_EVALIDATION, "url has no host");
  if(hl >= sizeof host)
    return mw_errf(err, MW_EVALIDATION, "url's host is longer than 255 bytes");
  if(url[p->host] == '[') {
    /* An IPv6 literal, perhaps with a zone ("%25eth0"), which does not
     * change which address it is. */
    if(url[p->host_end - 1] != ']' || hl < 3)
      return mw_errf(err, MW_EVALIDATION, "url has an unterminated IPv6 literal");
    size_t inner = hl - 2;
    const char *zone = memchr(url + p->host + 1, '%', inner);
    if(zone)
      inner = (size_t)(zone - (url + p->host + 1));
    memcpy(host, url + p->host + 1, inner);
    host[inner] = '\0';
    if(inet_pton(AF_INET6, host, addr) != 1)
      return mw_errf(err, MW_EVALIDATION, "url's host [%s] is not an IPv6 address",
                     host);
    *family = AF_INET6;
    return MW_OK;
  }
  /* A name or an IPv4 literal; curl decodes percent-escapes in it. */
  size_t k = 0;
  for(size_t i = p->host; i < p->host_end; i++) {
    char c = url[i];
    if(c == '%') {
      int hi = i + 2 < p->host_end ? hexval(url[i + 1]) : -1;
      int lo = hi >= 0 ? hexval(url[i + 2]) : -1;
      if(lo < 0)
        return mw_errf(err, MW_EVALIDATION, "url's host has a bad percent-escape");
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if(!name_char((unsigned char)c))
      return mw_errf(err, MW_EVALIDATION,
                     "url's host may hold only letters, digits, '-', '.', '_' "
                     "and '~'");
    host[k++] = c;
  }
  host[k] = '\0';
  /* As curl (and the resolver) read a host of numbers: inet_aton's forms,
   * "127.1", "0x7f.0.0.1", "017700000001", "2130706433". One trailing dot
   * is the same host. */
  if(k > 1 && host[k - 1] == '.')
    host[k - 1] = '\0';
  struct in_addr in4;
  if(inet_aton(host, &in4)) {
    memcpy(addr, &in4, 4);
    *family = AF_INET;
  }
  return MW_OK;
}

/* The egress policy on a split URL's host, when it is an IP literal; a
 * name passes (it is judged where it resolves, at connect time). */
static mw_status check_host_policy(const char *url, const struct url_parts *p,
                                   int allow_private, mw_err *err) {
  unsigned char addr[16];
  int family = 0;
  mw_status s = host_address(url, p, addr, &family, err);
  if(s || !family)
    return s;
  const char *why = "";
  enum mw_addr_class cls;
  char shown[INET6_ADDRSTRLEN] = "?";
  if(family == AF_INET) {
    uint32_t a;
    memcpy(&a, addr, 4);
    cls = v4_class(ntohl(a), &why);
  } else {
    cls = v6_class(addr, &why);
  }
  inet_ntop(family, addr, shown, sizeof shown);
  if(cls == MW_ADDR_FORBIDDEN)
    return mw_errf(err, MW_EVALIDATION,
                   "url's host is %s, %s: webhooks may not go there", shown, why);
  if(cls == MW_ADDR_PRIVATE && !allow_private)
    return mw_errf(err, MW_EVALIDATION,
                   "url's host is %s, %s: allowed only when the server runs with "
                   "--allow-private-webhooks",
                   shown, why);
  return MW_OK;
}

mw_status mw_url_check_target(const char *url, int allow_private, mw_err *err) {
  if(!mw_url_valid(url))
    return mw_errf(err, MW_EVALIDATION,
                   "url must be an http:// or https:// URL of at most 1000 bytes");
  struct url_parts p;
  if(!url_split(url, &p))
    return mw_errf(err, MW_EVALIDATION, "url is not a URL");
  mw_status s = check_authority(url, &p, err);
  return s ? s : check_host_policy(url, &p, allow_private, err);
}

int mw_url_valid_smtp(const char *url) {
  size_t n = url ? strlen(url) : 0;
  if(n < 8 || n > 1000)
    return 0;
  if(strncmp(url, "smtp://", 7) && strncmp(url, "smtps://", 8))
    return 0;
  for(const char *p = url; *p; p++)
    if((unsigned char)*p <= 0x20 || *p == 0x7f)
      return 0;
  return 1;
}

mw_status mw_url_check_smtp_target(const char *url, int allow_private, mw_err *err) {
  if(!mw_url_valid_smtp(url))
    return mw_errf(err, MW_EVALIDATION,
                   "url must be an smtp:// or smtps:// URL of at most 1000 bytes");
  struct url_parts p;
  if(!url_split(url, &p))
    return mw_errf(err, MW_EVALIDATION, "url is not a URL");
  if(p.ats)
    return mw_errf(err, MW_EVALIDATION,
                   "url may not hold a user name or password: give them as "
                   "username and password");
  /* Nothing after the host and port: curl would take a path for the name
   * it greets the server with, and a query or fragment means nothing. */
  if(url[p.auth_end] && strcmp(url + p.auth_end, "/"))
    return mw_errf(err, MW_EVALIDATION,
                   "url must be smtp://host[:port] or smtps://host[:port], "
                   "without a path, query or fragment");
  mw_status s = check_authority(url, &p, err);
  return s ? s : check_host_policy(url, &p, allow_private, err);
}
