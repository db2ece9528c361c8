#include "tls13_ticket.h"

#include <stdlib.h>
#include <string.h>

#define HEAD_BYTES (8 + 4 + 3)

size_t cg_tls13_ticket_put(unsigned char *p, size_t room, int64_t started, uint32_t flags,
                           const mbedtls_x509_crt *leaf)
{
    size_t len = leaf && leaf->raw.p ? leaf->raw.len : 0;
    if (room < HEAD_BYTES || len > room - HEAD_BYTES || len > 0xFFFFFF)
        return 0;
    uint64_t t = (uint64_t)started;
    for (int i = 7; i >= 0; i--, t >>= 8)
        p[i] = (unsigned char)t;
    p[8] = (unsigned char)(flags >> 24);
    p[9] = (unsigned char)(flags >> 16);
    p[10] = (unsigned char)(flags >> 8);
    p[11] = (unsigned char)flags;
    p[12] = (unsigned char)(len >> 16);
    p[13] = (unsigned char)(len >> 8);
    p[14] = (unsigned char)len;
    if (len)
        memcpy(p + HEAD_BYTES, leaf->raw.p, len);
    return HEAD_BYTES + len;
}

void cg_tls13_resumed_clear(cg_tls13_resumed *r)
{
    if (r->chain) {
        mbedtls_x509_crt_free(r->chain);
        free(r->chain);
    }
    memset(r, 0, sizeof *r);
}

bool cg_tls13_ticket_get(const unsigned char *p, size_t n, size_t *used, cg_tls13_resumed *out)
{
    cg_tls13_resumed_clear(out);
    if (n < HEAD_BYTES)
        return false;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | p[i];
    uint32_t flags = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    size_t len = (size_t)p[12] << 16 | (size_t)p[13] << 8 | p[14];
    if (len > n - HEAD_BYTES)
        return false;
    if (len) {
        if (!(out->chain = calloc(1, sizeof *out->chain)))
            return false;
        mbedtls_x509_crt_init(out->chain);
        if (mbedtls_x509_crt_parse_der(out->chain, p + HEAD_BYTES, len) != 0) {
            cg_tls13_resumed_clear(out);
            return false;
        }
    }
    out->present = true;
    out->flags = flags;
    out->started = (int64_t)t;
    *used = HEAD_BYTES + len;
    return true;
}
