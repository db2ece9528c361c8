/* The keys of one-to-one entries as the mapping file gives them (part of
 * the loader: mapping_load_internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/error.h>

#include "cert_text.h"
#include "base/base.h"
#include "mapping_load_internal.h"
#include "mapping_text.h"
#include "x509/x509.h"

#define CG_CERT_FILE_MAX   (1u << 20)   /* a certificate_file */

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
        if (cg_hex_value(s[i]) < 0 || o + 1 >= cap) {
            *bad = i;
            return -1;
        }
        out[o++] = cg_ascii_lower(s[i]);
    }
    out[o] = '\0';
    return (long)o;
}

/* ---- one-to-one keys ---- */

/* The ways to name the certificate; an entry uses exactly one. */
static const char *const one_selectors[] = { "certificate", "certificate_file", "sha256", "issuer",
                                             "ski", "sha1_public_key", "rfc822", NULL };

static bool one_key_certificate_file(cg_mload *ld, yaml_node_t *n, const char *path, const char *file,
                                     char *key)
{
    char full[4096];
    if (file[0] == '/' || !ld->dir)
        cg_fmt_into(full, sizeof full, "%s", file);
    else
        cg_fmt_into(full, sizeof full, "%s/%s", ld->dir, file);
    size_t len = 0;
    cg_file_error fe;
    /* Only a regular file: a FIFO or a device would stall or flood the load. */
    unsigned char *buf = cg_file_read(full, CG_CERT_FILE_MAX, CG_FILE_REGULAR, &len, &fe);
    if (!buf && fe.fail == CG_FILE_NOT_REGULAR) {
        cg_yaml_error(&ld->y, n, "%s: %s is not a regular file", path, full);
        return false;
    }
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
        if (cg_cert_is_ca(c))
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
    if (cg_mload_get_utf8(ld, m, key, "a distinguished name such as \"CN=Example CA,O=Example,C=US\"", &n,
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
    if (cg_mload_get_utf8(ld, m, "serial", "the serial number in hex, e.g. 2B:D2:F8:90", &n, &s) != CG_YAML_SET)
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
    cg_fmt_into(out, cap, "%s", p);
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
    cg_ascii_lower_copy(out, s, len + 1); /* with the NUL */
    return true;
}

/* Which selector keys the entry has; reports none or several. */
int cg_mload_selector(cg_mload *ld, const cg_mnode *m)
{
    int found = -1;
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
bool cg_mload_key(cg_mload *ld, const cg_mnode *m, int sel, cg_one *e, char *key, size_t cap)
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
                                     : cg_mload_get_utf8(ld, m, name, "a value", &n, &s) != CG_YAML_SET)
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
