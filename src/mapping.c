/* Certificate -> Kerberos principal mapping (docs/mapping.md).
 *
 * A mapping file has one-to-one entries (a certificate named by its
 * SHA-256, or by an AD-style strong key: issuer + serial, subject key
 * identifier, SHA-1 of the public key, issuer + subject, RFC 822 name), then
 * ordered many-to-one mappings (allow or deny, rules over subject / issuer /
 * SAN sub-fields with "*" and "?" wildcards). Precedence: the earliest
 * matching one-to-one entry, else the first matching many-to-one mapping,
 * else "no mapping" (401.2, or 403 if the file says so).
 *
 * Safety rests on one rule: certificate fields are compared as the text
 * their DER values decode to, never as mbedtls_x509_dn_gets() prints them
 * (it replaces bytes with '?' and stops at NUL). A value that does not
 * decode to UTF-8 free of control characters is "undecodable": it never
 * matches, never goes into a principal, and when certgate cannot tell
 * whether a mapping would have matched without it, mapping stops with "no
 * mapping" rather than fall through to a later (possibly allowing) mapping.
 *
 * Layout of this file: text utilities; certificate fields (decoding, the
 * per-certificate view, canonical DNs); wildcard patterns; principal
 * templates; the loaded structure and its hash table; the YAML loader;
 * mapping a certificate; explaining it.
 */
#include "mapping.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <yaml.h>

#include "dn.h"
#include "mapping_text.h"
#include "glob.h"
#include "cert_view.h"
#include "cert_key.h"
#include "principal.h"
#include "cert_text.h"
#include "mapping_priv.h"
#include "verify.h"
#include "yaml_doc.h"

/* Bounds. Each is far beyond real use; past them the input is a mistake or
 * an attack, and a fixed bound keeps mapping free of allocation. */
#define CG_PATTERN_MAX     1024    /* bytes of one rule pattern */
#define CG_RULES_MAX       32      /* rules in one many-to-one mapping */
#define CG_DETAIL_MAPPINGS 3       /* many-to-one mappings explained in a 401 detail */
#define CG_CERT_FILE_MAX   (1u << 20)   /* a certificate_file */
#define CG_MAPPING_FILE_MAX (256u << 20) /* 1,000,000 entries fit */

/* "#" + hex of the value's BER encoding, as RFC 4514 writes a value it
 * cannot show as text. */
static void sb_hex_value(cg_sb *b, const cg_value *x)
{
    unsigned char head[6];
    size_t h = 0, len = x->raw_len;
    char hex[3];
    head[h++] = x->tag;
    if (len < 0x80) {
        head[h++] = (unsigned char)len;
    } else {
        size_t nb = len > 0xFFFFFF ? 4 : len > 0xFFFF ? 3 : len > 0xFF ? 2 : 1;
        head[h++] = (unsigned char)(0x80 | nb);
        for (size_t i = nb; i > 0; i--)
            head[h++] = (unsigned char)(len >> (8 * (i - 1)));
    }
    sb_add(b, "#", 1);
    for (size_t i = 0; i < h; i++) {
        hex_lower(&head[i], 1, hex);
        sb_add(b, hex, 2);
    }
    for (size_t i = 0; i < len && !b->full; i++) {
        hex_lower(&x->raw[i], 1, hex);
        sb_add(b, hex, 2);
    }
}

static void sb_attr_type(cg_sb *b, const cg_value *x)
{
    const cg_attr_type *t = cg_attr_by_oid(x->oid, x->oid_len);
    char oid[64];
    if (t) {
        sb_puts(b, t->name);
    } else {
        cg_attr_oid_text(x->oid, x->oid_len, oid, sizeof oid);
        sb_puts(b, oid);
    }
}

/* ======================================================================
 * The loaded mapping
 * ====================================================================== */

typedef struct cg_one {
    const char *name;       /* optional, for logs */
    cg_kind kind;
    const char *key;        /* canonical key text */
    size_t keylen;
    uint64_t hash;
    cg_template principal;
    bool enabled;
    int line, column;
} cg_one;

typedef struct cg_rule {
    int slot;
    bool cs;                /* case-sensitive */
    const char *src;        /* the pattern as written */
    const char *pat;        /* compiled (cg_glob_compile) */
    size_t patlen;
    int line, column;
} cg_rule;

typedef struct cg_m2o {
    const char *name;
    const char *description;
    bool enabled, deny;
    cg_template principal;  /* allow only */
    cg_rule *rules;
    size_t nrules;
    uint32_t slots;         /* slots its rules name */
    int line, column;
} cg_m2o;

/* Everything a mapping owns lives in an arena freed at once. */
typedef struct cg_block {
    struct cg_block *next;
    size_t used, cap;
    max_align_t data[];
} cg_block;

struct cg_mapping {
    atomic_uint refs;
    const char *file;
    const char *default_realm;   /* NULL: none */
    bool no_match_403;
    cg_one *ones;
    size_t nones;
    uint32_t *table;             /* open addressing: entry index + 1; 0 = empty */
    size_t tmask;
    size_t kind_first[N_KINDS];  /* first enabled entry of each kind; SIZE_MAX: none */
    cg_m2o *m2o;
    size_t nm2o;
    cg_block *arena;
};

static void *arena_alloc(cg_mapping *m, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!m->arena || m->arena->cap - m->arena->used < n) {
        size_t cap = n > 60000 ? n : 60000;
        cg_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = m->arena;
        b->used = 0;
        b->cap = cap;
        m->arena = b;
    }
    void *p = (char *)m->arena->data + m->arena->used;
    m->arena->used += n;
    return p;
}

