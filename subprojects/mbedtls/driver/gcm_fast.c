/* AES-GCM with AES-NI and PCLMULQDQ (gcm_fast.h).
 *
 * GHASH works on byte-reversed blocks: after PSHUFB reverses a block's 16
 * bytes, integer bit i of the register holds the coefficient of x^(127-i),
 * i.e. the register is the polynomial read in t = x^-1. A carry-less product
 * of two such registers is 255 bits long and a multiplication by t^128 away
 * from the field's product, which a Montgomery reduction removes: two folds
 * of 64 bits by multiples of t^128 * P(x) = 1 + t^121 + t^126 + t^127 + t^128,
 * each a PCLMULQDQ by 0xc2 << 56. The result is then the product times x;
 * storing H * x^-1 instead of H (a shift left by one with the carry folded
 * back) makes it the product itself. The powers H^1..H^8 are kept so that up
 * to eight blocks are multiplied and summed before one reduction: a TLS
 * record of up to 112 bytes (AAD block, text, length block) takes one AAD
 * reduction and one for the rest.
 *
 * CTR: the counter is the last 32 bits of the block, big-endian, from 2
 * (J0 = nonce || 1 masks the tag). Keystream is made in chunks of up to
 * eight blocks in a stack array whose entries are turned into ciphertext in
 * place; the one entry that stays secret (E(J0)) and the partial-block
 * buffer of open() are zeroed before return. */
#include "gcm_fast.h"

#include <string.h>

#include <mbedtls/platform_util.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define TARGET __attribute__((target("aes,pclmul,ssse3,sse4.1")))
#define CHUNK 8 /* blocks per GHASH reduction and per keystream batch */

struct cg_gcm_key {
    __m128i rk[15];    /* AES round keys, rounds + 1 of them */
    __m128i h[CHUNK];  /* h[i] = H^(i+1) * x^-1, byte-reversed */
    unsigned rounds;   /* 10 or 14 */
};

bool cg_gcm_fast_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.1");
}

size_t cg_gcm_key_size(void)
{
    return sizeof(cg_gcm_key);
}

void cg_gcm_key_wipe(cg_gcm_key *k)
{
    mbedtls_platform_zeroize(k, sizeof *k);
}

/* ---- AES ----------------------------------------------------------------- */

/* One step of the key schedule: prev's four words chained (w[i] ^= w[i-1]),
 * then the word that aeskeygenassist made (broadcast) added to each. */
static inline TARGET __m128i schedule_step(__m128i prev, __m128i word)
{
    prev = _mm_xor_si128(prev, _mm_slli_si128(prev, 4));
    prev = _mm_xor_si128(prev, _mm_slli_si128(prev, 4));
    prev = _mm_xor_si128(prev, _mm_slli_si128(prev, 4));
    return _mm_xor_si128(prev, word);
}

/* aeskeygenassist takes the round constant as an immediate: macros. */
#define STEP128(i, rcon) \
    rk[i] = schedule_step(rk[i - 1], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
/* AES-256: even keys from the last two with RotWord+Rcon, odd ones with SubWord only */
#define STEP256_EVEN(i, rcon) \
    rk[i] = schedule_step(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
#define STEP256_ODD(i) \
    rk[i] = schedule_step(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], 0), 0xaa))

static TARGET void expand128(__m128i rk[15], const uint8_t *key)
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    STEP128(1, 0x01); STEP128(2, 0x02); STEP128(3, 0x04); STEP128(4, 0x08); STEP128(5, 0x10);
    STEP128(6, 0x20); STEP128(7, 0x40); STEP128(8, 0x80); STEP128(9, 0x1b); STEP128(10, 0x36);
}

static TARGET void expand256(__m128i rk[15], const uint8_t *key)
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
    STEP256_EVEN(2, 0x01); STEP256_ODD(3); STEP256_EVEN(4, 0x02); STEP256_ODD(5);
    STEP256_EVEN(6, 0x04); STEP256_ODD(7); STEP256_EVEN(8, 0x08); STEP256_ODD(9);
    STEP256_EVEN(10, 0x10); STEP256_ODD(11); STEP256_EVEN(12, 0x20); STEP256_ODD(13);
    STEP256_EVEN(14, 0x40);
}

