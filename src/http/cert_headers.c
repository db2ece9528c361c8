/* The client certificate for the application: RFC 9440 and ARR forms
 * (cert_headers.h). */
#include "cert_headers.h"

#include <string.h>

#include "base/base.h"

#define CLIENT_CERT "Client-Cert: "
#define CLIENT_CERT_CHAIN "Client-Cert-Chain: "
#define ARR_CLIENT_CERT "X-ARR-ClientCert: "

static size_t base64_len(size_t n) { return (n + 2) / 3 * 4; }

size_t cg_sf_bytes_len(size_t n) { return base64_len(n) + 2; }

/* Base64 of p written in place at the end of b (cg_base64_encode wants room
 * for its NUL, which the next append overwrites). */
static bool append_base64(cg_buf *b, const void *p, size_t n)
{
    size_t k = base64_len(n);
    if (!cg_buf_reserve(b, k + 1))
        return false;
    if (cg_base64_encode(p, n, b->data + b->len, k + 1) != k)
        return false; /* cannot happen: the room is exact */
    b->len += k;
    return true;
}

bool cg_sf_bytes_append(cg_buf *b, const void *p, size_t n)
{
    return cg_buf_append(b, ":", 1) && append_base64(b, p, n) && cg_buf_append(b, ":", 1);
}

static bool rfc9440(const cg_cert_der_cfg *cfg)
{
    return cfg->form == CG_CERT_DER_RFC9440 || cfg->form == CG_CERT_DER_BOTH;
}

static bool arr(const cg_cert_der_cfg *cfg) { return cfg->form == CG_CERT_DER_ARR || cfg->form == CG_CERT_DER_BOTH; }

static bool with_chain(const cg_cert_der_cfg *cfg, size_t ninter) { return rfc9440(cfg) && cfg->chain && ninter > 0; }

size_t cg_cert_headers_size(const cg_cert_der_cfg *cfg, cg_der leaf, const cg_der *inter, size_t ninter)
{
    size_t n = 0;
    if (rfc9440(cfg))
        n += sizeof CLIENT_CERT - 1 + cg_sf_bytes_len(leaf.n) + 2;
    if (with_chain(cfg, ninter)) {
        n += sizeof CLIENT_CERT_CHAIN - 1 + 2;
        for (size_t i = 0; i < ninter; i++)
            n += cg_sf_bytes_len(inter[i].n) + (i ? 2 : 0);
    }
    if (arr(cfg))
        n += sizeof ARR_CLIENT_CERT - 1 + base64_len(leaf.n) + 2;
    return n;
}

bool cg_cert_headers_append(cg_buf *b, const cg_cert_der_cfg *cfg, cg_der leaf, const cg_der *inter, size_t ninter)
{
    /* One allocation for the whole block. */
    if (!cg_buf_reserve(b, cg_cert_headers_size(cfg, leaf, inter, ninter) + 1))
        return false;
    if (rfc9440(cfg) && !(cg_buf_append_str(b, CLIENT_CERT) && cg_sf_bytes_append(b, leaf.p, leaf.n) &&
                          cg_buf_append(b, "\r\n", 2)))
        return false;
    if (with_chain(cfg, ninter)) {
        if (!cg_buf_append_str(b, CLIENT_CERT_CHAIN))
            return false;
        for (size_t i = 0; i < ninter; i++)
            if ((i && !cg_buf_append(b, ", ", 2)) || !cg_sf_bytes_append(b, inter[i].p, inter[i].n))
                return false;
        if (!cg_buf_append(b, "\r\n", 2))
            return false;
    }
    if (arr(cfg) &&
        !(cg_buf_append_str(b, ARR_CLIENT_CERT) && append_base64(b, leaf.p, leaf.n) && cg_buf_append(b, "\r\n", 2)))
        return false;
    return true;
}