static char *arena_strndup(cg_mapping *m, const char *s, size_t n)
{
    char *p = arena_alloc(m, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* FNV-1a: keys come from the operator's file, so collisions cannot be
 * forced into the table; lookups only read it. */
static uint64_t key_hash(cg_kind kind, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Index of the entry with this key, or SIZE_MAX. */
static size_t table_find(const cg_mapping *m, cg_kind kind, const char *key, size_t len)
{
    if (!m->table)
        return SIZE_MAX;
    uint64_t h = key_hash(kind, key, len);
    for (size_t i = (size_t)h & m->tmask;; i = (i + 1) & m->tmask) {
        uint32_t slot = m->table[i];
        if (slot == 0)
            return SIZE_MAX;
        const cg_one *e = &m->ones[slot - 1];
        if (e->hash == h && e->kind == kind && e->keylen == len && memcmp(e->key, key, len) == 0)
            return slot - 1;
    }
}

/* Inserts entry idx; returns the index of an entry with the same key
 * instead when there is one. */
static size_t table_insert(cg_mapping *m, size_t idx)
{
    const cg_one *e = &m->ones[idx];
    for (size_t i = (size_t)e->hash & m->tmask;; i = (i + 1) & m->tmask) {
        uint32_t slot = m->table[i];
        if (slot == 0) {
            m->table[i] = (uint32_t)idx + 1;
            return idx;
        }
        const cg_one *o = &m->ones[slot - 1];
        if (o->hash == e->hash && o->kind == e->kind && o->keylen == e->keylen &&
            memcmp(o->key, e->key, e->keylen) == 0)
            return slot - 1;
    }
}

void cg_mapping_counts(const cg_mapping *m, size_t *one_to_one, size_t *many_to_one)
{
    *one_to_one = m ? m->nones : 0;
    *many_to_one = m ? m->nm2o : 0;
}

/* "one-to-one #3" or "one-to-one \"alice\"" (for cg_map_result.rule). */
static void one_label(const cg_mapping *m, size_t i, char *out, size_t cap)
{
    if (m->ones[i].name)
        fmt_into(out, cap, "one-to-one \"%s\"", m->ones[i].name);
    else
        fmt_into(out, cap, "one-to-one #%zu", i + 1);
}

static bool cert_text_sha256(const char *text, size_t len, char out[65], char *why, size_t wcap)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    bool ok = cg_mapping_cert_text(text, len, &crt, why, wcap);
    if (ok)
        cg_cert_sha256_hex(&crt, out);
    mbedtls_x509_crt_free(&crt);
    return ok;
}

/* ======================================================================
 * The loader
 *
 * libyaml's document API, one small function per part of the schema, and
 * every problem reported at the position of the node it concerns; the walk
 * goes on after an error so one run shows every mistake. Messages follow
 * the configuration loader's two shapes:
 *   unknown key "pattrn" in many_to_one[sales].rules[#1] (expected one of: ...)
 *   many_to_one[sales].rules[#1].pattern: "a\b" has '\' before ... (fix)
 * ====================================================================== */

typedef struct cg_mload {
    cg_yaml y;            /* the document, the file's name, the diagnostics */
    const char *dir;      /* certificate_file paths are relative to it */
    cg_mapping *m;
} cg_mload;

static char *ld_strndup(cg_mload *ld, const char *s, size_t n)
{
    char *p = arena_strndup(ld->m, s, n);
    if (!p)
        ld->y.oom = true;
    return p;
}

static void *ld_calloc(cg_mload *ld, size_t n, size_t size)
{
    if (n && size > SIZE_MAX / n) {
        ld->y.oom = true;
        return NULL;
    }
    size_t bytes = n * size != 0 ? n * size : 1;
    void *p = arena_alloc(ld->m, bytes);
    if (!p)
        ld->y.oom = true;
    else
        memset(p, 0, bytes);
    return p;
}

static int nline(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }
static int ncol(const yaml_node_t *n) { return (int)n->start_mark.column + 1; }

/* One mapping node being walked, and how messages name it. */
typedef struct cg_mnode {
    yaml_node_t *node;
    char path[160];    /* "many_to_one[sales].rules[#2]"; "" at the top */
} cg_mnode;

static const char *where(const cg_mnode *m, char *buf, size_t cap)
{
    if (m->path[0])
        fmt_into(buf, cap, "in %s", m->path);
    else
        fmt_into(buf, cap, "at the top level");
    return buf;
}

/* Non-empty text that is valid UTF-8 without control characters. */
static cg_yaml_got get_utf8(cg_mload *ld, const cg_mnode *m, const char *key, const char *expect,
                            yaml_node_t **vn, const char **out)
{
    cg_yaml_got got = cg_yaml_get_string(&ld->y, m->node, m->path, key, expect, vn, out);
    char path[256];
    size_t at;
    if (got != CG_YAML_SET)
        return got;
    const char *bad = text_problem(*out, cg_yaml_len(*vn), &at);
    if (bad) {
        cg_yaml_key_path(m->path, key, path, sizeof path);
        cg_yaml_error(&ld->y, *vn, "%s: %s at byte %zu (expected %s)", path, bad, at + 1, expect);
        return CG_YAML_BAD;
    }
    return CG_YAML_SET;
}

/* ---- hex keys ---- */

/* Hex digits with optional ':' or ' ' separators (as openssl and Windows
 * print fingerprints) -> lower-case hex. Returns the digit count, or -1
 * with *bad at the offending character. */
static long hex_key(const char *s, char *out, size_t cap, size_t *bad)
{
    size_t o = 0, i = 0;
    if ((s[0] == '0') && (s[1] == 'x' || s[1] == 'X'))
        i = 2;
    for (; s[i]; i++) {
        if (s[i] == ':' || s[i] == ' ')
            continue;
        if (hexval(s[i]) < 0 || o + 1 >= cap) {
            *bad = i;
            return -1;
        }
        out[o++] = fold(s[i]);
    }
    out[o] = '\0';
    return (long)o;
}

/* ---- templates ---- */

/* Splits a template into literal text and placeholders. "{{" and "}}"
 * are literal braces. */
static const char *template_split(cg_mload *ld, const char *src, size_t len, cg_template *t)
{
    cg_tpart parts[CG_TEMPLATE_PARTS];
    char lit[CG_TEMPLATE_MAX];
    size_t np = 0, nl = 0;
    for (size_t i = 0; i <= len; i++) {
        bool open = i < len && src[i] == '{' && !(i + 1 < len && src[i + 1] == '{');
        if (i < len && !open) {
            if (src[i] == '}' && !(i + 1 < len && src[i + 1] == '}'))
                return "has a '}' without '{' (write \"}}\" for a literal brace)";
            lit[nl++] = src[i];
            if (src[i] == '{' || src[i] == '}')
                i++; /* the second of "{{" or "}}" */
            continue;
        }
        if (nl) {
            if (np == CG_TEMPLATE_PARTS)
                return "has too many parts";
            parts[np] = (cg_tpart){ .lit = ld_strndup(ld, lit, nl), .litlen = nl, .slot = -1 };
            np++;
            nl = 0;
        }
        if (i == len)
            break;
        const char *close = memchr(src + i, '}', len - i);
        if (!close)
            return "has a '{' without '}'";
        if (np == CG_TEMPLATE_PARTS)
            return "has too many parts";
        const char *why = cg_template_part_parse(src + i + 1, (size_t)(close - src - i - 1), &parts[np]);
        if (why)
            return why;
        parts[np].lit = NULL;
        np++;
        t->has_fields = true;
        i = (size_t)(close - src);
    }
    t->parts = ld_calloc(ld, np, sizeof *t->parts);
    if (t->parts)
        memcpy(t->parts, parts, np * sizeof *parts);
    t->nparts = np;
    return NULL;
}

static bool template_compile(cg_mload *ld, yaml_node_t *n, const char *path, const char *src,
                             cg_template *t)
{
    size_t len = strlen(src);
    memset(t, 0, sizeof *t);
    t->src = ld_strndup(ld, src, len);
    if (len >= CG_TEMPLATE_MAX) {
        cg_yaml_error(&ld->y, n, "%s: the principal is longer than %d bytes", path, CG_TEMPLATE_MAX - 1);
        return false;
    }
    const char *why = template_split(ld, src, len, t);
    if (why) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" %s", path, src, why);
        return false;
    }
    char sample[CG_TEMPLATE_MAX + 300];
    cg_sb b;
    sb_init(&b, sample, sizeof sample);
    cg_template_sample(t, ld->m->default_realm, &b);
    const char *problem = cg_principal_problem(b.p, b.len);
    if (problem && !memchr(b.p, '@', b.len)) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" has no @REALM and default_realm is not set (write "
                      "\"user@REALM\", or set default_realm at the top of the file)", path, src);
        return false;
    }
    if (problem) {
        if (t->has_fields)
            cg_yaml_error(&ld->y, n, "%s: \"%s\" cannot give a valid principal: with typical values it "
                          "gives \"%s\", and %s", path, src, sample, problem);
        else
            cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a valid principal: %s (expected user@REALM)", path,
                          sample, problem);
        return false;
    }
    return true;
}

static void get_principal(cg_mload *ld, const cg_mnode *m, bool required, cg_template *t,
                          const char *required_why)
{
    yaml_node_t *n;
    const char *s;
    char path[256], w[200];
    cg_yaml_got got = get_utf8(ld, m, "principal", "a principal such as alice@EXAMPLE.TEST or "
                            "{subject.CN}@EXAMPLE.TEST", &n, &s);
    if (got == CG_YAML_ABSENT && required)
        cg_yaml_error(&ld->y, m->node, "missing required key \"principal\" %s (%s)", where(m, w, sizeof w),
                      required_why);
    if (got != CG_YAML_SET)
        return;
    cg_yaml_key_path(m->path, "principal", path, sizeof path);
    template_compile(ld, n, path, s, t);
}

/* ---- one-to-one entries ---- */

/* An entry's name, read before its keys are checked so that messages
 * about the entry can use it; NULL if it has no usable one. */
static const char *peek_entry_name(cg_mload *ld, yaml_node_t *item)
{
    yaml_node_t *n = cg_yaml_map_get(&ld->y, item, "name", NULL);
    if (!n || n->type != YAML_SCALAR_NODE || cg_yaml_len(n) == 0 || cg_yaml_len(n) >= 64 ||
        !cg_mapping_text_ok(cg_yaml_text(n), cg_yaml_len(n)))
        return NULL;
    return cg_yaml_text(n);
}

static const char *const one_keys[] = { "name", "certificate", "certificate_file", "sha256", "issuer",
                                        "serial", "subject", "ski", "sha1_public_key", "rfc822",
                                        "principal", "enabled", NULL };
/* The ways to name the certificate; an entry uses exactly one. */
static const char *const one_selectors[] = { "certificate", "certificate_file", "sha256", "issuer",
                                             "ski", "sha1_public_key", "rfc822", NULL };
#define ONE_SELECTORS_TEXT "certificate (PEM or base64 DER), certificate_file, sha256, issuer + " \
                           "serial, issuer + subject, ski, sha1_public_key or rfc822"

