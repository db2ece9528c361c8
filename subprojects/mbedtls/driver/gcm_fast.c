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
 * back) makes it the product itself. The powers H^1..H^16 are kept, so that
 * up to 16 blocks are multiplied and summed before one reduction: a TLS
 * record of up to 224 bytes with its AAD and length block takes one.
 *
 * CTR: the counter is the last 32 bits of the block, big-endian, from 2
 * (J0 = nonce || 1 masks the tag). Keystream is made four blocks at a time
 * in registers; the last blocks' and E(J0) in a small stack array, cleared
 * before return. Each ciphertext block is hashed as soon as it is made. */
#include "gcm_fast.h"

#include <string.h>

#include <mbedtls/platform_util.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define TARGET __attribute__((target("aes,pclmul,ssse3,sse4.1")))
#define TARGET_AVX __attribute__((target("aes,pclmul,ssse3,sse4.1,avx")))

static bool avx_allowed = true; /* cg_gcm_fast_allow_avx */
#define POWERS 16 /* powers of H kept: blocks per GHASH reduction */

struct cg_gcm_key {
    __m128i rk[15];    /* AES round keys, rounds + 1 of them */
    __m128i h[POWERS]; /* h[i] = H^(i+1) * x^-1, byte-reversed */
    unsigned rounds;   /* 10 or 14 */
    bool avx;          /* the AVX-encoded code runs (see DIRECTIONS) */
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

/* aes4, aes2, aes1: that many blocks of b encrypted in place, side by side
 * (so that the AESENC latencies overlap), in named variables: GCC keeps an
 * array of blocks in memory and does not unroll loops over it. */
#define INLINE static inline __attribute__((always_inline)) TARGET

#define ROUNDS(each) \
    do { \
        __asm__("" ::: "memory"); /* round keys read here, not kept (spilled) from an earlier batch */ \
        __m128i key = k->rk[0]; \
        each(_mm_xor_si128); \
        _Pragma("GCC unroll 9") for (unsigned r = 1; r < 10; r++) { \
            key = k->rk[r]; \
            each(_mm_aesenc_si128); \
        } \
        if (k->rounds == 14) \
            _Pragma("GCC unroll 4") for (unsigned r = 10; r < 14; r++) { \
                key = k->rk[r]; \
                each(_mm_aesenc_si128); \
            } \
        key = k->rk[k->rounds]; \
        each(_mm_aesenclast_si128); \
    } while (0)

INLINE void aes4(const cg_gcm_key *k, __m128i *b)
{
    __m128i x0 = b[0], x1 = b[1], x2 = b[2], x3 = b[3];
#define EACH4(op) (x0 = op(x0, key), x1 = op(x1, key), x2 = op(x2, key), x3 = op(x3, key))
    ROUNDS(EACH4);
    b[0] = x0, b[1] = x1, b[2] = x2, b[3] = x3;
}

INLINE void aes2(const cg_gcm_key *k, __m128i *b)
{
    __m128i x0 = b[0], x1 = b[1];
#define EACH2(op) (x0 = op(x0, key), x1 = op(x1, key))
    ROUNDS(EACH2);
    b[0] = x0, b[1] = x1;
}

INLINE void aes1(const cg_gcm_key *k, __m128i *b)
{
    __m128i x0 = b[0];
#define EACH1(op) (x0 = op(x0, key))
    ROUNDS(EACH1);
    b[0] = x0;
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

/* GHASH over a message whose block count is known in advance: each block
 * is multiplied by the power of H it will have at the end of its group of
 * up to POWERS blocks and the products summed; a group is reduced after its
 * last block. Groups end at the message's end (the length block takes H^1):
 * only the first may be short, and a message of n blocks takes
 * ceil(n / POWERS) reductions, however its AAD and text fall. */
typedef struct ghash {
    wide sum;             /* this group's products */
    const __m128i *power; /* the next block's */
} ghash;

INLINE void ghash_start(const cg_gcm_key *k, ghash *g, size_t blocks)
{
    g->sum.lo = g->sum.mid = g->sum.hi = _mm_setzero_si128();
    g->power = &k->h[(blocks - 1) % POWERS];
}

/* x: a block, byte-reversed; not the message's last */
INLINE void ghash_push(const cg_gcm_key *k, ghash *g, __m128i x)
{
    mul_add(&g->sum, x, *g->power);
    if (g->power == k->h) {
        /* a group's end: its result enters the next (full) group as a
         * block before the first would, times H^POWERS */
        __m128i s = reduce(g->sum);
        g->sum.lo = g->sum.mid = g->sum.hi = _mm_setzero_si128();
        mul_add(&g->sum, s, k->h[POWERS - 1]);
        g->power = k->h + POWERS;
    }
    g->power--;
}

/* The last block (always H^1): the hash. */
INLINE __m128i ghash_last(const cg_gcm_key *k, ghash *g, __m128i x)
{
    mul_add(&g->sum, x, k->h[0]);
    return reduce(g->sum);
}

/* 0..15 bytes from p into the low bytes of a block, the rest zero; without
 * reading outside p[0..n-1] (which may end a page): overlapping loads from
 * both ends, the overlap shifted out or ORed with itself. */
INLINE uint64_t load_up_to_8(const uint8_t *p, size_t n)
{
    if (n >= 4) {
        uint32_t first, last;
        memcpy(&first, p, 4);
        memcpy(&last, p + n - 4, 4);
        return first | (uint64_t)last << (8 * (n - 4));
    }
    if (n == 0)
        return 0;
    return p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) | (uint64_t)p[n - 1] << (8 * (n - 1));
}

INLINE __m128i load_partial(const uint8_t *p, size_t n)
{
    if (n > 8) {
        uint64_t first, last;
        memcpy(&first, p, 8);
        memcpy(&last, p + n - 8, 8);
        return _mm_set_epi64x((long long)(last >> (8 * (16 - n))), (long long)first);
    }
    return _mm_set_epi64x(0, (long long)load_up_to_8(p, n));
}

/* The low n (0..15) bytes of v to p, through registers (no stack copy). */
INLINE void store_partial(uint8_t *p, __m128i v, size_t n)
{
    uint64_t word = (uint64_t)_mm_cvtsi128_si64(v);
    if (n & 8) {
        memcpy(p, &word, 8);
        word = (uint64_t)_mm_extract_epi64(v, 1);
        p += 8;
    }
    if (n & 4) {
        uint32_t w = (uint32_t)word;
        memcpy(p, &w, 4);
        word >>= 32;
        p += 4;
    }
    if (n & 2) {
        uint16_t w = (uint16_t)word;
        memcpy(p, &w, 2);
        word >>= 16;
        p += 2;
    }
    if (n & 1)
        *p = (uint8_t)word;
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
    for (int i = 1; i < POWERS; i++)
        k->h[i] = gf_mul(k->h[i - 1], h);
}

bool cg_gcm_key_init(cg_gcm_key *k, const uint8_t *key, size_t bits)
{
    if ((bits != 128 && bits != 256) || ((uintptr_t)k & 15) != 0 || !cg_gcm_fast_available())
        return false;
    key_setup(k, key, bits);
    k->avx = avx_allowed && __builtin_cpu_supports("avx");
    return true;
}

/* Bytes 0..n-1 kept, the rest cleared: a load at ones_then_zeros + 16 - n. */
static const uint8_t ones_then_zeros[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

INLINE __m128i counter_block(__m128i j0, uint32_t ctr)
{
    return _mm_insert_epi32(j0, (int)__builtin_bswap32(ctr), 3);
}

/* PSHUFB masks, 16 bytes from slide + 16 - n: the last n bytes moved to
 * the bottom, zeros above; from slide + 16 + n: the first n bytes moved to
 * the top, and the bytes below flagged (top bit) for PBLENDVB. */
static const uint8_t slide[48] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

/* Counter blocks ctr .. ctr + 3. Without a carry out of the last byte, the
 * first plus 1, 2, 3 in that byte (the top byte of the last little-endian
 * word). */
INLINE void counters(__m128i *b, __m128i j0, uint32_t ctr)
{
    b[0] = counter_block(j0, ctr);
    if ((ctr & 0xff) <= 0xfc) {
        b[1] = _mm_add_epi32(b[0], _mm_set_epi32(1 << 24, 0, 0, 0));
        b[2] = _mm_add_epi32(b[0], _mm_set_epi32(2 << 24, 0, 0, 0));
        b[3] = _mm_add_epi32(b[0], _mm_set_epi32(3 << 24, 0, 0, 0));
    } else {
        b[1] = counter_block(j0, ctr + 1);
        b[2] = counter_block(j0, ctr + 2);
        b[3] = counter_block(j0, ctr + 3);
    }
}

/* CTR over in to out and GHASH over the AAD and the ciphertext (out when
 * sealing, in when opening); returns the tag. Inlined into both
 * directions, so `open` is a constant. */
INLINE __m128i crypt(const cg_gcm_key *k, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                     const uint8_t *in, size_t len, uint8_t *out, bool open)
{
    uint32_t nonce_tail;
    memcpy(&nonce_tail, nonce + 8, 4);
    __m128i j0 = _mm_loadl_epi64((const __m128i *)nonce);
    j0 = _mm_insert_epi32(j0, (int)nonce_tail, 2);
    j0 = counter_block(j0, 1);

    /* the last block hashed: the bit lengths (byte-reversed: AAD's high) */
    const __m128i lengths = _mm_set_epi64x((long long)((uint64_t)aad_len * 8), (long long)((uint64_t)len * 8));
    ghash g;
    ghash_start(k, &g, (aad_len + 15) / 16 + (len + 15) / 16 + 1);
    for (; aad_len >= 16; aad += 16, aad_len -= 16)
        ghash_push(k, &g, reverse_bytes(_mm_loadu_si128((const __m128i *)aad)));
    if (aad_len)
        ghash_push(k, &g, reverse_bytes(load_partial(aad, aad_len)));

    /* four blocks at a time, in registers */
    const bool whole = len >= 16; /* the partial block can be reached with whole-block loads */
    uint32_t ctr = 2;
    for (; len >= 64; len -= 64, in += 64, out += 64, ctr += 4) {
        __m128i b[4];
        counters(b, j0, ctr);
        aes4(k, b);
#define ONE(i) \
    do { \
        __m128i x = _mm_loadu_si128((const __m128i *)(in + 16 * i)); \
        __m128i y = _mm_xor_si128(x, b[i]); \
        _mm_storeu_si128((__m128i *)(out + 16 * i), y); \
        ghash_push(k, &g, reverse_bytes(open ? x : y)); \
    } while (0)
        ONE(0); ONE(1); ONE(2); ONE(3);
    }

    /* the last 0..3 full blocks, a partial one, and E(J0) */
    size_t full = len / 16, rem = len % 16, n = full + (rem != 0);
    __m128i b[5];
    counters(b, j0, ctr);
    b[n] = j0;
    if (n < 2)
        aes2(k, b);
    else if (n < 4)
        aes4(k, b);
    else {
        aes4(k, b);
        aes1(k, b + 4);
    }
    for (size_t i = 0; i < full; i++)
        ONE(i);
#undef ONE
    if (rem) {
        __m128i x, y;
        uint8_t *last = out + 16 * full;
        if (whole) {
            /* whole loads and stores ending at the message's end: the first
             * 16 - rem bytes are the block before, already done */
            __m128i slide_down = _mm_loadu_si128((const __m128i *)(slide + 16 - rem));
            __m128i slide_up = _mm_loadu_si128((const __m128i *)(slide + 16 + rem));
            x = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(in + 16 * full + rem - 16)), slide_down);
            y = _mm_xor_si128(x, b[full]);
            __m128i done = _mm_loadu_si128((const __m128i *)(last + rem - 16));
            _mm_storeu_si128((__m128i *)(last + rem - 16),
                             _mm_blendv_epi8(_mm_shuffle_epi8(y, slide_up), done, slide_up));
        } else {
            x = load_partial(in + 16 * full, rem);
            y = _mm_xor_si128(x, b[full]);
            store_partial(last, y, rem);
        }
        if (!open) /* the ciphertext, zero-padded */
            y = _mm_and_si128(y, _mm_loadu_si128((const __m128i *)(ones_then_zeros + 16 - rem)));
        ghash_push(k, &g, reverse_bytes(open ? x : y));
    }
    __m128i tag_mask = b[n];
    /* b[] held keystream, which is secret: cleared (volatile, not elided) */
    for (size_t i = 0; i < 5; i++)
        ((volatile __m128i *)b)[i] = _mm_setzero_si128();
    return _mm_xor_si128(reverse_bytes(ghash_last(k, &g, lengths)), tag_mask);
}

