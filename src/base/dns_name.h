/* Host names as TLS uses them (SNI, a certificate's dNSName): the syntax a
 * configured name must have, and whether a name or a one-label wildcard
 * ("*.b.example") covers another. ASCII only (IDNs in their xn-- form), case
 * never matters, never the locale. Pure.
 */
#ifndef CG_DNS_NAME_H
#define CG_DNS_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* The longest host name (RFC 1035: 253 characters written without the root dot). */
#define CG_DNS_NAME_MAX 253

/* Whether s[0..n) is a host name: dot-separated labels of 1 to 63 letters,
 * digits and hyphens, not starting or ending with a hyphen, at most
 * CG_DNS_NAME_MAX in all, no trailing dot, the last label not all digits
 * (an address is not a name). With wildcard, "*." may lead and then at
 * least two labels must follow ("*.example" would cover a whole zone). false
 * with why ("label 2 is empty") filled. */
bool cg_dns_name_check(const char *s, size_t n, bool wildcard, char *why, size_t cap);

/* Whether pattern covers name (both checked names, any case): equal, or
 * pattern is "*.rest" and name is one label then ".rest" (RFC 6125 6.4.3:
 * the wildcard stands for exactly one whole label). A wildcard name is
 * covered only by the same wildcard. */
bool cg_dns_name_covers(const char *pattern, size_t plen, const char *name, size_t nlen);

#endif