/* Reads a whole file (certificate_file) with its errno on failure. */
static unsigned char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    int err = 0;
    for (;;) {
        if (n > max) {
            err = EFBIG;
            break;
        }
        if (cap - n < 4096) {
            size_t ncap = cap ? cap * 2 : 16384;
            unsigned char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                err = ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (!err && ferror(f))
        err = errno ? errno : EIO;
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool one_key_certificate_file(cg_mload *ld, yaml_node_t *n, const char *path, const char *file,
                                     char *key)
{
    char full[4096];
    if (file[0] == '/' || !ld->dir)
        fmt_into(full, sizeof full, "%s", file);
    else
        fmt_into(full, sizeof full, "%s/%s", ld->dir, file);
    size_t len = 0;
    struct stat st;
    /* Only a regular file: a FIFO or a device would stall or flood the load. */
    if (stat(full, &st) == 0 && !S_ISREG(st.st_mode)) {
        cg_yaml_error(&ld->y, n, "%s: %s is not a regular file", path, full);
        return false;
    }
    unsigned char *buf = read_file(full, CG_CERT_FILE_MAX, &len);
    if (!buf) {
        cg_yaml_error(&ld->y, n, "%s: cannot read %s: %s", path, full,
                      errno == EFBIG ? "larger than 1 MiB, not a certificate file" : strerror(errno));
        return false;
    }
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    /* PEM parsing wants the terminating NUL counted. */
    bool pem = strstr((char *)buf, "-----BEGIN") != NULL;
    int ret = mbedtls_x509_crt_parse(&crt, buf, pem ? len + 1 : len);
    free(buf);
    if (ret != 0 || !crt.raw.p) {
        char err[128] = "some certificates in it are invalid";
        if (ret < 0)
            mbedtls_strerror(ret, err, sizeof err);
        cg_yaml_error(&ld->y, n, "%s: %s is not a certificate file certgate can read (%s; expected PEM or DER)",
                      path, full, err);
        mbedtls_x509_crt_free(&crt);
        return false;
    }
    /* A leaf followed by its CA chain is the usual file: the leaf is meant.
     * Several end-entity certificates are a bundle: which one is meant? */
    for (const mbedtls_x509_crt *c = crt.next; c && c->raw.p; c = c->next) {
        if (c->ca_istrue)
            continue;
        char subj[256];
        cg_mapping_cert_dn(c, false, subj, sizeof subj);
        cg_yaml_error(&ld->y, n, "%s: %s holds more than one end-entity certificate (also \"%s\"): a one-to-one "
                      "entry names exactly one; split the file", path, full, subj);
        mbedtls_x509_crt_free(&crt);
        return false;
    }
    cg_cert_sha256_hex(&crt, key);
    mbedtls_x509_crt_free(&crt);
    return true;
}

static bool one_key_hex(cg_mload *ld, yaml_node_t *n, const char *path, const char *s, const char *what,
                        long want_min, long want_max, char *key, size_t cap)
{
    size_t bad = 0;
    long digits = hex_key(s, key, cap, &bad);
    if (digits < 0) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not hexadecimal (character %zu; expected %s)", path, s, bad + 1, what);
        return false;
    }
    if (digits % 2 || digits < want_min || digits > want_max) {
        if (want_min == 64 && digits == 40)
            cg_yaml_error(&ld->y, n, "%s: \"%s\" has 40 hex digits: that is a SHA-1 thumbprint (what Windows "
                          "shows); certgate wants the SHA-256 fingerprint (openssl x509 -in CERT -noout "
                          "-fingerprint -sha256)", path, s);
        else
            cg_yaml_error(&ld->y, n, "%s: \"%s\" has %ld hex digits (expected %s)", path, s, digits, what);
        return false;
    }
    return true;
}

static bool one_key_dn(cg_mload *ld, const cg_mnode *m, const char *key, char *out, size_t cap)
{
    static _Thread_local cg_dn_parse d;
    yaml_node_t *n;
    const char *s;
    char path[256], why[256], fixed[CG_DN_MAX];
    if (get_utf8(ld, m, key, "a distinguished name such as \"CN=Example CA,O=Example,C=US\"", &n,
                   &s) != CG_YAML_SET)
        return false;
    cg_yaml_key_path(m->path, key, path, sizeof path);
    if (!cg_dn_parse_text(&d, s, strlen(s), why, sizeof why)) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not an RFC 4514 distinguished name: %s", path, s, why);
        return false;
    }
    if (d.x500_order) {
        cg_dn_reverse_text(&d, fixed, sizeof fixed);
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is in X.500 order (most general first, as `openssl x509 "
                      "-noout -%s` prints by default); certgate compares RFC 4514 order, most specific "
                      "first: write \"%s\" (`openssl x509 -noout -%s -nameopt RFC2253` prints it)", path,
                      s, key, fixed, key);
        return false;
    }
    if (!cg_dn_canon(d.attrs, d.n, out, cap)) {
        cg_yaml_error(&ld->y, n, "%s: the name is too long (over %d bytes)", path, CG_DN_MAX);
        return false;
    }
    return true;
}

static bool one_key_serial(cg_mload *ld, const cg_mnode *m, char *out, size_t cap)
{
    yaml_node_t *n;
    const char *s;
    char path[256], hex[2 * MBEDTLS_X509_RFC5280_MAX_SERIAL_LEN + 1];
    if (get_utf8(ld, m, "serial", "the serial number in hex, e.g. 2B:D2:F8:90", &n, &s) != CG_YAML_SET)
        return false;
    cg_yaml_key_path(m->path, "serial", path, sizeof path);
    size_t bad = 0;
    long digits = hex_key(s, hex, sizeof hex, &bad);
    if (digits <= 0) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a hexadecimal serial number of at most %d bytes (as "
                      "`openssl x509 -noout -serial` prints it)", path, s, MBEDTLS_X509_RFC5280_MAX_SERIAL_LEN);
        return false;
    }
    const char *p = hex;
    while (*p == '0' && p[1])
        p++;
    fmt_into(out, cap, "%s", p);
    return true;
}

static bool one_key_rfc822(cg_mload *ld, yaml_node_t *n, const char *path, const char *s, char *out,
                           size_t cap)
{
    const char *at = strchr(s, '@');
    size_t len = strlen(s);
    bool ok = at && at != s && at[1] && !strchr(at + 1, '@') && len < cap;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7F;
    if (!ok) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not an e-mail address (expected local@domain in ASCII, as "
                      "in the certificate's SAN rfc822Name)", path, s);
        return false;
    }
    for (size_t i = 0; i <= len; i++)
        out[i] = fold(s[i]);
    return true;
}

/* Which selector keys the entry has; reports none or several. */
static int one_selector(cg_mload *ld, const cg_mnode *m)
{
    int found = -1;
    char w[200];
    where(m, w, sizeof w);
    for (int i = 0; one_selectors[i]; i++) {
        yaml_node_t *k = NULL;
        if (!cg_yaml_map_get(&ld->y, m->node, one_selectors[i], &k))
            continue;
        if (found >= 0) {
            cg_yaml_error(&ld->y, k, "%s names the certificate twice, by %s and by %s: keep one", m->path,
                          one_selectors[found], one_selectors[i]);
            return -2;
        }
        found = i;
    }
    if (found < 0) {
        bool serial = cg_yaml_map_get(&ld->y, m->node, "serial", NULL);
        bool subject = cg_yaml_map_get(&ld->y, m->node, "subject", NULL);
        if (serial || subject)
            cg_yaml_error(&ld->y, m->node, "%s has %s but no issuer: a %s identifies a certificate only "
                          "together with its issuer's name", m->path, serial ? "serial" : "subject",
                          serial ? "serial number" : "subject name");
        else
            cg_yaml_error(&ld->y, m->node, "%s does not say which certificate it maps (expected one of: "
                          ONE_SELECTORS_TEXT ")", m->path);
    }
    return found;
}

/* The canonical key of the entry, by its selector. */
static bool one_key(cg_mload *ld, const cg_mnode *m, int sel, cg_one *e, char *key, size_t cap)
{
    yaml_node_t *n;
    const char *s;
    char path[256], why[512];
    const char *name = one_selectors[sel];
    cg_yaml_key_path(m->path, name, path, sizeof path);
    if (!strcmp(name, "issuer")) {
        bool serial = cg_yaml_map_get(&ld->y, m->node, "serial", NULL);
        bool subject = cg_yaml_map_get(&ld->y, m->node, "subject", NULL);
        if (serial == subject) {
            cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m->node, "issuer", NULL),
                          "%s: issuer goes with exactly one of serial (strong: issuer + serial number) or subject "
                          "(issuer + subject name)", path);
            return false;
        }
        size_t o;
        if (!one_key_dn(ld, m, "issuer", key, cap))
            return false;
        o = strlen(key);
        key[o++] = '\n'; /* cannot occur in a canonical DN */
        e->kind = serial ? K_ISSUER_SERIAL : K_ISSUER_SUBJECT;
        return serial ? one_key_serial(ld, m, key + o, cap - o)
                      : one_key_dn(ld, m, "subject", key + o, cap - o);
    }
    /* A certificate may be a multi-line PEM block: only it may hold line
     * breaks, and its parser reports anything else that is not base64. */
    if (!strcmp(name, "certificate") ? cg_yaml_get_text(&ld->y, m->node, m->path, name, "a PEM block or base64 DER", &n, &s) != CG_YAML_SET
                                     : get_utf8(ld, m, name, "a value", &n, &s) != CG_YAML_SET)
        return false;
    if (!strcmp(name, "certificate")) {
        e->kind = K_SHA256;
        if (cert_text_sha256(s, strlen(s), key, why, sizeof why))
            return true;
        char d[96];
        /* Never echo a PEM block: it may be a private key pasted by mistake. */
        cg_yaml_error(&ld->y, n, "%s: %s %s", path,
                      strstr(s, "-----BEGIN") ? "the PEM block" : cg_yaml_describe(n, d, sizeof d), why);
        return false;
    }
    if (!strcmp(name, "certificate_file")) {
        e->kind = K_SHA256;
        return one_key_certificate_file(ld, n, path, s, key);
    }
    if (!strcmp(name, "sha256")) {
        e->kind = K_SHA256;
        return one_key_hex(ld, n, path, s, "64 hex digits: the SHA-256 fingerprint of the certificate",
                           64, 64, key, cap);
    }
    if (!strcmp(name, "ski")) {
        e->kind = K_SKI;
        return one_key_hex(ld, n, path, s, "the subject key identifier in hex, 2 to 128 digits", 2,
                           2 * CG_SKI_MAX, key, cap);
    }
    if (!strcmp(name, "sha1_public_key")) {
        e->kind = K_SHA1PK;
        return one_key_hex(ld, n, path, s, "40 hex digits: the SHA-1 of the DER public key", 40, 40,
                           key, cap);
    }
    e->kind = K_RFC822;
    return one_key_rfc822(ld, n, path, s, key, cap);
}

