/* Address ranges written as CIDR ("10.0.0.0/8", "2001:db8::/32"), and
 * whether a client's address falls in one.
 *
 * IPv4 ranges are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d), so a client
 * reaching a dual-stack listener as ::ffff:127.0.0.1 is in 127.0.0.1/32.
 */
#ifndef CG_CIDR_H
#define CG_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cg_cidr {
    uint8_t addr[16]; /* network address, host bits zero */
    uint8_t bits;     /* prefix length over the 128 bits */
} cg_cidr;

/* Parses "ADDRESS/PREFIX" (a bare address is one host: /32 or /128).
 * Refuses host bits set below the prefix ("10.0.0.1/8" is a typo for
 * 10.0.0.0/8 or 10.0.0.1/32, and either reading could open too much).
 * On failure, why (cap bytes) says what is wrong. */
bool cg_cidr_parse(const char *s, cg_cidr *out, char *why, size_t cap);

/* Whether the numeric address ip (inet_ntop text, IPv4 or IPv6) is in
 * one of the n ranges. False for anything that is not an address. */
bool cg_cidr_list_contains(const cg_cidr *list, size_t n, const char *ip);

/* The range in its canonical form ("10.0.0.0/8"), for messages. */
const char *cg_cidr_format(const cg_cidr *c, char *out, size_t cap);

#endif
