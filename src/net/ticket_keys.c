#include "ticket_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>
#include <sodium.h>

#include "base/base.h"

#define IV_BYTES 12
#define TAG_BYTES 16
#define AES_BYTES 32
#define TABLE_SLOTS 64 /* > 2 * CG_TICKET_MAX_KEYS: probes stay short */
#define MAX_FILE (64u * 1024)

typedef struct ticket_key {
    unsigned char name[CG_TICKET_NAME_BYTES];
    unsigned char aes[AES_BYTES];
} ticket_key;

struct cg_ticket_keys {
    size_t n;
    ticket_key keys[CG_TICKET_MAX_KEYS]; /* keys[0] seals */
    signed char slot[TABLE_SLOTS];       /* index into keys by name, -1: empty */
};

/* ---- AES-256-GCM: libsodium's where the CPU allows it, else mbedTLS's ----
 * The same cipher, nonce, tag and additional data either way, so a ticket
 * sealed by one opens with the other (instances on different CPUs, and the
 * tickets of earlier versions). libsodium's (AES-NI + PCLMUL, four blocks
 * per GHASH step) opens a 3 KiB ticket (a client chain) in about 2 µs;
 * mbedTLS 3.6's one-block GHASH takes about 11, a tenth of a resumed
 * handshake. */

static bool sodium_gcm_ok;
static void sodium_gcm_probe(void) { sodium_gcm_ok = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available(); }

static bool sodium_gcm(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sodium_gcm_probe);
    return sodium_gcm_ok;
}

/* In place: buf (n bytes) encrypted, the tag written to tag. */
static bool gcm_seal(const unsigned char aes[AES_BYTES], const unsigned char iv[IV_BYTES], const unsigned char *aad,
                     size_t aad_len, unsigned char *buf, size_t n, unsigned char tag[TAG_BYTES])
{
    if (sodium_gcm())
        return crypto_aead_aes256gcm_encrypt_detached(buf, tag, NULL, buf, n, aad, aad_len, NULL, iv, aes) == 0;
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, aes, AES_BYTES * 8);
    if (ret == 0)
        ret = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, n, iv, IV_BYTES, aad, aad_len, buf, buf, TAG_BYTES,
                                        tag);
    mbedtls_gcm_free(&gcm); /* zeroizes the expanded key */
    return ret == 0;
}

/* In place: buf (n bytes) decrypted if tag authenticates it and aad; else
 * CG_TICKET_INVALID with buf zeroed. */
static cg_ticket_status gcm_open(const unsigned char aes[AES_BYTES], const unsigned char iv[IV_BYTES],
                                 const unsigned char *aad, size_t aad_len, unsigned char *buf, size_t n,
                                 const unsigned char tag[TAG_BYTES])
{
    if (sodium_gcm()) {
        if (crypto_aead_aes256gcm_decrypt_detached(buf, NULL, buf, n, tag, aad, aad_len, iv, aes) == 0)
            return CG_TICKET_OK;
        mbedtls_platform_zeroize(buf, n);
        return CG_TICKET_INVALID;
    }
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, aes, AES_BYTES * 8);
    if (ret == 0)
        ret = mbedtls_gcm_auth_decrypt(&gcm, n, iv, IV_BYTES, aad, aad_len, tag, TAG_BYTES, buf, buf);
    mbedtls_gcm_free(&gcm);
    if (ret == MBEDTLS_ERR_GCM_AUTH_FAILED)
        return CG_TICKET_INVALID; /* mbedTLS zeroed the output */
    return ret == 0 ? CG_TICKET_OK : CG_TICKET_FAILED;
}

static size_t name_hash(const unsigned char *name)
{
    /* Names are random bytes: two of them are a good enough hash. */
    return ((size_t)name[0] | (size_t)name[1] << 8) % TABLE_SLOTS;
}