static void one_duplicate(cg_mload *ld, const cg_mnode *m, size_t i, size_t first)
{
    const cg_one *a = &ld->m->ones[first];
    char shown[96];
    cg_sb b;
    sb_init(&b, shown, sizeof shown);
    sb_clip(&b, a->key, strcspn(a->key, "\n"), 80);
    cg_yaml_error(&ld->y, m->node, "duplicate one-to-one entry: one_to_one[#%zu] maps the same certificate as "
                  "one_to_one[#%zu] (line %d), both by %s %s; remove one of them", i + 1, first + 1,
                  a->line, cg_kind_names[a->kind], shown);
}

static void parse_one(cg_mload *ld, yaml_node_t *item, size_t i)
{
    cg_mapping *m = ld->m;
    cg_one *e = &m->ones[i];
    cg_mnode mn = { .node = item };
    const char *s;
    yaml_node_t *n;
    char d[96], w[200], key[2 * CG_DN_MAX + 8];
    const char *name = peek_entry_name(ld, item);

    e->line = nline(item);
    e->column = ncol(item);
    e->enabled = true;
    if (name)
        fmt_into(mn.path, sizeof mn.path, "one_to_one[%s]", name);
    else
        fmt_into(mn.path, sizeof mn.path, "one_to_one[#%zu]", i + 1);
    if (item->type != YAML_MAPPING_NODE) {
        cg_yaml_error(&ld->y, item, "%s: expected a mapping with principal and one of " ONE_SELECTORS_TEXT
                      ", got %s", mn.path, cg_yaml_describe(item, d, sizeof d));
        return;
    }
    cg_yaml_check_keys(&ld->y, mn.node, where(&mn, w, sizeof w), one_keys);
    if (get_utf8(ld, &mn, "name", "a name for logs", &n, &s) == CG_YAML_SET)
        e->name = ld_strndup(ld, s, strlen(s));
    cg_yaml_get_bool(&ld->y, mn.node, mn.path, "enabled", &e->enabled);
    get_principal(ld, &mn, true, &e->principal, "the Kerberos principal this certificate maps to");
    int sel = one_selector(ld, &mn);
    if (sel < 0 || !one_key(ld, &mn, sel, e, key, sizeof key))
        return;
    e->keylen = strlen(key);
    e->key = ld_strndup(ld, key, e->keylen);
    e->hash = key_hash(e->kind, key, e->keylen);
    if (!e->key)
        return;
    size_t first = table_insert(m, i);
    if (first != i)
        one_duplicate(ld, &mn, i, first);
    else if (e->enabled && m->kind_first[e->kind] == SIZE_MAX)
        m->kind_first[e->kind] = i;
}

static void parse_one_to_one(cg_mload *ld, const cg_mnode *root)
{
    yaml_node_t *seq;
    if (cg_yaml_get_list(&ld->y, root->node, root->path, "one_to_one", "a list of one-to-one entries", &seq) != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq), cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    cg_mapping *m = ld->m;
    m->ones = ld_calloc(ld, n, sizeof *m->ones);
    m->table = ld_calloc(ld, cap, sizeof *m->table);
    if (!m->ones || !m->table || n >= UINT32_MAX)
        return;
    m->tmask = cap - 1;
    m->nones = n;
    for (size_t i = 0; i < n; i++)
        parse_one(ld, cg_yaml_list_item(&ld->y, seq, i), i);
}

/* ---- many-to-one mappings ---- */

static const char *const m2o_keys[] = { "name", "description", "enabled", "action", "principal", "rules",
                                        NULL };
static const char *const rule_keys[] = { "field", "sub_field", "pattern", "case_sensitive", NULL };

static int rule_field(cg_mload *ld, const cg_mnode *m)
{
    yaml_node_t *n;
    const char *s;
    char path[256], w[200];
    cg_yaml_got got = get_utf8(ld, m, "field", "subject, issuer or san", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, m->node, "missing required key \"field\" %s (expected subject, issuer or san)",
                      where(m, w, sizeof w));
    if (got != CG_YAML_SET)
        return -1;
    int f = cg_field_by_name(s, strlen(s));
    if (f < 0) {
        cg_yaml_key_path(m->path, "field", path, sizeof path);
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a certificate field (expected subject, issuer or san)", path, s);
    }
    return f;
}

static int rule_sub(cg_mload *ld, const cg_mnode *m, int field)
{
    yaml_node_t *n;
    const char *s;
    char path[256], w[200];
    const char *expect = field == FIELD_SAN ? "upn, email, dns or uri"
                         : "CN, O, OU, L, ST, C, DC, UID, emailAddress or serialNumber";
    cg_yaml_got got = get_utf8(ld, m, "sub_field", expect, &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, m->node, "missing required key \"sub_field\" %s (expected %s)", where(m, w, sizeof w),
                      field >= 0 ? expect : "a sub-field of the field");
    if (got != CG_YAML_SET || field < 0)
        return -1;
    int sub = cg_sub_by_name(field, s, strlen(s));
    if (sub < 0) {
        cg_yaml_key_path(m->path, "sub_field", path, sizeof path);
        bool other = cg_sub_by_name(field == FIELD_SAN ? FIELD_SUBJECT : FIELD_SAN, s, strlen(s)) >= 0;
        cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a sub-field of %s (expected %s)%s", path, s,
                      cg_field_names[field], expect,
                      !other ? "" : field == FIELD_SAN ? "; it is a subject/issuer sub-field"
                                                  : "; it is a san sub-field (field: san)");
    }
    return sub;
}

static void parse_rule(cg_mload *ld, const cg_mnode *parent, yaml_node_t *item, size_t i, cg_rule *r)
{
    cg_mnode mn = { .node = item };
    yaml_node_t *n;
    const char *s;
    char d[96], path[256], w[200];
    fmt_into(mn.path, sizeof mn.path, "%s.rules[#%zu]", parent->path, i + 1);
    r->line = nline(item);
    r->column = ncol(item);
    r->cs = true; /* as IIS: compareCaseSensitive defaults to true */
    r->slot = -1;
    if (item->type != YAML_MAPPING_NODE) {
        cg_yaml_error(&ld->y, item, "%s: expected a mapping with keys field, sub_field, pattern (and "
                      "case_sensitive), got %s", mn.path, cg_yaml_describe(item, d, sizeof d));
        return;
    }
    cg_yaml_check_keys(&ld->y, mn.node, where(&mn, w, sizeof w), rule_keys);
    cg_yaml_get_bool(&ld->y, mn.node, mn.path, "case_sensitive", &r->cs);
    int field = rule_field(ld, &mn), sub = rule_sub(ld, &mn, field);
    if (field >= 0 && sub >= 0)
        r->slot = cg_slot_of(field, sub);
    cg_yaml_got got = get_utf8(ld, &mn, "pattern", "a value to match, with * and ? wildcards", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, item, "missing required key \"pattern\" %s (expected the value to match, with "
                      "* and ? wildcards; \"*\" matches any value)", where(&mn, w, sizeof w));
    if (got != CG_YAML_SET)
        return;
    cg_yaml_key_path(mn.path, "pattern", path, sizeof path);
    size_t len = strlen(s), at = 0, plen = 0;
    char *pat = arena_alloc(ld->m, len + 1);
    if (!pat) {
        ld->y.oom = true;
        return;
    }
    if (len > CG_PATTERN_MAX) {
        cg_yaml_error(&ld->y, n, "%s: longer than %d bytes", path, CG_PATTERN_MAX);
        return;
    }
    const char *why = cg_glob_compile(s, len, r->cs, pat, &plen, &at);
    if (why) {
        cg_yaml_error(&ld->y, n, "%s: \"%s\" %s (at byte %zu)", path, s, why, at + 1);
        return;
    }
    r->src = ld_strndup(ld, s, len);
    r->pat = pat;
    r->patlen = plen;
}

