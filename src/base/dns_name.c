#include "dns_name.h"

#include <stdio.h>

#include "text.h"

static bool ldh(int c) { return cg_ascii_is_alpha(c) || cg_ascii_is_digit(c) || c == '-'; }

bool cg_dns_name_check(const char *s, size_t n, bool wildcard, char *why, size_t cap)
{
    size_t i = 0, labels = 0;
    bool is_wildcard = false;
    if (n == 0) {
        snprintf(why, cap, "is empty");
        return false;
    }
    if (n > CG_DNS_NAME_MAX) {
        snprintf(why, cap, "is %zu characters long (a host name has at most %d)", n, CG_DNS_NAME_MAX);
        return false;
    }
    if (n >= 2 && s[0] == '*' && s[1] == '.') {
        if (!wildcard) {
            snprintf(why, cap, "is a wildcard, not allowed here");
            return false;
        }
        is_wildcard = true;
        i = 2;
    }
    bool last_all_digits = false;
    while (i <= n) {
        size_t start = i;
        bool all_digits = true;
        while (i < n && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (c == '*') {
                snprintf(why, cap, "has \"*\" inside a label (only \"*.\" leading the name is a wildcard, for "
                         "exactly one label)");
                return false;
            }
            if (!ldh(c)) {
                snprintf(why, cap, "has a character a host name cannot have (0x%02x; letters, digits, \"-\" and "
                         "\".\" only; IDNs in their xn-- form)", c);
                return false;
            }
            all_digits = all_digits && cg_ascii_is_digit(c);
            i++;
        }
        size_t len = i - start;
        labels++;
        if (len == 0) {
            snprintf(why, cap, "%s", i == n ? "ends with a dot (write the name without it)" : "has an empty label");
            return false;
        }
        if (len > 63) {
            snprintf(why, cap, "has a label of %zu characters (at most 63)", len);
            return false;
        }
        if (s[start] == '-' || s[i - 1] == '-') {
            snprintf(why, cap, "has a label starting or ending with \"-\"");
            return false;
        }
        last_all_digits = all_digits;
        i++; /* past the dot, or past the end */
    }
    if (last_all_digits) {
        snprintf(why, cap, "ends with a numeric label: an address, not a host name (TLS clients never send "
                 "addresses as SNI)");
        return false;
    }
    if (is_wildcard && labels < 2) {
        snprintf(why, cap, "is a wildcard over a top-level domain (\"*.\" needs at least two labels after it)");
        return false;
    }
    return true;
}

bool cg_dns_name_covers(const char *pattern, size_t plen, const char *name, size_t nlen)
{
    if (plen == nlen && cg_ascii_ieq(pattern, name, plen))
        return true;
    if (plen < 3 || pattern[0] != '*' || pattern[1] != '.' || (nlen >= 1 && name[0] == '*'))
        return false;
    /* "*.rest" covers "label.rest": one non-empty label without a dot. */
    size_t rest = plen - 1; /* ".rest" */
    if (nlen <= rest)
        return false;
    size_t label = nlen - rest;
    for (size_t i = 0; i < label; i++)
        if (name[i] == '.')
            return false;
    return cg_ascii_ieq(pattern + 1, name + label, rest);
}