static const ticket_key *find_key(const cg_ticket_keys *k, const unsigned char *name)
{
    for (size_t i = name_hash(name), probes = 0; probes < TABLE_SLOTS; i = (i + 1) % TABLE_SLOTS, probes++) {
        if (k->slot[i] < 0)
            return NULL;
        const ticket_key *key = &k->keys[(size_t)k->slot[i]];
        if (memcmp(key->name, name, CG_TICKET_NAME_BYTES) == 0)
            return key;
    }
    return NULL;
}

void cg_ticket_keys_free(cg_ticket_keys *k)
{
    if (!k)
        return;
    mbedtls_platform_zeroize(k, sizeof *k);
    free(k);
}

size_t cg_ticket_keys_count(const cg_ticket_keys *k) { return k ? k->n : 0; }

void cg_ticket_keys_id(const cg_ticket_keys *k, size_t i, char out[9])
{
    if (!k || i >= k->n) {
        snprintf(out, 9, "-");
        return;
    }
    cg_hex_encode(k->keys[i].name, 4, out, 9, false);
}

/* Appends a key (name | AES key, as in the file); the caller checked the
 * room and that the name is new. */
static void add_key(cg_ticket_keys *k, const unsigned char raw[CG_TICKET_KEY_BYTES])
{
    ticket_key *key = &k->keys[k->n];
    memcpy(key->name, raw, CG_TICKET_NAME_BYTES);
    memcpy(key->aes, raw + CG_TICKET_NAME_BYTES, AES_BYTES);
    size_t i = name_hash(key->name);
    while (k->slot[i] >= 0)
        i = (i + 1) % TABLE_SLOTS;
    k->slot[i] = (signed char)k->n;
    k->n++;
}

cg_ticket_keys *cg_ticket_keys_parse(const char *text, size_t len, char *err, size_t cap)
{
    cg_ticket_keys *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    memset(k->slot, -1, sizeof k->slot);
    unsigned lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl != NULL);
        lineno++;
        while (n && (line[0] == ' ' || line[0] == '\t'))
            line++, n--;
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        unsigned char raw[CG_TICKET_KEY_BYTES + 3];
        size_t got = 0;
        if (n > 2 * CG_TICKET_KEY_BYTES ||
            mbedtls_base64_decode(raw, sizeof raw, &got, (const unsigned char *)line, n) != 0 ||
            got != CG_TICKET_KEY_BYTES) {
            mbedtls_platform_zeroize(raw, sizeof raw);
            snprintf(err, cap,
                     "line %u: not a key (expected the base64 text of %d random bytes on one line, as "
                     "`certgate ticket-key generate` or `openssl rand -base64 %d` writes)",
                     lineno, CG_TICKET_KEY_BYTES, CG_TICKET_KEY_BYTES);
            cg_ticket_keys_free(k);
            return NULL;
        }
        if (k->n == CG_TICKET_MAX_KEYS) {
            mbedtls_platform_zeroize(raw, sizeof raw);
            snprintf(err, cap, "line %u: more than %d keys (keep only those of the last ticket lifetime)", lineno,
                     CG_TICKET_MAX_KEYS);
            cg_ticket_keys_free(k);
            return NULL;
        }
        if (find_key(k, raw)) {
            mbedtls_platform_zeroize(raw, sizeof raw);
            snprintf(err, cap, "line %u: the same key (or key name) is listed twice", lineno);
            cg_ticket_keys_free(k);
            return NULL;
        }
        add_key(k, raw);
        mbedtls_platform_zeroize(raw, sizeof raw);
    }
    if (k->n == 0) {
        snprintf(err, cap, "no key in the file (one line per key: `certgate ticket-key generate`)");
        cg_ticket_keys_free(k);
        return NULL;
    }
    return k;
}