/* Encrypts n blocks of b in place (four, two or one at a time, so that
 * the AESENC latencies overlap). */
#define ROUND(r) \
    for (int j = 0; j < W; j++) \
        x[j] = _mm_aesenc_si128(x[j], k->rk[r])

#define AES_WIDTH(name, width) \
    static inline TARGET void name(const cg_gcm_key *k, __m128i *b) \
    { \
        enum { W = width }; \
        __m128i x[W]; \
        for (int j = 0; j < W; j++) \
            x[j] = _mm_xor_si128(b[j], k->rk[0]); \
        ROUND(1); ROUND(2); ROUND(3); ROUND(4); ROUND(5); ROUND(6); ROUND(7); ROUND(8); ROUND(9); \
        if (k->rounds == 14) { \
            ROUND(10); ROUND(11); ROUND(12); ROUND(13); \
        } \
        for (int j = 0; j < W; j++) \
            b[j] = _mm_aesenclast_si128(x[j], k->rk[k->rounds]); \
    }

AES_WIDTH(aes4, 4)
AES_WIDTH(aes2, 2)
AES_WIDTH(aes1, 1)

static inline TARGET void aes_blocks(const cg_gcm_key *k, __m128i *b, size_t n)
{
    for (; n >= 4; n -= 4, b += 4)
        aes4(k, b);
    if (n >= 2) {
        aes2(k, b);
        b += 2;
        n -= 2;
    }
    if (n)
        aes1(k, b);
}

/* ---- GHASH --------------------------------------------------------------- */

static inline TARGET __m128i reverse_bytes(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

/* A 256-bit carry-less product before reduction, the middle terms apart. */
typedef struct wide {
    __m128i lo, mid, hi;
} wide;

static inline TARGET void mul_add(wide *w, __m128i x, __m128i h)
{
    w->lo = _mm_xor_si128(w->lo, _mm_clmulepi64_si128(x, h, 0x00));
    w->hi = _mm_xor_si128(w->hi, _mm_clmulepi64_si128(x, h, 0x11));
    w->mid = _mm_xor_si128(w->mid, _mm_clmulepi64_si128(x, h, 0x01));
    w->mid = _mm_xor_si128(w->mid, _mm_clmulepi64_si128(x, h, 0x10));
}

/* w * t^-128 modulo P, 128 bits: the low 64 bits folded away, then the
 * next 64 (see the top of the file). */
static inline TARGET __m128i reduce(wide w)
{
    const __m128i poly = _mm_set_epi64x(0, (long long)0xc200000000000000ULL);
    __m128i lo = _mm_xor_si128(w.lo, _mm_slli_si128(w.mid, 8));
    __m128i hi = _mm_xor_si128(w.hi, _mm_srli_si128(w.mid, 8));
    __m128i fold = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), _mm_clmulepi64_si128(lo, poly, 0x00));
    fold = _mm_xor_si128(_mm_shuffle_epi32(fold, 0x4e), _mm_clmulepi64_si128(fold, poly, 0x00));
    return _mm_xor_si128(hi, fold);
}

/* The field product of a and b when b is stored times x^-1 (as key->h). */
static inline TARGET __m128i gf_mul(__m128i a, __m128i b)
{
    wide w = { _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128() };
    mul_add(&w, a, b);
    return reduce(w);
}

/* s = (...((s ^ g[0]) * H ^ g[1]) * H ... ^ g[n-1]) * H for byte-reversed
 * blocks g: at most CHUNK products summed per reduction. */
