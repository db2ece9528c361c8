/* Wildcard patterns of many-to-one rules: "*" any run of characters, "?"
 * one character, "\*" "\?" "\\" literal. Part of the certificate mapping
 * (mapping.h).
 */
#ifndef CG_GLOB_H
#define CG_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* Compiles src into out (at least len bytes): wildcards become control
 * bytes, escapes are resolved, and ASCII letters are lowered when the
 * pattern is case-insensitive. Returns NULL, or what is wrong with the
 * pattern (and *at, the byte offset of the problem in src). */
const char *cg_glob_compile(const char *src, size_t len, bool case_sensitive, char *out,
                            size_t *out_len, size_t *at);
/* Whether the valid UTF-8 value matches a compiled pattern. */
bool cg_glob_match(const char *pat, size_t plen, bool case_sensitive, const char *val,
                   size_t vlen);
/* A sound (not complete) check that every value b matches also matches a. */
bool cg_glob_covers(const char *a, size_t alen, bool a_cs, const char *b, size_t blen, bool b_cs);

#endif