cg_ticket_keys *cg_ticket_keys_load(const char *path, char *err, size_t cap)
{
    cg_file_error fe;
    size_t len = 0;
    char *buf = (char *)cg_file_read(path, MAX_FILE, CG_FILE_SECRET, &len, &fe);
    cg_ticket_keys *k = NULL;
    if (buf)
        k = cg_ticket_keys_parse(buf, len, err, cap);
    else if (fe.fail == CG_FILE_NOMEM)
        snprintf(err, cap, "out of memory");
    else if (fe.fail == CG_FILE_OVER_MAX)
        snprintf(err, cap, "the file is larger than %u bytes: not a key file", MAX_FILE);
    else
        snprintf(err, cap, "cannot read the file: %s", strerror(fe.err));
    if (buf) {
        mbedtls_platform_zeroize(buf, len);
        free(buf);
    }
    return k;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* name | IV | context */
static void make_aad(unsigned char aad[CG_TICKET_NAME_BYTES + IV_BYTES + CG_TICKET_CONTEXT_BYTES],
                     const unsigned char *name_iv, const unsigned char *context)
{
    memcpy(aad, name_iv, CG_TICKET_NAME_BYTES + IV_BYTES);
    memcpy(aad + CG_TICKET_NAME_BYTES + IV_BYTES, context, CG_TICKET_CONTEXT_BYTES);
}

/* With a copy of one key: the caller zeroizes it. */
static cg_ticket_status seal_with(const ticket_key *key, const unsigned char *context, uint64_t issued,
                                  cg_ticket_rng rng, void *rng_ctx, unsigned char *buf, size_t cap, size_t n,
                                  size_t *out_len)
{
    if (cap < CG_TICKET_OVERHEAD || n > cap - CG_TICKET_OVERHEAD)
        return CG_TICKET_NO_ROOM;
    unsigned char *iv = buf + CG_TICKET_NAME_BYTES, *sealed = iv + IV_BYTES;
    memcpy(buf, key->name, CG_TICKET_NAME_BYTES);
    if (rng(rng_ctx, iv, IV_BYTES) != 0)
        return CG_TICKET_FAILED;
    put_be64(sealed, issued);
    size_t plain = 8 + n;
    unsigned char aad[CG_TICKET_NAME_BYTES + IV_BYTES + CG_TICKET_CONTEXT_BYTES];
    make_aad(aad, buf, context);
    if (!gcm_seal(key->aes, iv, aad, sizeof aad, sealed, plain, sealed + plain))
        return CG_TICKET_FAILED;
    *out_len = CG_TICKET_NAME_BYTES + IV_BYTES + plain + TAG_BYTES;
    return CG_TICKET_OK;
}

static cg_ticket_status open_with(const ticket_key *key, const unsigned char *context, uint64_t now,
                                  uint32_t lifetime_s, unsigned char *ticket, size_t len, unsigned char **payload,
                                  size_t *payload_len)
{
    unsigned char *iv = ticket + CG_TICKET_NAME_BYTES, *sealed = iv + IV_BYTES;
    size_t plain = len - CG_TICKET_OVERHEAD + 8;
    unsigned char aad[CG_TICKET_NAME_BYTES + IV_BYTES + CG_TICKET_CONTEXT_BYTES];
    make_aad(aad, ticket, context);
    cg_ticket_status st = gcm_open(key->aes, iv, aad, sizeof aad, sealed, plain, sealed + plain);
    if (st != CG_TICKET_OK)
        return st;
    uint64_t issued = get_be64(sealed);
    /* Instances' clocks differ a little: a ticket from one slightly ahead is not "from the future". */
    if (issued > now + CG_TICKET_CLOCK_SKEW_S || (now > issued && now - issued > lifetime_s)) {
        mbedtls_platform_zeroize(sealed, plain);
        return CG_TICKET_EXPIRED;
    }
    *payload = sealed + 8;
    *payload_len = plain - 8;
    return CG_TICKET_OK;
}

cg_ticket_status cg_ticket_seal(const cg_ticket_keys *k, const unsigned char context[CG_TICKET_CONTEXT_BYTES],
                                uint64_t issued, cg_ticket_rng rng, void *rng_ctx, unsigned char *buf, size_t cap,
                                size_t n, size_t *out_len)
{
    return seal_with(&k->keys[0], context, issued, rng, rng_ctx, buf, cap, n, out_len);
}

cg_ticket_status cg_ticket_open(const cg_ticket_keys *k, const unsigned char context[CG_TICKET_CONTEXT_BYTES],
                                uint64_t now, uint32_t lifetime_s, unsigned char *ticket, size_t len,
                                unsigned char **payload, size_t *payload_len)
{
    if (len < CG_TICKET_OVERHEAD)
        return CG_TICKET_INVALID;
    const ticket_key *key = find_key(k, ticket);
    if (!key)
        return CG_TICKET_UNKNOWN_KEY;
    return open_with(key, context, now, lifetime_s, ticket, len, payload, payload_len);
}

const char *cg_ticket_status_text(cg_ticket_status st)
{
    switch (st) {
    case CG_TICKET_OK: return "ok";
    case CG_TICKET_UNKNOWN_KEY: return "unknown_key";
    case CG_TICKET_INVALID: return "invalid";
    case CG_TICKET_EXPIRED: return "expired";
    case CG_TICKET_NO_ROOM: return "no_room";
    case CG_TICKET_FAILED: return "failed";
    }
    return "?";
}

/* ---- the key set in force ---- */

struct cg_ticket_keyring {
    pthread_mutex_t mu;       /* guards keys (and made): held to copy one key out */
    cg_ticket_keys *keys;
    char *path;               /* NULL: a ring of random keys (cg_ticket_keyring_new_random) */
    uint32_t rotate_s;        /* random ring: a new sealing key after this many seconds */
    uint64_t made;            /* random ring: when keys[0] was made */
    struct stat seen;         /* the file at the last check (loaded or not) */
    bool seen_ok;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

cg_ticket_keyring *cg_ticket_keyring_new(const char *path, char *err, size_t cap)
{
    cg_ticket_keyring *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    /* stat before reading: a change while it is read is seen at the next check. */
    r->seen_ok = stat(path, &r->seen) == 0;
    if (!(r->keys = cg_ticket_keys_load(path, err, cap))) {
        free(r->path);
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

/* A random sealing key first, then the one it replaces (if any): the
 * previous key still opens the tickets of the last period. */
static cg_ticket_keys *random_keys(const ticket_key *previous, cg_ticket_rng rng, void *rng_ctx)
{
    cg_ticket_keys *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    memset(k->slot, -1, sizeof k->slot);
    unsigned char raw[CG_TICKET_KEY_BYTES];
    if (rng(rng_ctx, raw, sizeof raw) != 0) {
        cg_ticket_keys_free(k);
        return NULL;
    }
    add_key(k, raw);
    mbedtls_platform_zeroize(raw, sizeof raw);
    if (previous && memcmp(previous->name, k->keys[0].name, CG_TICKET_NAME_BYTES) != 0) {
        memcpy(raw, previous->name, CG_TICKET_NAME_BYTES);
        memcpy(raw + CG_TICKET_NAME_BYTES, previous->aes, AES_BYTES);
        add_key(k, raw);
        mbedtls_platform_zeroize(raw, sizeof raw);
    }
    return k;
}

cg_ticket_keyring *cg_ticket_keyring_new_random(uint32_t rotate_s, cg_ticket_rng rng, void *rng_ctx, char *err,
                                                size_t cap)
{
    cg_ticket_keyring *r = calloc(1, sizeof *r);
    if (!r || !(r->keys = random_keys(NULL, rng, rng_ctx))) {
        free(r);
        snprintf(err, cap, "no random ticket key (out of memory, or the random generator failed)");
        return NULL;
    }
    r->rotate_s = rotate_s ? rotate_s : 1;
    r->made = (uint64_t)time(NULL);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

/* A random ring whose sealing key is older than its period gets a new one
 * (under the lock; the old key is zeroized when its set is freed). Keeps
 * the old key when the new one cannot be made: tickets keep working. */
static void rotate_if_due(cg_ticket_keyring *r, cg_ticket_rng rng, void *rng_ctx)
{
    if (r->path)
        return;
    uint64_t now = (uint64_t)time(NULL);
    pthread_mutex_lock(&r->mu);
    if (now >= r->made && now - r->made >= r->rotate_s) {
        cg_ticket_keys *next = random_keys(&r->keys->keys[0], rng, rng_ctx);
        if (next) {
            cg_ticket_keys_free(r->keys);
            r->keys = next;
            r->made = now;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

void cg_ticket_keyring_free(cg_ticket_keyring *r)
{
    if (!r)
        return;
    cg_ticket_keys_free(r->keys);
    pthread_mutex_destroy(&r->mu);
    free(r->path);
    free(r);
}

const char *cg_ticket_keyring_path(const cg_ticket_keyring *r) { return r->path; }

cg_keyring_result cg_ticket_keyring_refresh(cg_ticket_keyring *r, bool force, size_t *nkeys, char *err, size_t cap)
{
    if (!r->path) {
        pthread_mutex_lock(&r->mu);
        *nkeys = r->keys->n;
        pthread_mutex_unlock(&r->mu);
        return CG_KEYRING_UNCHANGED; /* random keys: no file */
    }
    struct stat st;
    bool ok = stat(r->path, &st) == 0;
    int stat_errno = errno;
    pthread_mutex_lock(&r->mu);
    *nkeys = r->keys->n;
    pthread_mutex_unlock(&r->mu);
    if (!force && ok == r->seen_ok && (!ok || same_file(&st, &r->seen)))
        return CG_KEYRING_UNCHANGED;
    r->seen_ok = ok;
    if (ok)
        r->seen = st;
    cg_ticket_keys *next = ok ? cg_ticket_keys_load(r->path, err, cap) : NULL;
    if (!ok)
        snprintf(err, cap, "cannot read the file: %s", strerror(stat_errno));
    if (!next)
        return CG_KEYRING_KEPT;
    pthread_mutex_lock(&r->mu);
    cg_ticket_keys *old = r->keys;
    r->keys = next;
    pthread_mutex_unlock(&r->mu);
    *nkeys = next->n;
    cg_ticket_keys_free(old);
    return CG_KEYRING_REPLACED;
}

cg_ticket_status cg_ticket_keyring_seal(cg_ticket_keyring *r, const unsigned char context[CG_TICKET_CONTEXT_BYTES],
                                        uint64_t issued, cg_ticket_rng rng, void *rng_ctx, unsigned char *buf,
                                        size_t cap, size_t n, size_t *out_len)
{
    ticket_key key;
    rotate_if_due(r, rng, rng_ctx);
    pthread_mutex_lock(&r->mu);
    key = r->keys->keys[0];
    pthread_mutex_unlock(&r->mu);
    cg_ticket_status st = seal_with(&key, context, issued, rng, rng_ctx, buf, cap, n, out_len);
    mbedtls_platform_zeroize(&key, sizeof key);
    return st;
}

cg_ticket_status cg_ticket_keyring_open(cg_ticket_keyring *r, const unsigned char context[CG_TICKET_CONTEXT_BYTES],
                                        uint64_t now, uint32_t lifetime_s, unsigned char *ticket, size_t len,
                                        unsigned char **payload, size_t *payload_len)
{
    if (len < CG_TICKET_OVERHEAD)
        return CG_TICKET_INVALID;
    ticket_key key;
    pthread_mutex_lock(&r->mu);
    const ticket_key *found = find_key(r->keys, ticket);
    if (found)
        key = *found;
    pthread_mutex_unlock(&r->mu);
    if (!found)
        return CG_TICKET_UNKNOWN_KEY;
    cg_ticket_status st = open_with(&key, context, now, lifetime_s, ticket, len, payload, payload_len);
    mbedtls_platform_zeroize(&key, sizeof key);
    return st;
}
