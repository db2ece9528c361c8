/* Internals of the certificate mapping (mapping.c) shared with its unit
 * tests, fuzz target, benchmark and `certgate import-iis`. Not part of the
 * module's contract (mapping.h): nothing in the proxy uses these.
 */
#ifndef CG_MAPPING_PRIV_H
#define CG_MAPPING_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "mapping.h"

/* cg_mapping_load from memory: name is the file name used in diagnostics,
 * dir the directory certificate_file paths are relative to (NULL: the
 * current directory). */
cg_mapping *cg_mapping_load_string(const char *yaml, size_t len, const char *name,
                                   const char *dir, cg_diag *diag);

/* Entries loaded, enabled or not. */
void cg_mapping_counts(const cg_mapping *m, size_t *one_to_one, size_t *many_to_one);

/* ---- wildcard patterns ("*" any run of characters, "?" one character,
 * "\*" "\?" "\\" literal) ---- */

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

/* ---- values and principals ---- */

/* Whether s is UTF-8 without control characters (C0, DEL, C1). */
bool cg_mapping_text_ok(const char *s, size_t len);
/* Whether p is a principal certgate will hand on: "user@REALM", see
 * docs/mapping.md. NULL when valid, otherwise the reason. */
const char *cg_principal_problem(const char *p, size_t len);

/* A certificate as a one-to-one entry gives it (a PEM block, or base64 DER
 * on one line as IIS stores it), parsed into crt (initialised by the
 * caller); false with the reason (naming IIS' error codes for broken
 * base64). */
bool cg_mapping_cert_text(const char *text, size_t len, mbedtls_x509_crt *crt, char *why, size_t wcap);

/* The canonical spelling of a rule sub-field of field (subject, issuer or
 * san), accepting other cases and Windows' S and E; NULL if there is none. */
const char *cg_mapping_sub_field(const char *field, const char *sub);

/* The canonical form of an RFC 4514 distinguished name as strong keys
 * compare it; false (with a reason in why) when dn is not a valid DN. */
bool cg_dn_canonical(const char *dn, char *out, size_t cap, char *why, size_t why_cap);

/* Decoded RFC 4514 text of the subject or issuer ("CN=alice,OU=Sales,..."):
 * values decoded from DER, special characters escaped as RFC 4514 says and
 * values that cannot be decoded in "#hex" form. */
void cg_mapping_cert_dn(const mbedtls_x509_crt *crt, bool issuer, char *out, size_t cap);

#endif
