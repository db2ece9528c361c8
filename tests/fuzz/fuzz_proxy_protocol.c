/* libFuzzer target for the PROXY protocol parser (src/net/proxy_protocol.c).
 *
 * The input's first byte chooses how the rest is cut into reads (1 to 16
 * bytes each, from a seed); the rest is what a balancer sent. Checked on
 * every input, besides the sanitizers:
 *   - the parser at once never claims more bytes than it was given nor
 *     more than CG_PP_MAX, and a BAD always says why;
 *   - prefixes are consistent: MORE until one length decides, then DONE
 *     (at exactly the header's length, the same for every longer input) or
 *     BAD for every longer input;
 *   - the reader fed in pieces reaches the same status, takes exactly the
 *     header's bytes (never one of the client's stream) and the same header;
 *   - a header that is not local names an IPv4 or IPv6 source and
 *     destination.
 * Build and run from the repository root (tests/fuzz/run builds
 * fuzz_mapping only):
 *   clang -g -O1 -std=c17 -D_GNU_SOURCE -Wall -Wextra \
 *       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *       -fno-omit-frame-pointer -Isrc tests/fuzz/fuzz_proxy_protocol.c \
 *       src/net/proxy_protocol.c -o build-fuzz/fuzz_proxy_protocol
 *   cp -r tests/fuzz/corpus-proxy_protocol build-fuzz/corpus-proxy_protocol-run
 *   build-fuzz/fuzz_proxy_protocol -max_total_time=120 -max_len=2200 -timeout=10 \
 *       -detect_leaks=1 -artifact_prefix=build-fuzz/proxy_protocol- build-fuzz/corpus-proxy_protocol-run
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/proxy_protocol.h"

#define CHECK(x) \
    do { \
        if (!(x)) \
            abort(); \
    } while (0)

static bool same_header(const cg_pp_header *a, const cg_pp_header *b)
{
    return a->version == b->version && a->local == b->local && a->tlvs == b->tlvs &&
           memcmp(&a->src, &b->src, sizeof a->src) == 0 && memcmp(&a->dst, &b->dst, sizeof a->dst) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint32_t seed = data[0] * 2654435761u + 1;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char why[256];

    /* At once, and every prefix (the header's length decides: the prefixes
     * past CG_PP_MAX are all decided, so the loop stops there). */
    cg_pp_header h, first = { 0 };
    size_t len = 0, hdr_len = 0, decided_at = 0;
    cg_pp_status decided = CG_PP_MORE;
    size_t last = n < CG_PP_MAX + 8 ? n : CG_PP_MAX + 8;
    for (size_t k = 0; k <= last; k++) {
        memset(why, 'x', sizeof why);
        cg_pp_status st = cg_pp_parse(p, k, &h, &len, why, sizeof why);
        CHECK(st == CG_PP_MORE || st == CG_PP_DONE || st == CG_PP_BAD);
        CHECK(memchr(why, '\0', sizeof why) != NULL);
        if (st == CG_PP_BAD)
            CHECK(why[0] != '\0');
        if (decided == CG_PP_MORE) {
            decided = st;
            decided_at = k;
            if (st == CG_PP_DONE) {
                CHECK(len == k && len <= CG_PP_MAX);
                hdr_len = len;
                first = h;
                if (!h.local) {
                    CHECK(h.src.ss_family == 2 /* AF_INET */ || h.src.ss_family == 10 /* AF_INET6 */);
                    CHECK(h.dst.ss_family == h.src.ss_family);
                }
            }
        } else {
            CHECK(st == decided);
            if (st == CG_PP_DONE)
                CHECK(len == hdr_len && same_header(&h, &first));
        }
        if (decided != CG_PP_MORE && k > decided_at + 4)
            break; /* decided: longer prefixes were checked a few times */
    }
    /* MORE past CG_PP_MAX bytes would mean an unbounded wait. */
    CHECK(!(decided == CG_PP_MORE && n > CG_PP_MAX));

    /* The reader, in pieces. */
    cg_pp_reader *r = calloc(1, sizeof *r);
    if (!r)
        return 0;
    size_t off = 0;
    cg_pp_status st = CG_PP_MORE;
    while (off < n) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % 16;
        if (piece > n - off)
            piece = n - off;
        size_t used = 0;
        st = cg_pp_reader_feed(r, p + off, piece, &used, &h, why, sizeof why);
        CHECK(used <= piece);
        off += used;
        if (st != CG_PP_MORE)
            break;
        CHECK(used == piece);
    }
    CHECK(st == decided);
    if (st == CG_PP_DONE)
        CHECK(off == hdr_len && same_header(&h, &first));
    free(r);
    return 0;
}
