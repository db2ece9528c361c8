/* Text helpers shared by the revocation modules (crl_parse, crl_files,
 * crl_store, crl_fetch, crl_check): the times, sizes, durations and hex of
 * their sentences, a truncating append, and string vectors. Not an API for
 * the rest of certgate (the shared-helpers stage folds them into the base
 * text helpers).
 */
#ifndef CG_CRL_TEXT_H
#define CG_CRL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Seconds since the epoch. */
int64_t crl_now(void);
/* "2026-01-31 12:00:00 UTC" ("?" when t cannot be represented). */
void crl_fmt_time(int64_t t, char *out, size_t cap);
/* "64 MiB", "1 KiB", "1000 bytes": the largest unit that divides v. */
void crl_fmt_size(uint64_t v, char *out, size_t cap);
/* "10s", "1500ms". */
void crl_fmt_ms(uint32_t ms, char *out, size_t cap);
/* Uppercase hex of p[0..n), cut to fit cap; always NUL-terminated. */
void crl_hex(const unsigned char *p, size_t n, char *out, size_t cap);
/* Appends with truncation ("..." when it does not fit); returns the length. */
size_t crl_append(char *out, size_t cap, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Frees v[0..n) and v. */
void crl_strv_free(char **v, size_t n);
/* A copy of v[0..n) (each string strdup'd), or NULL when out of memory. */
char **crl_strv_dup(char *const *v, size_t n);

#endif
