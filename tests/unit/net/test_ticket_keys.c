/* Unit tests for src/net/ticket_keys.c: the key file, sealing and opening
 * tickets (wrong key, altered, truncated, other context, expired), and the
 * key ring's refresh (a bad file never replaces a good key set), the ring of
 * random keys that rotates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>

#include "net/ticket_keys.h"

/* 48 bytes each: names 00.., 11.., 22.. (the first 16 bytes). */
#define KEY_A "AAAAAAAAAAAAAAAAAAAAAEFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
#define KEY_B "ERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERER"
#define KEY_C "IiIiIiIiIiIiIiIiIiIiIkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC"

static const unsigned char ctx1[CG_TICKET_CONTEXT_BYTES] = { 1 };
static const unsigned char ctx2[CG_TICKET_CONTEXT_BYTES] = { 2 };

static int counter_rng(void *ctx, unsigned char *out, size_t n)
{
    unsigned *c = ctx;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(++*c * 131u);
    return 0;
}

static cg_ticket_keys *parse(const char *text)
{
    char err[300];
    cg_ticket_keys *k = cg_ticket_keys_parse(text, strlen(text), err, sizeof err);
    if (!k)
        fprintf(stderr, "parse: %s\n", err);
    return k;
}

static size_t seal(const cg_ticket_keys *k, const unsigned char *ctx, uint64_t issued, const char *payload,
                   unsigned char *buf, size_t cap)
{
    static unsigned counter;
    size_t n = strlen(payload), out = 0;
    memcpy(buf + CG_TICKET_PAYLOAD_OFFSET, payload, n);
    assert_int_equal(cg_ticket_seal(k, ctx, issued, counter_rng, &counter, buf, cap, n, &out), CG_TICKET_OK);
    assert_int_equal(out, n + CG_TICKET_OVERHEAD);
    return out;
}

static void test_parse_file(void **state)
{
    (void)state;
    cg_ticket_keys *k = parse("# rotated 2026-01-01\n\n  " KEY_A "  \r\n" KEY_B "\n");
    assert_non_null(k);
    assert_int_equal(cg_ticket_keys_count(k), 2);
    char id[9];
    cg_ticket_keys_id(k, 0, id);
    assert_string_equal(id, "00000000");
    cg_ticket_keys_id(k, 1, id);
    assert_string_equal(id, "11111111");
    cg_ticket_keys_free(k);

    char err[300];
    static const char *const bad[] = {
        "",                                 /* no key */
        "# only a comment\n",
        "not base64!\n",
        KEY_A "\nAAAA\n",                   /* a short key: line 2 */
        KEY_A KEY_A "\n",                   /* two keys on one line */
        KEY_A "\n" KEY_A "\n",              /* twice */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_null(cg_ticket_keys_parse(bad[i], strlen(bad[i]), err, sizeof err));
        assert_true(err[0] != '\0');
    }
    assert_null(cg_ticket_keys_parse(KEY_A "\nAAAA\n", 10 + 65, err, sizeof err));
    assert_non_null(strstr(err, "line 2"));
    assert_null(cg_ticket_keys_parse(KEY_A "\n" KEY_A "\n", 130, err, sizeof err));
    assert_non_null(strstr(err, "twice"));

    /* More than CG_TICKET_MAX_KEYS keys: refused. */
    char many[(CG_TICKET_MAX_KEYS + 1) * 65 + 1];
    size_t len = 0;
    for (int i = 0; i <= CG_TICKET_MAX_KEYS; i++) {
        char line[66];
        snprintf(line, sizeof line, "%s", KEY_C);
        line[0] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"[i]; /* another name each */
        memcpy(many + len, line, 64);
        many[len + 64] = '\n';
        len += 65;
    }
    assert_null(cg_ticket_keys_parse(many, len, err, sizeof err));
    assert_non_null(strstr(err, "more than"));
    assert_non_null(k = cg_ticket_keys_parse(many, len - 65, err, sizeof err));
    assert_int_equal(cg_ticket_keys_count(k), CG_TICKET_MAX_KEYS);
    cg_ticket_keys_free(k);
}

