/* alerts/email.c - the mail an email channel sends, as pure functions
 * (alerts/delivery.c hands the result to libcurl's SMTP):
 *   - which addresses a channel may name (alert__email_address_valid);
 *   - the message itself (alert__email_compose): RFC 5322 headers (From,
 *     To, Subject, Date, Message-ID, MIME-Version, Content-Type text/plain
 *     with charset utf-8) and the body in quoted-printable, so that any
 *     mail server takes it (7-bit, short lines) whatever the text holds.
 *
 * The outbox holds what an email channel's payload builder wrote ({from,
 * to, subject, text}, JSON like every other payload); the message is
 * composed at each attempt, with the outbox row's message id as its
 * Message-ID, so a retried mail is recognisably the same mail.
 *
 * Header injection: the subject is user text (rule names, labels); every
 * control character in it becomes a space and non-ASCII text is sent as
 * RFC 2047 encoded words. Addresses are checked at channel creation and
 * again here. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alerts/internal.h"

/* ---------------------------------------------------------- addresses */

static int atext(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

/* A domain of dot-separated labels of letters, digits and '-' (not at a
 * label's ends), each 1-63 bytes. */
static int domain_valid(const char *d) {
  size_t label = 0;
  char prev = '.';
  for(const char *p = d; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if(c == '.') {
      if(!label || prev == '-')
        return 0;
      label = 0;
    } else if((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-') {
      if(c == '-' && !label)
        return 0;
      if(++label > 63)
        return 0;
    } else {
      return 0;
    }
    prev = (char)c;
  }
  return label > 0 && prev != '-';
}

int alert__email_address_valid(const char *addr) {
  size_t n = addr ? strlen(addr) : 0;
  if(n < 3 || n > 254)
    return 0;
  const char *at = strchr(addr, '@');
  if(!at || strchr(at + 1, '@'))
    return 0;
  size_t local = (size_t)(at - addr);
  if(local < 1 || local > 64 || addr[0] == '.' || at[-1] == '.')
    return 0;
  for(size_t i = 0; i < local; i++) {
    if(addr[i] == '.' && addr[i + 1] == '.')
      return 0;
    if(addr[i] != '.' && !atext((unsigned char)addr[i]))
      return 0;
  }
  return domain_valid(at + 1);
}

/* ------------------------------------------------------------ headers */

/* "Thu, 05 Mar 2026 10:00:00 +0000" (RFC 5322 section 3.3), in UTC. */
static void rfc5322_date(int64_t ms, char *out, size_t cap) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
           tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
           tm.tm_sec);
}

/* Bytes of the UTF-8 sequence that starts with lead byte c (1 for a byte
 * that starts none: the text was cleaned, so this does not happen). */
static size_t seq_len(unsigned char c) {
  if(c >= 0xf0)
    return 4;
  if(c >= 0xe0)
    return 3;
  if(c >= 0xc0)
    return 2;
  return 1;
}

/* Encoded words carry at most this many bytes of text each: 60 base64
 * characters, a word of 72 with "=?utf-8?B?" and "?=" (RFC 2047: <= 75). */
#define WORD_BYTES 45

/* "Subject: " and the subject: plain when it is printable ASCII, else RFC
 * 2047 encoded words (base64), one per folded line, never splitting a
 * character. Control characters become spaces; the subject is cut to 200
 * UTF-16 units. */
static mw_status put_subject(mw_buf *out, const char *subject) {
  mw_buf clean;
  mw_buf_init(&clean, 4096);
  mw_status s = alert__utf8_append(&clean, subject ? subject : "", 200);
  int ascii = 1;
  for(size_t i = 0; !s && i < clean.len; i++) {
    unsigned char c = (unsigned char)clean.data[i];
    if(c < 0x20 || c == 0x7f)
      clean.data[i] = ' ';
    ascii &= c < 0x80;
  }
  if(!s)
    s = mw_buf_append(out, "Subject: ", 9);
  if(!s && ascii)
    s = clean.len ? mw_buf_append(out, clean.data, clean.len) : MW_OK;
  for(size_t i = 0; !s && !ascii && i < clean.len;) {
    size_t k = 0;
    while(i + k < clean.len) {
      size_t step = seq_len((unsigned char)clean.data[i + k]);
      if(k + step > WORD_BYTES)
        break;
      k += step;
    }
    assert(k > 0);
    char b64[4 * ((WORD_BYTES + 2) / 3) + 1];
    mw_base64_encode((const unsigned char *)clean.data + i, k, b64);
    s = mw_buf_printf(out, "%s=?utf-8?B?%s?=", i ? "\r\n " : "", b64);
    i += k;
  }
  if(!s)
    s = mw_buf_append(out, "\r\n", 2);
  mw_buf_free(&clean);
  return s;
}