static inline TARGET __m128i ghash_blocks(const cg_gcm_key *k, __m128i s, const __m128i *g, size_t n)
{
    while (n) {
        size_t m = n < CHUNK ? n : CHUNK;
        wide w = { _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128() };
        mul_add(&w, _mm_xor_si128(s, g[0]), k->h[m - 1]);
        for (size_t i = 1; i < m; i++)
            mul_add(&w, g[i], k->h[m - 1 - i]);
        s = reduce(w);
        g += m;
        n -= m;
    }
    return s;
}

/* The AAD, zero-padded to whole blocks. */
static TARGET __m128i ghash_aad(const cg_gcm_key *k, const uint8_t *aad, size_t len)
{
    __m128i s = _mm_setzero_si128();
    __m128i g[CHUNK];
    while (len) {
        size_t n = 0;
        for (; n < CHUNK && len >= 16; n++, aad += 16, len -= 16)
            g[n] = reverse_bytes(_mm_loadu_si128((const __m128i *)aad));
        if (n < CHUNK && len) {
            uint8_t last[16] = { 0 };
            memcpy(last, aad, len);
            g[n++] = reverse_bytes(_mm_loadu_si128((const __m128i *)last));
            len = 0;
        }
        s = ghash_blocks(k, s, g, n);
    }
    return s;
}

/* ---- Keys and messages ---------------------------------------------------- */

static TARGET void key_setup(cg_gcm_key *k, const uint8_t *key, size_t bits)
{
    if (bits == 128) {
        expand128(k->rk, key);
        k->rounds = 10;
    } else {
        expand256(k->rk, key);
        k->rounds = 14;
    }
    __m128i h = _mm_setzero_si128();
    aes1(k, &h);
    h = reverse_bytes(h);
    /* H * x^-1 = H * t: a shift left by one; the bit shifted out is t^128,
     * which is 1 + t^121 + t^126 + t^127 modulo P, added when it is set. */
    __m128i carry = _mm_srai_epi32(_mm_shuffle_epi32(h, 0xff), 31);
    h = _mm_or_si128(_mm_slli_epi64(h, 1), _mm_slli_si128(_mm_srli_epi64(h, 63), 8));
    h = _mm_xor_si128(h, _mm_and_si128(carry, _mm_set_epi64x((long long)0xc200000000000000ULL, 1)));
    k->h[0] = h;
    for (int i = 1; i < CHUNK; i++)
        k->h[i] = gf_mul(k->h[i - 1], h);
}

bool cg_gcm_key_init(cg_gcm_key *k, const uint8_t *key, size_t bits)
{
    if ((bits != 128 && bits != 256) || ((uintptr_t)k & 15) != 0 || !cg_gcm_fast_available())
        return false;
    key_setup(k, key, bits);
    return true;
}

