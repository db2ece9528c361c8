#include "chunked.h"

#include "base/base.h"

enum {
    SIZE_START, /* first hex digit of a chunk size */
    SIZE,       /* more hex digits */
    SIZE_WS,    /* whitespace after the size: an extension or the CR must follow */
    EXT,        /* chunk extension, up to CR */
    SIZE_LF,    /* LF of the chunk-size line */
    DATA,       /* chunk data: left bytes */
    DATA_CR,    /* CRLF after chunk data */
    DATA_LF,
    TRAILER_START, /* a trailer field line, or the final CRLF */
    TRAILER,
    TRAILER_LF,
    FINAL_LF,
    DONE,
};

/* A byte allowed inside a chunk extension or a trailer line. */
static bool is_field_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool cg_chunked_done(const cg_chunked *ck) { return ck->state == DONE; }

size_t cg_chunked_scan(cg_chunked *ck, const char *buf, size_t len, const char **what)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t i = 0;
    *what = NULL;
#define FAIL(msg) do { *what = (msg); goto out; } while (0)
    while (i < len) {
        unsigned char c = b[i];
        if (ck->state == DATA) {
            size_t n = len - i < ck->left ? len - i : (size_t)ck->left;
            ck->left -= n;
            i += n;
            if (ck->left == 0)
                ck->state = DATA_CR;
            continue;
        }
        if (ck->state == DONE)
            goto out;
        if (ck->state != DATA_CR && ck->state != DATA_LF && ck->state != SIZE_LF && ck->state != TRAILER_LF &&
            ck->state != FINAL_LF && ++ck->line > CG_CHUNKED_MAX_LINE)
            FAIL("a chunk-size or trailer line is longer than 4096 bytes");
        switch (ck->state) {
        case SIZE_START: {
            int v = cg_hex_value(c);
            if (v < 0)
                FAIL("a chunk size does not start with a hex digit");
            ck->left = (uint64_t)v;
            ck->digits = 1;
            ck->state = SIZE;
            break;
        }
        case SIZE: {
            int v = cg_hex_value(c);
            if (v >= 0) {
                if (++ck->digits > 16 || ck->left > (UINT64_MAX >> 4))
                    FAIL("a chunk size is too large");
                ck->left = (ck->left << 4) | (uint64_t)v;
            } else if (c == ' ' || c == '\t') {
                ck->state = SIZE_WS;
            } else if (c == ';') {
                ck->state = EXT;
            } else if (c == '\r') {
                ck->state = SIZE_LF;
            } else {
                FAIL("a chunk size has a byte that is not a hex digit");
            }
            break;
        }
        case SIZE_WS:
            if (c == ';')
                ck->state = EXT;
            else if (c == '\r')
                ck->state = SIZE_LF;
            else if (c != ' ' && c != '\t')
                FAIL("whitespace after a chunk size is followed by neither ';' nor CRLF");
            break;
        case EXT:
            if (c == '\r')
                ck->state = SIZE_LF;
            else if (!is_field_byte(c))
                FAIL("a chunk extension has a control character");
            break;
        case SIZE_LF:
            if (c != '\n')
                FAIL("a chunk-size line does not end with CRLF");
            ck->line = 0;
            ck->state = ck->left ? DATA : TRAILER_START;
            break;
        case DATA_CR:
            if (c != '\r')
                FAIL("chunk data is not followed by CRLF");
            ck->state = DATA_LF;
            break;
        case DATA_LF:
            if (c != '\n')
                FAIL("chunk data is not followed by CRLF");
            ck->state = SIZE_START;
            break;
        case TRAILER_START:
            if (c == '\r')
                ck->state = FINAL_LF;
            else if (c == ' ' || c == '\t' || !is_field_byte(c))
                FAIL("a trailer line starts with whitespace or a control character");
            else
                ck->state = TRAILER;
            break;
        case TRAILER:
            if (c == '\r')
                ck->state = TRAILER_LF;
            else if (!is_field_byte(c))
                FAIL("a trailer line has a control character");
            break;
        case TRAILER_LF:
            if (c != '\n')
                FAIL("a trailer line does not end with CRLF");
            ck->line = 0;
            ck->state = TRAILER_START;
            break;
        case FINAL_LF:
            if (c != '\n')
                FAIL("the chunked body does not end with CRLF");
            ck->state = DONE;
            i++;
            goto out;
        }
        i++;
    }
out:
#undef FAIL
    return i;
}

size_t cg_chunked_execute(cg_chunked *ck, http_parser *p, const http_parser_settings *s, const char *buf,
                          size_t len, const char **what)
{
    *what = NULL;
    if (!ck)
        return len ? http_parser_execute(p, s, buf, len) : 0;
    cg_chunked probe = *ck;
    const char *bad;
    size_t ok = cg_chunked_scan(&probe, buf, len, &bad);
    size_t n = ok ? http_parser_execute(p, s, buf, ok) : 0;
    if (n == ok) {
        *ck = probe;
    } else {
        const char *ignored;
        cg_chunked_scan(ck, buf, n, &ignored); /* the parser paused or failed earlier: follow it */
    }
    if (bad && n == ok && HTTP_PARSER_ERRNO(p) == HPE_OK)
        *what = bad;
    return n;
}