/* Each direction twice: as above, and with AVX's three-operand (VEX)
 * encoding, which spares most of the register copies that PCLMULQDQ and
 * AESENC's two operands cost (the helpers are inlined into either). */
#define DIRECTIONS(suffix, target)                                                                              \
    static target void seal_##suffix(const cg_gcm_key *k, const uint8_t *nonce, const uint8_t *aad,              \
                                     size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag) \
    {                                                                                                            \
        _mm_storeu_si128((__m128i *)tag, crypt(k, nonce, aad, aad_len, in, len, out, false));                   \
    }                                                                                                            \
    static target bool open_##suffix(const cg_gcm_key *k, const uint8_t *nonce, const uint8_t *aad,              \
                                     size_t aad_len, const uint8_t *in, size_t len, const uint8_t *tag,          \
                                     uint8_t *out)                                                               \
    {                                                                                                            \
        __m128i expected = _mm_loadu_si128((const __m128i *)tag);                                               \
        __m128i diff = _mm_xor_si128(expected, crypt(k, nonce, aad, aad_len, in, len, out, true));              \
        /* all bits at once: no early exit on a matching prefix */                                               \
        if (_mm_testz_si128(diff, diff))                                                                         \
            return true;                                                                                         \
        memset(out, 0, len);                                                                                     \
        return false;                                                                                            \
    }

DIRECTIONS(sse, TARGET)
DIRECTIONS(avx, TARGET_AVX)

void cg_gcm_seal(const cg_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
    if (k->avx)
        seal_avx(k, nonce, aad, aad_len, in, len, out, tag);
    else
        seal_sse(k, nonce, aad, aad_len, in, len, out, tag);
}

bool cg_gcm_open(const cg_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t len, const uint8_t tag[16], uint8_t *out)
{
    return k->avx ? open_avx(k, nonce, aad, aad_len, in, len, tag, out)
                  : open_sse(k, nonce, aad, aad_len, in, len, tag, out);
}

void cg_gcm_fast_allow_avx(bool allowed)
{
    avx_allowed = allowed;
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

void cg_gcm_fast_allow_avx(bool allowed)
{
    (void)allowed;
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
