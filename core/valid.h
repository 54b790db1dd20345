/* core/valid.h - what a resource name and a webhook URL may look like. */
#ifndef MW_CORE_VALID_H
#define MW_CORE_VALID_H



/* Validates a resource name: 1-128 of [A-Za-z0-9._-], not starting with '.'. */
int mw_name_valid(const char *name);
/* 1 when url is an http:// or https:// URL of 8..1000 bytes without
 * spaces or control characters (webhook and node targets). */
int mw_url_valid(const char *url);

#endif