static void parse_rules(cg_mload *ld, const cg_mnode *mn, cg_m2o *e)
{
    yaml_node_t *seq;
    char w[200];
    cg_yaml_got got = cg_yaml_get_list(&ld->y, mn->node, mn->path, "rules", "a list of rules", &seq);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, mn->node, "missing required key \"rules\" %s (expected a list of rules, each "
                      "with field, sub_field and pattern; all must match)", where(mn, w, sizeof w));
    if (got != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq);
    if (n == 0 || n > CG_RULES_MAX) {
        cg_yaml_error(&ld->y, seq, "%s.rules: %s (expected 1 to %d rules; to match every certificate of a "
                      "CA, use a rule such as field: issuer, sub_field: CN, pattern: \"Example CA\")",
                      mn->path, n ? "too many rules" : "the list is empty", CG_RULES_MAX);
        return;
    }
    e->rules = ld_calloc(ld, n, sizeof *e->rules);
    if (!e->rules)
        return;
    e->nrules = n;
    for (size_t i = 0; i < n; i++) {
        parse_rule(ld, mn, cg_yaml_list_item(&ld->y, seq, i), i, &e->rules[i]);
        if (e->rules[i].slot >= 0)
            e->slots |= 1u << e->rules[i].slot;
    }
}

static void parse_action(cg_mload *ld, const cg_mnode *mn, cg_m2o *e)
{
    yaml_node_t *n;
    const char *s;
    char path[256], d[96];
    if (cg_yaml_get_text(&ld->y, mn->node, mn->path, "action", "allow or deny", &n, &s) != CG_YAML_SET)
        return;
    if (!strcmp(s, "allow") || !strcmp(s, "deny")) {
        e->deny = s[0] == 'd';
        return;
    }
    cg_yaml_key_path(mn->path, "action", path, sizeof path);
    cg_yaml_error(&ld->y, n, "%s: expected allow or deny, got %s", path, cg_yaml_describe(n, d, sizeof d));
}

/* Names are unique: logs and 403 pages name the mapping that decided. */
static void m2o_name(cg_mload *ld, cg_mnode *mn, size_t i)
{
    yaml_node_t *n;
    const char *s;
    char w[200];
    cg_m2o *e = &ld->m->m2o[i];
    cg_yaml_got got = get_utf8(ld, mn, "name", "a name for logs, unique in the file", &n, &s);
    if (got == CG_YAML_ABSENT)
        cg_yaml_error(&ld->y, mn->node, "missing required key \"name\" %s (expected a name, unique in the file, "
                      "that logs and refusal pages show)", where(mn, w, sizeof w));
    if (got != CG_YAML_SET)
        return;
    e->name = ld_strndup(ld, s, strlen(s));
    if (strlen(s) < 64)
        fmt_into(mn->path, sizeof mn->path, "many_to_one[%s]", s);
    for (size_t j = 0; j < i; j++) {
        const cg_m2o *o = &ld->m->m2o[j];
        if (o->name && e->name && !strcmp(o->name, e->name)) {
            cg_yaml_error(&ld->y, n, "duplicate many-to-one name \"%s\" (first at line %d): names must be unique",
                          s, o->line);
            break;
        }
    }
}

static void parse_m2o(cg_mload *ld, yaml_node_t *item, size_t i)
{
    cg_m2o *e = &ld->m->m2o[i];
    cg_mnode mn = { .node = item };
    yaml_node_t *n;
    const char *s;
    char d[96], path[256], w[200];
    fmt_into(mn.path, sizeof mn.path, "many_to_one[#%zu]", i + 1);
    e->line = nline(item);
    e->column = ncol(item);
    e->enabled = true;
    if (item->type != YAML_MAPPING_NODE) {
        cg_yaml_error(&ld->y, item, "%s: expected a mapping with keys name, action, principal and rules, got %s",
                      mn.path, cg_yaml_describe(item, d, sizeof d));
        return;
    }
    m2o_name(ld, &mn, i);
    cg_yaml_check_keys(&ld->y, mn.node, where(&mn, w, sizeof w), m2o_keys);
    if (get_utf8(ld, &mn, "description", "text", &n, &s) == CG_YAML_SET)
        e->description = ld_strndup(ld, s, strlen(s));
    cg_yaml_get_bool(&ld->y, mn.node, mn.path, "enabled", &e->enabled);
    parse_action(ld, &mn, e);
    if (e->deny && (n = cg_yaml_map_get(&ld->y, item, "principal", NULL)) != NULL) {
        cg_yaml_key_path(mn.path, "principal", path, sizeof path);
        cg_yaml_error(&ld->y, n, "%s: a deny mapping refuses the certificate (403.12) and maps it to no one: "
                      "remove principal, or make the action allow", path);
    } else {
        get_principal(ld, &mn, !e->deny, &e->principal, "the principal for certificates this mapping "
                      "allows; or action: deny");
    }
    parse_rules(ld, &mn, e);
}

/* ---- shadowed mappings ---- */

/* Whether a matches every certificate b matches: each rule of a covers a
 * rule of b on the same sub-field. Then b's matching value for that rule
 * also matches a's rule (whatever other values the field has), so a
 * matches too, and comes first. */
static bool m2o_covers(const cg_m2o *a, const cg_m2o *b)
{
    if (a->slots & ~b->slots)
        return false;
    for (size_t i = 0; i < a->nrules; i++) {
        const cg_rule *ra = &a->rules[i];
        bool covered = false;
        for (size_t j = 0; j < b->nrules && !covered; j++) {
            const cg_rule *rb = &b->rules[j];
            covered = ra->slot == rb->slot &&
                      cg_glob_covers(ra->pat, ra->patlen, ra->cs, rb->pat, rb->patlen, rb->cs);
        }
        if (!covered)
            return false;
    }
    return true;
}

static bool m2o_complete(const cg_m2o *e)
{
    if (!e->name || !e->rules)
        return false;
    for (size_t i = 0; i < e->nrules; i++)
        if (!e->rules[i].pat || e->rules[i].slot < 0)
            return false;
    return true;
}

static void check_shadowing(cg_mload *ld, yaml_node_t *seq)
{
    const cg_mapping *m = ld->m;
    for (size_t j = 0; j < m->nm2o; j++) {
        const cg_m2o *b = &m->m2o[j];
        if (!b->enabled || !m2o_complete(b))
            continue;
        for (size_t i = 0; i < j; i++) {
            const cg_m2o *a = &m->m2o[i];
            if (!a->enabled || !m2o_complete(a) || !m2o_covers(a, b))
                continue;
            cg_yaml_warning(&ld->y, cg_yaml_list_item(&ld->y, seq, j), "many_to_one[%s] can never match: many_to_one[%s] "
                            "(line %d) comes first and matches every certificate it matches (each of its "
                            "rules covers one of [%s]'s rules); move it before [%s], or remove it",
                            b->name, a->name, a->line, b->name, a->name);
            break;
        }
    }
}

static void parse_many_to_one(cg_mload *ld, const cg_mnode *root)
{
    yaml_node_t *seq;
    if (cg_yaml_get_list(&ld->y, root->node, root->path, "many_to_one", "a list of many-to-one mappings", &seq) != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq);
    ld->m->m2o = ld_calloc(ld, n, sizeof *ld->m->m2o);
    if (!ld->m->m2o)
        return;
    ld->m->nm2o = n;
    for (size_t i = 0; i < n; i++)
        parse_m2o(ld, cg_yaml_list_item(&ld->y, seq, i), i);
    check_shadowing(ld, seq);
}

/* ---- the top level ---- */

static void parse_default_realm(cg_mload *ld, const cg_mnode *root)
{
    yaml_node_t *n;
    const char *s;
    if (get_utf8(ld, root, "default_realm", "a Kerberos realm such as EXAMPLE.TEST", &n, &s) != CG_YAML_SET)
        return;
    const char *why = cg_principal_realm_problem(s, strlen(s));
    if (why) {
        cg_yaml_error(&ld->y, n, "default_realm: \"%s\" is not a Kerberos realm: %s (expected e.g. EXAMPLE.TEST)",
                      s, why);
        return;
    }
    if (strlen(s) > 200) {
        cg_yaml_error(&ld->y, n, "default_realm: longer than 200 bytes");
        return;
    }
    ld->m->default_realm = ld_strndup(ld, s, strlen(s));
}

static void parse_no_match(cg_mload *ld, const cg_mnode *root)
{
    yaml_node_t *n;
    const char *s;
    char d[96];
    if (cg_yaml_get_text(&ld->y, root->node, root->path, "no_match", "401 or 403", &n, &s) != CG_YAML_SET)
        return;
    if (!strcmp(s, "401") || !strcmp(s, "403")) {
        ld->m->no_match_403 = s[2] == '3';
        return;
    }
    cg_yaml_error(&ld->y, n, "no_match: expected 401 (\"logon failed\", 401.2, as IIS) or 403, got %s",
                  cg_yaml_describe(n, d, sizeof d));
}

static void warn_if_empty(cg_mload *ld, yaml_node_t *root)
{
    const cg_mapping *m = ld->m;
    for (size_t i = 0; i < m->nones; i++)
        if (m->ones[i].enabled)
            return;
    for (size_t i = 0; i < m->nm2o; i++)
        if (m->m2o[i].enabled)
            return;
    cg_yaml_warning(&ld->y, root, "no enabled mapping: every certificate will be refused with %s",
                    m->no_match_403 ? "403" : "401.2");
}