/* "To: a@x, b@y" from the payload's list; each checked. */
static mw_status put_to(mw_buf *out, const cJSON *to) {
  mw_status s = mw_buf_append(out, "To: ", 4);
  int n = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, to) {
    if(!cJSON_IsString(it) || !alert__email_address_valid(it->valuestring))
      return MW_EINVAL;
    if(!s)
      s = mw_buf_printf(out, "%s%s", n++ ? ",\r\n " : "", it->valuestring);
  }
  if(!n)
    return MW_EINVAL;
  return s ? s : mw_buf_append(out, "\r\n", 2);
}

/* --------------------------------------------------------------- body */

/* Quoted-printable (RFC 2045 section 6.7) of text, its "\n" line ends
 * made CRLF: lines of at most 76 characters (soft breaks "=" CRLF), '=',
 * control and 8-bit bytes as =XX, a space or tab before a line end
 * encoded, and a '.' that starts a line encoded too (no SMTP dot to
 * stuff, no "From " to mangle: 'F' is not special, the dot is enough). */
static mw_status put_qp(mw_buf *out, const char *text) {
  static const char hex[] = "0123456789ABCDEF";
  mw_status s = MW_OK;
  size_t col = 0;
  for(const unsigned char *p = (const unsigned char *)text; *p && !s; p++) {
    if(*p == '\n') {
      s = mw_buf_append(out, "\r\n", 2);
      col = 0;
      continue;
    }
    if(*p == '\r')
      continue;
    int at_end = p[1] == '\n' || p[1] == '\0' || (p[1] == '\r' && p[2] == '\n');
    int plain = (*p >= 33 && *p <= 126 && *p != '=' && !(*p == '.' && !col)) ||
                ((*p == ' ' || *p == '\t') && !at_end);
    char enc[3] = {'=', hex[*p >> 4], hex[*p & 15]};
    size_t w = plain ? 1 : 3;
    /* Room for the soft break's '=' on this line. */
    if(col + w > 75) {
      s = mw_buf_append(out, "=\r\n", 3);
      col = 0;
      if(!s && *p == '.') {
        plain = 0;
        w = 3;
      }
    }
    if(!s)
      s = plain ? mw_buf_append(out, p, 1) : mw_buf_append(out, enc, 3);
    col += w;
  }
  return s;
}

mw_status alert__email_compose(const cJSON *payload, const char *msg_id,
                               int64_t now_ms, mw_buf *out) {
  assert(msg_id && out);
  const char *from = mw_json_str(payload, "from");
  const char *subject = mw_json_str(payload, "subject");
  const char *text = mw_json_str(payload, "text");
  const cJSON *to = cJSON_GetObjectItemCaseSensitive(payload, "to");
  if(!alert__email_address_valid(from) || !cJSON_IsArray(to) || !text)
    return MW_EINVAL;
  for(const char *p = msg_id; *p; p++)
    if(!atext((unsigned char)*p) && *p != '.')
      return MW_EINVAL;
  char date[64];
  rfc5322_date(now_ms, date, sizeof date);
  mw_status s = mw_buf_printf(out, "From: %s\r\n", from);
  if(!s)
    s = put_to(out, to);
  if(!s)
    s = put_subject(out, subject);
  if(!s)
    s = mw_buf_printf(out,
                      "Date: %s\r\n"
                      "Message-ID: <%s@%s>\r\n"
                      "MIME-Version: 1.0\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n"
                      "Auto-Submitted: auto-generated\r\n"
                      "\r\n",
                      date, msg_id, strchr(from, '@') + 1);
  if(!s)
    s = put_qp(out, text);
  if(!s && !(out->len >= 2 && !memcmp(out->data + out->len - 2, "\r\n", 2)))
    s = mw_buf_append(out, "\r\n", 2);
  return s;
}