static void test_seal_open(void **state)
{
    (void)state;
    cg_ticket_keys *ab = parse(KEY_A "\n" KEY_B "\n"), *ba = parse(KEY_B "\n" KEY_A "\n"), *c = parse(KEY_C "\n");
    unsigned char buf[256], copy[256], *payload;
    size_t plen;
    size_t n = seal(ab, ctx1, 1000, "session bytes", buf, sizeof buf);
    assert_memory_equal(buf, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16); /* sealed with the FIRST key: A */
    memcpy(copy, buf, n);
    assert_int_equal(cg_ticket_open(ab, ctx1, 1000, 3600, buf, n, &payload, &plen), CG_TICKET_OK);
    assert_int_equal(plen, 13);
    assert_memory_equal(payload, "session bytes", 13);

    /* Any key of the set opens: B first, A still listed (rotation). */
    memcpy(buf, copy, n);
    assert_int_equal(cg_ticket_open(ba, ctx1, 1000, 3600, buf, n, &payload, &plen), CG_TICKET_OK);
    /* A key set without its name: unknown key. */
    memcpy(buf, copy, n);
    assert_int_equal(cg_ticket_open(c, ctx1, 1000, 3600, buf, n, &payload, &plen), CG_TICKET_UNKNOWN_KEY);
    /* Sealed for another context (another listener, other client CAs). */
    memcpy(buf, copy, n);
    assert_int_equal(cg_ticket_open(ab, ctx2, 1000, 3600, buf, n, &payload, &plen), CG_TICKET_INVALID);

    /* Every byte after the name altered: refused (IV, time, payload, tag). */
    for (size_t i = CG_TICKET_NAME_BYTES; i < n; i++) {
        memcpy(buf, copy, n);
        buf[i] ^= 0x01;
        assert_int_equal(cg_ticket_open(ab, ctx1, 1000, 3600, buf, n, &payload, &plen), CG_TICKET_INVALID);
    }
    /* Truncated anywhere: refused, never read past the end. */
    for (size_t cut = 0; cut < n; cut++) {
        unsigned char *t = malloc(cut ? cut : 1);
        memcpy(t, copy, cut);
        assert_int_equal(cg_ticket_open(ab, ctx1, 1000, 3600, t, cut, &payload, &plen), CG_TICKET_INVALID);
        free(t);
    }
    /* A key name that matches but the wrong key under it (a file edited by hand). */
    cg_ticket_keys *a2 = parse("AAAAAAAAAAAAAAAAAAAAAEJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC\n");
    memcpy(buf, copy, n);
    assert_int_equal(cg_ticket_open(a2, ctx1, 1000, 3600, buf, n, &payload, &plen), CG_TICKET_INVALID);

    cg_ticket_keys_free(ab);
    cg_ticket_keys_free(ba);
    cg_ticket_keys_free(c);
    cg_ticket_keys_free(a2);
}

static void test_lifetime(void **state)
{
    (void)state;
    cg_ticket_keys *k = parse(KEY_A "\n");
    unsigned char buf[128], copy[128], *payload;
    size_t plen;
    size_t n = seal(k, ctx1, 100000, "x", buf, sizeof buf);
    memcpy(copy, buf, n);
    assert_int_equal(cg_ticket_open(k, ctx1, 103600, 3600, buf, n, &payload, &plen), CG_TICKET_OK); /* at the end */
    memcpy(buf, copy, n);
    assert_int_equal(cg_ticket_open(k, ctx1, 103601, 3600, buf, n, &payload, &plen), CG_TICKET_EXPIRED);
    /* From another instance whose clock is a little ahead: accepted... */
    memcpy(buf, copy, n);
    assert_int_equal(cg_ticket_open(k, ctx1, 100000 - CG_TICKET_CLOCK_SKEW_S, 3600, buf, n, &payload, &plen),
                     CG_TICKET_OK);
    /* ...but not from far in the future. */
    memcpy(buf, copy, n);
    assert_int_equal(cg_ticket_open(k, ctx1, 100000 - CG_TICKET_CLOCK_SKEW_S - 1, 3600, buf, n, &payload, &plen),
                     CG_TICKET_EXPIRED);
    /* No room: the payload and its overhead must fit. */
    size_t out;
    unsigned counter = 0;
    assert_int_equal(cg_ticket_seal(k, ctx1, 1, counter_rng, &counter, buf, CG_TICKET_OVERHEAD + 3, 4, &out),
                     CG_TICKET_NO_ROOM);
    assert_int_equal(cg_ticket_seal(k, ctx1, 1, counter_rng, &counter, buf, 10, 0, &out), CG_TICKET_NO_ROOM);
    cg_ticket_keys_free(k);
}

/* The ticket is AES-256-GCM as ticket_keys.h describes it, whichever
 * implementation sealed it (libsodium's where the CPU allows, else
 * mbedTLS's): byte for byte what mbedTLS's GCM makes of the same key, IV,
 * additional data and plaintext, and a ticket made that way opens. Sizes
 * around the block multiples and a client chain's 3 KiB. */