/* Bytes 0..n-1 kept, the rest cleared: a load at ones_then_zeros + 16 - n. */
static const uint8_t ones_then_zeros[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

static inline TARGET void counters(__m128i *b, __m128i j0, uint32_t ctr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = _mm_insert_epi32(j0, (int)__builtin_bswap32(ctr + (uint32_t)i), 3);
}

/* CTR over in to out and GHASH over the AAD and the ciphertext (out when
 * sealing, in when opening); returns the tag. Inlined into both
 * directions, so `open` is a constant. */
static inline __attribute__((always_inline)) TARGET __m128i crypt(const cg_gcm_key *k, const uint8_t *nonce,
                                                                 const uint8_t *aad, size_t aad_len,
                                                                 const uint8_t *in, size_t len, uint8_t *out,
                                                                 bool open)
{
    uint32_t nonce_tail;
    memcpy(&nonce_tail, nonce + 8, 4);
    __m128i j0 = _mm_loadl_epi64((const __m128i *)nonce);
    j0 = _mm_insert_epi32(j0, (int)nonce_tail, 2);
    j0 = _mm_insert_epi32(j0, (int)__builtin_bswap32(1), 3);

    __m128i s = aad_len ? ghash_aad(k, aad, aad_len) : _mm_setzero_si128();
    /* keystream, then the byte-reversed ciphertext: up to CHUNK blocks, the
     * length block, and E(J0) until it is taken out */
    __m128i b[CHUNK + 1];
    uint32_t ctr = 2;
    size_t left = len;
    for (; left > CHUNK * 16; left -= CHUNK * 16, in += CHUNK * 16, out += CHUNK * 16, ctr += CHUNK) {
        counters(b, j0, ctr, CHUNK);
        aes_blocks(k, b, CHUNK);
        for (int i = 0; i < CHUNK; i++) {
            __m128i x = _mm_loadu_si128((const __m128i *)(in + 16 * i));
            __m128i y = _mm_xor_si128(x, b[i]);
            _mm_storeu_si128((__m128i *)(out + 16 * i), y);
            b[i] = reverse_bytes(open ? x : y);
        }
        s = ghash_blocks(k, s, b, CHUNK);
    }

    /* the last 0..CHUNK blocks, E(J0) with them */
    size_t full = left / 16, rem = left % 16, n = full + (rem != 0);
    counters(b, j0, ctr, n);
    b[n] = j0;
    aes_blocks(k, b, n + 1);
    __m128i tag_mask = b[n];
    b[n] = _mm_set_epi64x((long long)((uint64_t)aad_len * 8), (long long)((uint64_t)len * 8));
    for (size_t i = 0; i < full; i++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(in + 16 * i));
        __m128i y = _mm_xor_si128(x, b[i]);
        _mm_storeu_si128((__m128i *)(out + 16 * i), y);
        b[i] = reverse_bytes(open ? x : y);
    }
    if (rem) {
        _Alignas(16) uint8_t part[16] = { 0 };
        memcpy(part, in + 16 * full, rem);
        __m128i x = _mm_load_si128((const __m128i *)part);
        __m128i y = _mm_and_si128(_mm_xor_si128(x, b[full]),
                                  _mm_loadu_si128((const __m128i *)(ones_then_zeros + 16 - rem)));
        _mm_store_si128((__m128i *)part, y);
        memcpy(out + 16 * full, part, rem);
        b[full] = reverse_bytes(open ? x : y);
        if (open) /* part holds plaintext */
            *(volatile __m128i *)part = _mm_setzero_si128();
    }
    s = ghash_blocks(k, s, b, n + 1);
    return _mm_xor_si128(reverse_bytes(s), tag_mask);
}

TARGET void cg_gcm_seal(const cg_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                        const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
    _mm_storeu_si128((__m128i *)tag, crypt(k, nonce, aad, aad_len, in, len, out, false));
}

TARGET bool cg_gcm_open(const cg_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                        const uint8_t *in, size_t len, const uint8_t tag[16], uint8_t *out)
{
    __m128i expected = _mm_loadu_si128((const __m128i *)tag);
    __m128i diff = _mm_xor_si128(expected, crypt(k, nonce, aad, aad_len, in, len, out, true));
    if (_mm_testz_si128(diff, diff)) /* all bits at once: no early exit on a matching prefix */
        return true;
    memset(out, 0, len);
    return false;
}

#else /* not x86-64: never available, and nothing else may be called */

#include <stdlib.h>

struct cg_gcm_key {
    uint8_t unused;
};

bool cg_gcm_fast_available(void)
{
    return false;
}

size_t cg_gcm_key_size(void)
{
    return sizeof(cg_gcm_key);
}

void cg_gcm_key_wipe(cg_gcm_key *k)
{
    mbedtls_platform_zeroize(k, sizeof *k);
}

bool cg_gcm_key_init(cg_gcm_key *k, const uint8_t *key, size_t bits)
{
    (void)k, (void)key, (void)bits;
    return false;
}

void cg_gcm_seal(const cg_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
    (void)k, (void)nonce, (void)aad, (void)aad_len, (void)in, (void)len, (void)out, (void)tag;
    abort();
}

bool cg_gcm_open(const cg_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t len, const uint8_t tag[16], uint8_t *out)
{
    (void)k, (void)nonce, (void)aad, (void)aad_len, (void)in, (void)len, (void)tag, (void)out;
    abort();
}

#endif
