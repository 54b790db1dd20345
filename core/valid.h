/* core/valid.h - what a resource name may look like (URLs: core/url.h). */
#ifndef MW_CORE_VALID_H
#define MW_CORE_VALID_H

/* Validates a resource name: 1-128 of [A-Za-z0-9._-], not starting with '.'. */
int mw_name_valid(const char *name);
/* A name pattern: a name, a name's prefix followed by '*', or "*". */
int mw_name_pattern_valid(const char *pattern);
/* Whether pattern matches s: equal, or (ending in '*') s starts with what
 * precedes the '*'. */
int mw_pattern_match(const char *pattern, const char *s);

#endif