static void test_same_cipher_as_mbedtls(void **state)
{
    (void)state;
    cg_ticket_keys *k = parse(KEY_A "\n");
    unsigned char raw[48];
    size_t got;
    assert_int_equal(mbedtls_base64_decode(raw, sizeof raw, &got, (const unsigned char *)KEY_A, strlen(KEY_A)), 0);
    assert_int_equal(got, 48);
    const size_t sizes[] = { 0, 1, 8, 15, 16, 17, 63, 64, 65, 127, 128, 129, 1000, 3072, 3333 };
    static unsigned char buf[4096], want[4096], plain[4096];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s], out = 0;
        for (size_t i = 0; i < n; i++)
            plain[i] = (unsigned char)(i * 7 + s);
        unsigned counter = (unsigned)(s * 40), again = counter;
        memcpy(buf + CG_TICKET_PAYLOAD_OFFSET, plain, n);
        assert_int_equal(cg_ticket_seal(k, ctx1, 0x0102030405060708u, counter_rng, &counter, buf, sizeof buf, n, &out),
                         CG_TICKET_OK);
        assert_int_equal(out, n + CG_TICKET_OVERHEAD);

        /* the same ticket by hand: name | IV | GCM(issued | payload) | tag */
        memcpy(want, raw, 16);
        assert_int_equal(counter_rng(&again, want + 16, 12), 0);
        const unsigned char issued[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        memcpy(want + 28, issued, 8);
        memcpy(want + 36, plain, n);
        unsigned char aad[16 + 12 + CG_TICKET_CONTEXT_BYTES];
        memcpy(aad, want, 28);
        memcpy(aad + 28, ctx1, CG_TICKET_CONTEXT_BYTES);
        mbedtls_gcm_context gcm;
        mbedtls_gcm_init(&gcm);
        assert_int_equal(mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, raw + 16, 256), 0);
        assert_int_equal(mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, 8 + n, want + 16, 12, aad, sizeof aad,
                                                   want + 28, want + 28, 16, want + 36 + n),
                         0);
        mbedtls_gcm_free(&gcm);
        assert_memory_equal(buf, want, out);

        /* and mbedTLS's ticket opens */
        unsigned char *payload;
        size_t plen;
        assert_int_equal(cg_ticket_open(k, ctx1, 0x0102030405060708u, 3600, want, out, &payload, &plen), CG_TICKET_OK);
        assert_int_equal(plen, n);
        if (n)
            assert_memory_equal(payload, plain, n);
    }
    mbedtls_platform_zeroize(raw, sizeof raw);
    cg_ticket_keys_free(k);
}

static char dir[64];

static void write_file(const char *path, const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* a new inode: seen as a change even within one mtime tick */
}

