/* Client bytes quoted in refusal sentences (http_excerpt.h). */
#include "http_excerpt.h"

#include <string.h>

/* Writes s into out as a short, printable, quoted-safe excerpt for refusal
 * sentences: they end up in logs and on error pages, so client bytes are
 * never copied raw. */
static const char *excerpt(char *out, size_t cap, cg_slice s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, max = 60;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (o + 8 >= cap || i >= max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* An excerpt of a request line or target that stops at its query: queries
 * carry tokens and personal data, and refusal sentences go to the log. */
const char *cg_http_excerpt_no_query(char *out, size_t cap, cg_slice s)
{
    const char *q = memchr(s.p, '?', s.n);
    if (!q)
        return excerpt(out, cap, s);
    excerpt(out, cap - 12, (cg_slice){ s.p, (size_t)(q - s.p) });
    strcat(out, "?[redacted]");
    return out;
}

const char *cg_http_excerpt(char *out, size_t cap, cg_slice s)
{
    return excerpt(out, cap, s);
}