static void parse_root(cg_mload *ld, yaml_node_t *root)
{
    static const char *const keys[] = { "default_realm", "no_match", "one_to_one", "many_to_one", NULL };
    cg_mnode m = { .node = root, .path = "" };
    char d[96], list[256], w[200];
    if (!root || cg_yaml_is_null(root)) {
        cg_yaml_error(&ld->y, root, "the mapping file is empty (expected a mapping with one_to_one and/or "
                      "many_to_one; see conf/mapping.example.yaml)");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        cg_yaml_join(list, sizeof list, keys);
        cg_yaml_error(&ld->y, root, "expected a mapping at the top level (keys: %s), got %s", list,
                      cg_yaml_describe(root, d, sizeof d));
        return;
    }
    cg_yaml_check_keys(&ld->y, m.node, where(&m, w, sizeof w), keys);
    /* Before the entries, whatever the order in the file: principals use it. */
    parse_default_realm(ld, &m);
    parse_no_match(ld, &m);
    parse_one_to_one(ld, &m);
    parse_many_to_one(ld, &m);
    if (!cg_yaml_errors(&ld->y))
        warn_if_empty(ld, root);
}

/* ---- lifetime ---- */

static void mapping_free(cg_mapping *m)
{
    if (!m)
        return;
    for (cg_block *b = m->arena, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(m);
}

cg_mapping *cg_mapping_ref(cg_mapping *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void cg_mapping_unref(cg_mapping *m)
{
    /* acq_rel: the last owner must see every other owner's reads done. */
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        mapping_free(m);
}

static cg_mapping *load(const unsigned char *buf, size_t len, const char *name, const char *dir,
                        cg_diag *diag)
{
    cg_mload ld = { .y = { .name = name, .diag = diag, .errors0 = diag->errors }, .dir = dir };
    size_t first_item = diag->count;
    bool have_doc = false;
    ld.m = calloc(1, sizeof *ld.m);
    if (!ld.m || !(ld.m->file = arena_strndup(ld.m, name, strlen(name)))) {
        ld.y.oom = true;
        goto done;
    }
    atomic_init(&ld.m->refs, 1);
    for (int k = 0; k < N_KINDS; k++)
        ld.m->kind_first[k] = SIZE_MAX;
    static const cg_yaml_words words = {
        .second_document = "(a mapping file holds exactly one; remove this \"---\" and what follows)",
        .alias_fix = ": if this is a wildcard pattern, quote it (pattern: \"*...\")",
        .anchor_fix = ": write every value out in full",
        .star_fix = "; a value that starts with '*' must be quoted: pattern: \"*\"",
    };
    have_doc = cg_yaml_load(&ld.y, buf, len, &words);
    if (have_doc)
        parse_root(&ld, yaml_document_get_root_node(&ld.y.doc));
    cg_diag_sort(diag, first_item);
done:
    if (have_doc)
        yaml_document_delete(&ld.y.doc);
    if (ld.y.oom)
        cg_diag_add(diag, CG_DIAG_ERROR, name, 0, 0, "out of memory while loading the mapping file");
    if (cg_yaml_errors(&ld.y) || ld.y.oom) {
        mapping_free(ld.m);
        return NULL;
    }
    return ld.m;
}

cg_mapping *cg_mapping_load_string(const char *yaml, size_t len, const char *name, const char *dir,
                                   cg_diag *diag)
{
    return load((const unsigned char *)yaml, len, name ? name : "<string>", dir, diag);
}

cg_mapping *cg_mapping_load(const char *path, cg_diag *diag)
{
    size_t len = 0;
    unsigned char *buf = read_file(path, CG_MAPPING_FILE_MAX, &len);
    if (!buf) {
        cg_diag_add(diag, CG_DIAG_ERROR, path, 0, 0, "cannot read the mapping file: %s",
                    errno == EFBIG ? "larger than 256 MiB" : strerror(errno));
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    cg_mapping *m = load(buf, len, path, dir, diag);
    free(dir);
    free(buf);
    return m;
}

/* ======================================================================
 * Mapping a certificate
 * ====================================================================== */

/* Rules and mappings evaluate to true, false, or unknown: unknown when an
 * undecodable value might have made the difference. */
typedef enum { TV_FALSE, TV_TRUE, TV_UNKNOWN } cg_tv;

/* True when any decodable value of the rule's sub-field matches. */
static cg_tv rule_eval(const cg_rule *r, const cg_view *v)
{
    for (int16_t i = v->first[r->slot]; i >= 0; i = v->v[i].next) {
        const cg_value *x = &v->v[i];
        if (x->problem == VP_OK && cg_glob_match(r->pat, r->patlen, r->cs, x->s, x->len))
            return TV_TRUE;
    }
    return (v->tainted >> r->slot) & 1 ? TV_UNKNOWN : TV_FALSE;
}

static cg_tv m2o_eval(const cg_m2o *e, const cg_view *v)
{
    /* A rule on a sub-field the certificate lacks cannot match. */
    if (e->slots & ~v->present & ~v->tainted)
        return TV_FALSE;
    cg_tv res = TV_TRUE;
    for (size_t i = 0; i < e->nrules; i++) {
        cg_tv tv = rule_eval(&e->rules[i], v);
        if (tv == TV_FALSE)
            return TV_FALSE;
        if (tv == TV_UNKNOWN)
            res = TV_UNKNOWN;
    }
    return res;
}

/* ---- one-to-one lookup ---- */

static size_t lookup_enabled(const cg_mapping *m, cg_kind k, const char *key, size_t len)
{
    size_t i = table_find(m, k, key, len);
    return i != SIZE_MAX && m->ones[i].enabled ? i : SIZE_MAX;
}

/* The first enabled entry of kind k naming this certificate, SIZE_MAX if
 * none. */
static size_t one_lookup_kind(const cg_mapping *m, cg_view *v, cg_kind k, bool *undecodable)
{
    char key[2 * CG_DN_MAX + 8];
    if (k != K_RFC822) {
        if (!cg_view_key(v, k, key, sizeof key, undecodable))
            return SIZE_MAX;
        return lookup_enabled(m, k, key, strlen(key));
    }
    int slot = cg_slot_of(FIELD_SAN, SAN_EMAIL);
    size_t best = SIZE_MAX;
    if ((v->tainted >> slot) & 1)
        *undecodable = true;
    for (int16_t i = v->first[slot]; i >= 0; i = v->v[i].next) {
        const cg_value *x = &v->v[i];
        if (x->problem != VP_OK || x->len >= sizeof key)
            continue;
        for (size_t c = 0; c < x->len; c++)
            key[c] = fold(x->s[c]);
        size_t hit = lookup_enabled(m, K_RFC822, key, x->len);
        if (hit < best)
            best = hit;
    }
    return best;
}

/* The earliest enabled one-to-one entry naming the certificate, across
 * key kinds. When a kind's key cannot be computed (undecodable name) and
 * an entry of that kind comes before the best hit, that entry might have
 * been the one: *unknown is set to the kind and SIZE_MAX returned. */
static size_t one_find(const cg_mapping *m, cg_view *v, int *unknown)
{
    size_t best = SIZE_MAX, unknown_first = SIZE_MAX;
    *unknown = -1;
    for (int k = 0; k < N_KINDS; k++) {
        if (m->kind_first[k] >= best)
            continue; /* no entry of this kind, or none that could come first */
        bool undecodable = false;
        size_t i = one_lookup_kind(m, v, (cg_kind)k, &undecodable);
        if (undecodable && m->kind_first[k] < unknown_first) {
            unknown_first = m->kind_first[k];
            *unknown = k;
        }
        if (i < best)
            best = i;
    }
    if (unknown_first < best)
        return SIZE_MAX;
    *unknown = -1;
    return best;
}

/* ---- the sentences of a result ---- */

/* 'certificate "CN=bob,..." (serial 2B..., issuer "CN=...")' */
static void sb_cert(cg_sb *b, const cg_view *v)
{
    char subj[512], iss[512], serial[80];
    cg_sb s;
    sb_init(&s, subj, sizeof subj);
    cg_view_dn_text(v, FIELD_SUBJECT, &s);
    sb_init(&s, iss, sizeof iss);
    cg_view_dn_text(v, FIELD_ISSUER, &s);
    cg_cert_serial(v->crt, serial, sizeof serial);
    sb_puts(b, "certificate \"");
    sb_clip(b, subj, strlen(subj), 140);
    sb_printf(b, "\" (serial %s, issuer \"", serial);
    sb_clip(b, iss, strlen(iss), 100);
    sb_puts(b, "\")");
}

static void sb_quoted(cg_sb *b, const cg_value *x, size_t max)
{
    char why[96];
    if (x->problem != VP_OK) {
        cg_vproblem_text((cg_vproblem)x->problem, x->detail, why, sizeof why);
        sb_printf(b, "(a value that %s)", why);
        return;
    }
    sb_add(b, "\"", 1);
    sb_clip(b, x->s, x->len, max);
    sb_add(b, "\"", 1);
}

/* Why a rule does not match: 'subject.OU "Sales" does not match "Eng*"'. */
static void sb_rule_miss(cg_sb *b, const cg_rule *r, const cg_view *v)
{
    char sn[40];
    cg_slot_name(r->slot, sn, sizeof sn);
    if (v->count[r->slot] == 0) {
        sb_printf(b, "the certificate has no %s", sn);
        return;
    }
    sb_printf(b, "%s ", sn);
    int shown = 0;
    for (int16_t i = v->first[r->slot]; i >= 0 && shown < 3; i = v->v[i].next, shown++) {
        if (shown)
            sb_puts(b, ", ");
        sb_quoted(b, &v->v[i], 40);
    }
    if (v->count[r->slot] > 3)
        sb_printf(b, " (and %u more)", v->count[r->slot] - 3u);
    sb_printf(b, " %s \"", v->count[r->slot] > 1 ? "do not match" : "does not match");
    sb_clip(b, r->src, strlen(r->src), 60);
    sb_printf(b, "\"%s", r->cs ? "" : " (case-insensitive)");
}

/* The first rule of e that decides it does not match (or is unknown). */
static const cg_rule *m2o_first_miss(const cg_m2o *e, const cg_view *v)
{
    for (size_t i = 0; i < e->nrules; i++)
        if (rule_eval(&e->rules[i], v) != TV_TRUE)
            return &e->rules[i];
    return NULL;
}

static void fill_none(const cg_mapping *m, cg_map_result *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fill_none(const cg_mapping *m, cg_map_result *out, const char *fmt, ...)
{
    char detail[sizeof out->why.detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    out->outcome = CG_MAP_NONE;
    out->principal[0] = '\0';
    cg_refuse(&out->why, m->no_match_403 ? CG_REFUSE_MAP_NONE_403 : CG_REFUSE_MAP_NONE, "%s", detail);
}

/* No entry matched: name the certificate and say, for the one-to-one table
 * and the first few enabled many-to-one mappings, why not. */
static void fill_no_match(const cg_mapping *m, cg_view *v, cg_map_result *out)
{
    char detail[sizeof out->why.detail];
    cg_sb b;
    sb_init(&b, detail, sizeof detail - 120); /* room kept for the advice */
    sb_printf(&b, "No mapping in %s matches the ", m->file);
    sb_cert(&b, v);
    sb_puts(&b, ".");
    if (m->nones == 1)
        sb_printf(&b, " One-to-one: the one entry does not name it (SHA-256 %.16s...).",
                  cg_view_key_sha256(v));
    else if (m->nones)
        sb_printf(&b, " One-to-one: none of the %zu entries names it (SHA-256 %.16s...).", m->nones,
                  cg_view_key_sha256(v));
    size_t shown = 0, enabled = 0;
    for (size_t i = 0; i < m->nm2o; i++) {
        const cg_m2o *e = &m->m2o[i];
        if (!e->enabled)
            continue;
        if (enabled++ >= CG_DETAIL_MAPPINGS)
            continue;
        sb_printf(&b, "%s\"%s\": ", shown++ ? "; " : " Many-to-one: ", e->name);
        const cg_rule *r = m2o_first_miss(e, v);
        if (r)
            sb_rule_miss(&b, r, v);
    }
    if (enabled > CG_DETAIL_MAPPINGS)
        sb_printf(&b, "; and %zu more", enabled - CG_DETAIL_MAPPINGS);
    if (shown)
        sb_puts(&b, ".");
    if (!m->nones && !enabled)
        sb_puts(&b, " The file has no enabled mapping.");
    b.cap = sizeof detail; /* now the advice may use the room kept */
    b.full = false;
    sb_puts(&b, " Add a one-to-one entry or a many-to-one rule for it; `certgate explain --cert` "
                "shows every field the rules can use.");
    fill_none(m, out, "%s", detail);
}

/* A one-to-one entry or an allow mapping decided: build the principal. */
static void fill_allow(const cg_mapping *m, cg_view *v, const cg_template *t, const char *label,
                       cg_map_result *out)
{
    char why[400], cert[600];
    cg_sb b;
    fmt_into(out->rule, sizeof out->rule, "%s", label);
    if (cg_template_eval(t, v, m->default_realm, out->principal, sizeof out->principal, why, sizeof why)) {
        out->outcome = CG_MAP_ALLOW;
        return;
    }
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    fill_none(m, out, "The %s matches %s in %s, but no principal can be made for it: %s. "
              "Nothing else is tried: fix the principal template or the certificate.",
              cert, label, m->file, why);
}

static void fill_deny(const cg_mapping *m, cg_view *v, const cg_m2o *e, cg_map_result *out)
{
    char cert[600];
    cg_sb b;
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    out->outcome = CG_MAP_DENY;
    out->principal[0] = '\0';
    fmt_into(out->rule, sizeof out->rule, "many-to-one \"%s\"", e->name);
    cg_refuse(&out->why, CG_REFUSE_MAP_DENIED, "The mapper denied access: the %s matches the deny "
              "mapping \"%s\" (%s, line %d).", cert, e->name, m->file, e->line);
}

/* An undecodable value stands where a decision was needed. */
static void fill_unknown_m2o(const cg_mapping *m, cg_view *v, const cg_m2o *e, cg_map_result *out)
{
    char cert[600], sn[40] = "a field", why[96] = "cannot be decoded";
    cg_sb b;
    const cg_rule *r = m2o_first_miss(e, v);
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    if (r) {
        cg_slot_name(r->slot, sn, sizeof sn);
        for (int16_t i = v->first[r->slot]; i >= 0; i = v->v[i].next)
            if (v->v[i].problem != VP_OK)
                cg_vproblem_text((cg_vproblem)v->v[i].problem, v->v[i].detail, why, sizeof why);
    }
    fmt_into(out->rule, sizeof out->rule, "many-to-one \"%s\"", e->name);
    fill_none(m, out, "The %s has a %s value that %s, so certgate cannot tell whether many-to-one "
              "\"%s\" (%s, line %d) matches it; it refuses rather than guess. Reissue the "
              "certificate with a proper %s.", cert, sn, why, e->name, m->file, e->line, sn);
}

static void fill_unknown_one(const cg_mapping *m, cg_view *v, int kind, cg_map_result *out)
{
    char cert[600];
    cg_sb b;
    sb_init(&b, cert, sizeof cert);
    sb_cert(&b, v);
    fill_none(m, out, "The %s has a name with a value that cannot be decoded, so its %s key cannot "
              "be computed and one-to-one entry #%zu of %s might have named it; certgate refuses "
              "rather than guess.", cert, cg_kind_names[kind], m->kind_first[kind] + 1, m->file);
}

static void mapping_decide(const cg_mapping *m, cg_view *v, cg_map_result *out)
{
    char label[128];
    int unknown;
    size_t i = one_find(m, v, &unknown);
    if (unknown >= 0) {
        fill_unknown_one(m, v, unknown, out);
        return;
    }
    if (i != SIZE_MAX) {
        one_label(m, i, label, sizeof label);
        fill_allow(m, v, &m->ones[i].principal, label, out);
        return;
    }
    for (size_t j = 0; j < m->nm2o; j++) {
        const cg_m2o *e = &m->m2o[j];
        if (!e->enabled)
            continue;
        cg_tv tv = m2o_eval(e, v);
        if (tv == TV_FALSE)
            continue;
        if (tv == TV_UNKNOWN) {
            fill_unknown_m2o(m, v, e, out);
        } else if (e->deny) {
            fill_deny(m, v, e, out);
        } else {
            fmt_into(label, sizeof label, "many-to-one \"%s\"", e->name);
            fill_allow(m, v, &e->principal, label, out);
        }
        return;
    }
    fill_no_match(m, v, out);
}

void cg_mapping_map(const cg_mapping *m, const mbedtls_x509_crt *leaf, cg_map_result *out)
{
    cg_view v;
    out->outcome = CG_MAP_NONE;
    out->principal[0] = '\0';
    out->rule[0] = '\0';
    out->why.kind = CG_REFUSE_NONE;
    out->why.detail[0] = '\0';
    if (!m || !leaf || !leaf->raw.p) {
        cg_refuse(&out->why, CG_REFUSE_MAP_NONE, "No certificate to map (no mapping file loaded, "
                  "or no client certificate).");
        return;
    }
    cg_view_init(&v, leaf);
    mapping_decide(m, &v, out);
}

/* ======================================================================
 * Explaining (certgate explain)
 * ====================================================================== */

static void explain_value(FILE *f, const char *label, const cg_value *x)
{
    char buf[1200], why[96];
    cg_sb b;
    sb_init(&b, buf, sizeof buf);
    if (x->problem == VP_OK) {
        sb_add(&b, "\"", 1);
        sb_clip(&b, x->s, x->len, 400);
        sb_add(&b, "\"", 1);
    } else {
        cg_vproblem_text((cg_vproblem)x->problem, x->detail, why, sizeof why);
        sb_hex_value(&b, x);
        sb_printf(&b, "  UNDECODABLE: %s; it never matches a rule and never goes into a principal", why);
    }
    fprintf(f, "    %-22s %s\n", label, buf);
}

static void explain_dn(FILE *f, const cg_view *v, int field)
{
    char buf[2048], label[96];
    cg_sb b;
    sb_init(&b, buf, sizeof buf);
    cg_view_dn_text(v, field, &b);
    fprintf(f, "  %-24s %s\n", cg_field_names[field], buf);
    for (uint16_t i = v->dn_begin[field]; i < v->dn_end[field]; i++) {
        const cg_value *x = &v->v[i];
        if (x->slot != SLOT_OTHER) {
            cg_slot_name(x->slot, label, sizeof label);
        } else {
            cg_sb t;
            sb_init(&t, label, sizeof label);
            sb_printf(&t, "%s ", cg_field_names[field]);
            sb_attr_type(&t, x);
            sb_puts(&t, " (no rule)");
        }
        explain_value(f, label, x);
    }
}

static void explain_fields(FILE *f, cg_view *v)
{
    char label[40], serial[80];
    fprintf(f, "The certificate as the mapper sees it (values decoded from DER):\n");
    explain_dn(f, v, FIELD_SUBJECT);
    explain_dn(f, v, FIELD_ISSUER);
    for (int sub = 0; sub < N_SAN_SUBS; sub++) {
        int slot = cg_slot_of(FIELD_SAN, sub);
        for (int16_t i = v->first[slot]; i >= 0; i = v->v[i].next)
            explain_value(f, cg_slot_name(slot, label, sizeof label), &v->v[i]);
    }
    if (v->san_malformed)
        fprintf(f, "  the SubjectAltName extension is malformed: san.* rules cannot be decided\n");
    if (v->overflow)
        fprintf(f, "  the certificate has more than %d name values: only the first are shown, and "
                "no rule can be decided\n", CG_VIEW_MAX_VALUES);
    cg_cert_serial(v->crt, serial, sizeof serial);
    const char *ski = cg_view_key_ski(v);
    fprintf(f, "  %-24s %s\n", "serial", serial);
    fprintf(f, "  %-24s %s\n", "subject key identifier", ski ? ski : "(none)");
    fprintf(f, "  %-24s %s\n", "SHA-1 of public key", cg_view_key_sha1pk(v));
    fprintf(f, "  %-24s %s\n", "SHA-256", cg_view_key_sha256(v));
}

static bool kind_used(const cg_mapping *m, cg_kind k)
{
    for (size_t i = 0; i < m->nones; i++)
        if (m->ones[i].kind == k)
            return true;
    return false;
}

static void explain_entry(FILE *f, const cg_mapping *m, cg_view *v, size_t i, const char *by)
{
    char label[128], principal[256], why[400];
    const cg_one *e = &m->ones[i];
    one_label(m, i, label, sizeof label);
    if (!e->enabled) {
        fprintf(f, "    by %s: %s (line %d) names it, but is disabled\n", by, label, e->line);
    } else if (cg_template_eval(&e->principal, v, m->default_realm, principal, sizeof principal, why,
                             sizeof why)) {
        fprintf(f, "    by %s: %s (line %d) names it -> %s\n", by, label, e->line, principal);
    } else {
        fprintf(f, "    by %s: %s (line %d) names it, but %s\n", by, label, e->line, why);
    }
}

static void explain_one(FILE *f, const cg_mapping *m, cg_view *v)
{
    char key[2 * CG_DN_MAX + 8];
    fprintf(f, "One-to-one (%zu %s, checked first; the earliest entry that names the "
            "certificate wins):\n", m->nones, m->nones == 1 ? "entry" : "entries");
    for (int k = 0; k < N_KINDS; k++) {
        if (!kind_used(m, (cg_kind)k))
            continue;
        bool undecodable = false, found = false;
        if (k == K_RFC822) {
            int slot = cg_slot_of(FIELD_SAN, SAN_EMAIL);
            for (int16_t i = v->first[slot]; i >= 0; i = v->v[i].next) {
                const cg_value *x = &v->v[i];
                if (x->problem != VP_OK || x->len >= sizeof key)
                    continue;
                for (size_t c = 0; c < x->len; c++)
                    key[c] = fold(x->s[c]);
                size_t hit = table_find(m, K_RFC822, key, x->len);
                if (hit != SIZE_MAX) {
                    explain_entry(f, m, v, hit, "rfc822");
                    found = true;
                }
            }
            undecodable = (v->tainted >> slot) & 1;
        } else if (cg_view_key(v, (cg_kind)k, key, sizeof key, &undecodable)) {
            size_t hit = table_find(m, (cg_kind)k, key, strlen(key));
            if (hit != SIZE_MAX) {
                explain_entry(f, m, v, hit, cg_kind_names[k]);
                found = true;
            }
        }
        if (undecodable)
            fprintf(f, "    by %s: cannot be computed (a name value cannot be decoded)\n", cg_kind_names[k]);
        else if (!found)
            fprintf(f, "    by %s: no entry%s\n", cg_kind_names[k],
                    k == K_SKI && !v->ski ? " (the certificate has no subject key identifier)" : "");
    }
}

static void explain_rules(FILE *f, const cg_m2o *e, const cg_view *v)
{
    char sn[40], buf[600];
    for (size_t i = 0; i < e->nrules; i++) {
        const cg_rule *r = &e->rules[i];
        cg_tv tv = rule_eval(r, v);
        cg_sb b;
        sb_init(&b, buf, sizeof buf);
        if (tv == TV_TRUE) {
            sb_printf(&b, "%s matches \"", cg_slot_name(r->slot, sn, sizeof sn));
            sb_clip(&b, r->src, strlen(r->src), 200);
            sb_printf(&b, "\"%s", r->cs ? "" : " (case-insensitive)");
        } else {
            sb_rule_miss(&b, r, v);
            if (tv == TV_UNKNOWN)
                sb_puts(&b, " [undecided: a value cannot be decoded]");
        }
        fprintf(f, "        rule %zu: %s\n", i + 1, buf);
    }
}

static void explain_m2o(FILE *f, const cg_mapping *m, const cg_view *v, bool decided)
{
    fprintf(f, "Many-to-one (%zu %s, in order; the first whose rules all match wins):\n", m->nm2o,
            m->nm2o == 1 ? "mapping" : "mappings");
    for (size_t j = 0; j < m->nm2o; j++) {
        const cg_m2o *e = &m->m2o[j];
        fprintf(f, "  [%zu] \"%s\" (line %d, %s%s%s): ", j + 1, e->name, e->line, e->deny ? "deny" : "allow",
                e->deny ? "" : " -> ", e->deny ? "" : e->principal.src);
        if (!e->enabled) {
            fprintf(f, "disabled\n");
            continue;
        }
        cg_tv tv = m2o_eval(e, v);
        fprintf(f, "%s%s\n", tv == TV_TRUE ? "MATCHES" : tv == TV_FALSE ? "no match" : "UNDECIDED",
                decided ? " (not reached)" : "");
        explain_rules(f, e, v);
        if (tv != TV_FALSE)
            decided = true;
    }
}

void cg_mapping_explain(const cg_mapping *m, const mbedtls_x509_crt *leaf, void *stdio_file)
{
    FILE *f = stdio_file;
    cg_view v;
    cg_map_result r;
    if (!leaf || !leaf->raw.p) {
        fprintf(f, "No certificate to map.\n");
        return;
    }
    cg_view_init(&v, leaf);
    explain_fields(f, &v);
    if (!m) {
        fprintf(f, "No mapping file: the certificate itself is the identity.\n");
        return;
    }
    fprintf(f, "Mapping file %s%s%s\n", m->file, m->default_realm ? ", default_realm " : "",
            m->default_realm ? m->default_realm : "");
    explain_one(f, m, &v);
    int unknown;
    bool one_decided = one_find(m, &v, &unknown) != SIZE_MAX || unknown >= 0;
    explain_m2o(f, m, &v, one_decided);
    cg_mapping_map(m, leaf, &r);
    switch (r.outcome) {
    case CG_MAP_ALLOW: fprintf(f, "Result: ALLOW as %s (%s)\n", r.principal, r.rule); break;
    case CG_MAP_DENY:
        fprintf(f, "Result: DENY, %d.%d %s (%s)\n  %s\n", cg_refusal_status(r.why.kind),
                cg_refusal_substatus(r.why.kind), cg_refusal_title(r.why.kind), r.rule, r.why.detail);
        break;
    case CG_MAP_NONE:
        fprintf(f, "Result: NO MAPPING, %d%s%.0d %s\n  %s\n", cg_refusal_status(r.why.kind),
                cg_refusal_substatus(r.why.kind) ? "." : "", cg_refusal_substatus(r.why.kind),
                cg_refusal_title(r.why.kind), r.why.detail);
        break;
    }
}