static void test_keyring_refresh(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cg-unit-tickets-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128], err[300];
    snprintf(path, sizeof path, "%s/ticket.keys", dir);
    assert_null(cg_ticket_keyring_new(path, err, sizeof err)); /* missing */
    assert_non_null(strstr(err, "cannot read"));
    write_file(path, KEY_A "\n");
    cg_ticket_keyring *r = cg_ticket_keyring_new(path, err, sizeof err);
    assert_non_null(r);

    unsigned char buf[128], *payload;
    size_t n, plen, nkeys;
    unsigned counter = 0;
    memcpy(buf + CG_TICKET_PAYLOAD_OFFSET, "old", 3);
    assert_int_equal(cg_ticket_keyring_seal(r, ctx1, 50, counter_rng, &counter, buf, sizeof buf, 3, &n), CG_TICKET_OK);
    unsigned char old_ticket[128];
    memcpy(old_ticket, buf, n);

    assert_int_equal(cg_ticket_keyring_refresh(r, false, &nkeys, err, sizeof err), CG_KEYRING_UNCHANGED);
    assert_int_equal(nkeys, 1);

    /* Rotation: B on top, A kept. New tickets under B; old ones still open. */
    write_file(path, KEY_B "\n" KEY_A "\n");
    assert_int_equal(cg_ticket_keyring_refresh(r, false, &nkeys, err, sizeof err), CG_KEYRING_REPLACED);
    assert_int_equal(nkeys, 2);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 60, 3600, buf, n, &payload, &plen), CG_TICKET_OK);
    memcpy(buf + CG_TICKET_PAYLOAD_OFFSET, "new", 3);
    assert_int_equal(cg_ticket_keyring_seal(r, ctx1, 60, counter_rng, &counter, buf, sizeof buf, 3, &n), CG_TICKET_OK);
    assert_int_equal(buf[0], 0x11);
    unsigned char new_ticket[128];
    memcpy(new_ticket, buf, n);

    /* A corrupt file: reported once, the keys in force stay. */
    write_file(path, "garbage\n");
    err[0] = '\0';
    assert_int_equal(cg_ticket_keyring_refresh(r, false, &nkeys, err, sizeof err), CG_KEYRING_KEPT);
    assert_non_null(strstr(err, "line 1"));
    assert_int_equal(nkeys, 2);
    assert_int_equal(cg_ticket_keyring_refresh(r, false, &nkeys, err, sizeof err), CG_KEYRING_UNCHANGED);
    memcpy(buf, new_ticket, n);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 60, 3600, buf, n, &payload, &plen), CG_TICKET_OK);
    /* Gone: kept too. */
    unlink(path);
    assert_int_equal(cg_ticket_keyring_refresh(r, false, &nkeys, err, sizeof err), CG_KEYRING_KEPT);
    assert_int_equal(nkeys, 2);

    /* A retired: its tickets no longer open; B's do. */
    write_file(path, KEY_B "\n");
    assert_int_equal(cg_ticket_keyring_refresh(r, false, &nkeys, err, sizeof err), CG_KEYRING_REPLACED);
    assert_int_equal(nkeys, 1);
    memcpy(buf, old_ticket, sizeof old_ticket);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 60, 3600, buf, n, &payload, &plen), CG_TICKET_UNKNOWN_KEY);
    memcpy(buf, new_ticket, n);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 60, 3600, buf, n, &payload, &plen), CG_TICKET_OK);
    assert_memory_equal(payload, "new", 3);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 60, 3600, buf, 10, &payload, &plen), CG_TICKET_INVALID);
    cg_ticket_keyring_free(r);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A ring without a file: random keys, a new sealing key once the period
 * is over, the previous one still opening its tickets, the one before
 * that gone. Waits for the wall clock (the period is 1 s; about 4 s). */
static void test_random_ring(void **state)
{
    (void)state;
    char err[200];
    unsigned counter = 0;
    cg_ticket_keyring *r = cg_ticket_keyring_new_random(1, counter_rng, &counter, err, sizeof err);
    assert_non_null(r);
    assert_null(cg_ticket_keyring_path(r));
    size_t nkeys = 0;
    assert_int_equal(cg_ticket_keyring_refresh(r, true, &nkeys, err, sizeof err), CG_KEYRING_UNCHANGED);
    assert_int_equal(nkeys, 1);

    unsigned char t1[128], t2[128], t3[128], copy[128], *payload;
    size_t n1, n2, n3, plen;
    memcpy(t1 + CG_TICKET_PAYLOAD_OFFSET, "one", 3);
    assert_int_equal(cg_ticket_keyring_seal(r, ctx1, 1000, counter_rng, &counter, t1, sizeof t1, 3, &n1), CG_TICKET_OK);
    memcpy(copy, t1, n1);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 1000, 3600, copy, n1, &payload, &plen), CG_TICKET_OK);
    assert_memory_equal(payload, "one", 3);

    sleep(2);
    memcpy(t2 + CG_TICKET_PAYLOAD_OFFSET, "two", 3);
    assert_int_equal(cg_ticket_keyring_seal(r, ctx1, 1000, counter_rng, &counter, t2, sizeof t2, 3, &n2), CG_TICKET_OK);
    assert_memory_not_equal(t1, t2, CG_TICKET_NAME_BYTES); /* a new key sealed it */
    memcpy(copy, t1, n1);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 1000, 3600, copy, n1, &payload, &plen), CG_TICKET_OK);

    sleep(2);
    memcpy(t3 + CG_TICKET_PAYLOAD_OFFSET, "six", 3);
    assert_int_equal(cg_ticket_keyring_seal(r, ctx1, 1000, counter_rng, &counter, t3, sizeof t3, 3, &n3), CG_TICKET_OK);
    memcpy(copy, t1, n1);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 1000, 3600, copy, n1, &payload, &plen), CG_TICKET_UNKNOWN_KEY);
    memcpy(copy, t2, n2);
    assert_int_equal(cg_ticket_keyring_open(r, ctx1, 1000, 3600, copy, n2, &payload, &plen), CG_TICKET_OK);
    assert_memory_equal(payload, "two", 3);
    cg_ticket_keyring_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_seal_open),
        cmocka_unit_test(test_same_cipher_as_mbedtls),
        cmocka_unit_test(test_lifetime),
        cmocka_unit_test(test_keyring_refresh),
        cmocka_unit_test(test_random_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
