#include "config_revocation.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>


#define CG_CRL_FETCH_TIMEOUT_MIN_MS 1000u
#define CG_CRL_FETCH_TIMEOUT_MAX_MS (5u * 60u * 1000u)
#define CG_CRL_SIZE_MIN           1024u
#define CG_CRL_SIZE_MAX           (1024u * 1024u * 1024u)
#define CG_CRL_REDIRECTS_MAX      10u
#define CG_CRL_REFRESH_MAX_MS     (7u * 24u * 3600u * 1000u)   /* CRLs are rarely valid longer */
#define CG_STALE_GRACE_MAX_MS     (30u * 24u * 3600u * 1000u)
#define CG_OCSP_TIMEOUT_MIN_MS    100u
#define CG_OCSP_TIMEOUT_MAX_MS    (60u * 1000u)
#define CG_OCSP_SIZE_MIN          512u
#define CG_OCSP_SIZE_MAX          (1024u * 1024u)

/* allowed_schemes: a list of http, https, ldap. Replaces the default set
 * only when the whole list is valid. */
static void parse_allowed_schemes(cg_loader *ld, const cg_map *m)
{
    static const char *const schemes[] = { "http", "https", "ldap", NULL };
    static const char expect[] = "one of: http, https, ldap";
    cg_revocation_cfg *r = &ld->cfg->revocation;
    yaml_node_t *seq = cg_yaml_map_get(&ld->y, m->node, "allowed_schemes", NULL);
    char path[256], d[96];
    if (!seq)
        return;
    cg_yaml_key_path(m->path, "allowed_schemes", path, sizeof path);
    if (seq->type != YAML_SEQUENCE_NODE) {
        cg_yaml_error(&ld->y, seq, "%s: expected a list of schemes such as [http, ldap] (each %s), got %s",
                      path, expect, cg_yaml_describe(seq, d, sizeof d));
        return;
    }
    size_t n = cg_yaml_list_len(seq);
    if (n == 0) {
        cg_yaml_error(&ld->y, seq, "%s: the list is empty (expected at least %s; a listener that should "
                      "not fetch CRLs uses revocation mode cache-only or off)", path, expect);
        return;
    }
    bool allow[3] = { false, false, false }, ok = true;
    yaml_node_t *first[3] = { NULL, NULL, NULL };
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cg_yaml_list_item(&ld->y, seq, i);
        if (it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: expected a scheme (%s), got %s", path, i + 1, expect,
                          cg_yaml_describe(it, d, sizeof d));
            ok = false;
            continue;
        }
        size_t k = 0;
        while (schemes[k] && !cg_yaml_scalar_is(it, schemes[k]))
            k++;
        if (!schemes[k]) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: unknown scheme %s (expected %s)", path, i + 1,
                          cg_yaml_describe(it, d, sizeof d), expect);
            ok = false;
        } else if (first[k]) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: duplicate scheme \"%s\" (first at line %d, column %d; "
                          "expected each scheme once)", path, i + 1, schemes[k],
                          (int)first[k]->start_mark.line + 1, (int)first[k]->start_mark.column + 1);
            ok = false;
        } else {
            first[k] = it;
            allow[k] = true;
        }
    }
    if (ok) {
        r->allow_http = allow[0];
        r->allow_https = allow[1];
        r->allow_ldap = allow[2];
    }
}

void cg_config_parse_revocation(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "cache_dir", "fetch_timeout", "max_crl_size", "max_redirects",
                                        "allowed_schemes", "refresh_before", "ocsp_timeout",
                                        "ocsp_max_response_size", "ocsp_nonce", NULL };
    cg_revocation_cfg *r = &ld->cfg->revocation;
    cg_map m;
    if (!cg_loader_open_section(ld, root, "revocation", keys, "in revocation", &m))
        return;

    /* Not checked here: the revocation module creates it. */
    cg_loader_get_path(ld, &m, "cache_dir", &r->cache_dir, NULL);
    cg_loader_get_duration(ld, &m, "fetch_timeout", CG_CRL_FETCH_TIMEOUT_MIN_MS, CG_CRL_FETCH_TIMEOUT_MAX_MS,
                           &r->fetch_timeout_ms);
    uint32_t size;
    if (cg_loader_get_size(ld, &m, "max_crl_size", CG_CRL_SIZE_MIN, CG_CRL_SIZE_MAX, &size) == CG_YAML_SET)
        r->max_crl_size = size;
    cg_loader_get_uint(ld, &m, "max_redirects", 0, CG_CRL_REDIRECTS_MAX, &r->max_redirects);
    parse_allowed_schemes(ld, &m);
    cg_loader_get_seconds(ld, &m, "refresh_before", 0, CG_CRL_REFRESH_MAX_MS, &r->refresh_before_s);
    cg_loader_get_duration(ld, &m, "ocsp_timeout", CG_OCSP_TIMEOUT_MIN_MS, CG_OCSP_TIMEOUT_MAX_MS,
                           &r->ocsp_timeout_ms);
    cg_loader_get_size(ld, &m, "ocsp_max_response_size", CG_OCSP_SIZE_MIN, CG_OCSP_SIZE_MAX, &r->ocsp_max_response);
    cg_yaml_get_bool(&ld->y, m.node, m.path, "ocsp_nonce", &r->ocsp_nonce);
}

/* ocsp_responder: an http:// or https:// URL without spaces or control characters. */
static void parse_ocsp_responder(cg_loader *ld, const cg_map *m, cg_listener_revocation *r)
{
    static const char expect[] = "an http:// or https:// URL of an OCSP responder";
    yaml_node_t *n;
    const char *s;
    char path[256];
    if (cg_loader_get_string(ld, m, "ocsp_responder", expect, &n, &s) != CG_YAML_SET)
        return;
    cg_yaml_key_path(m->path, "ocsp_responder", path, sizeof path);
    bool scheme = strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
    bool clean = strlen(s) == n->data.scalar.length && strlen(s) <= 2048;
    for (const char *p = s; clean && *p; p++)
        clean = *p > 0x20 && *p < 0x7f;
    if (!scheme || !clean || !strstr(s, "://")[3]) {
        cg_yaml_error(&ld->y, n, "%s: expected %s, got \"%.200s\"", path, expect, s);
        return;
    }
    r->ocsp_responder = cg_loader_strdup(ld, s);
}

/* crl_files: files or directories, which must exist now (a typo would
 * otherwise only show as refused clients). */
static cg_got parse_crl_files(cg_loader *ld, const cg_map *m, cg_listener_revocation *r)
{
    static const char expect[] = "a CRL file (PEM or DER) or a directory of them";
    yaml_node_t *seq;
    char path[256], d[96];
    cg_got got = cg_loader_get_list(ld, m, "crl_files", "a list of CRL files or directories", &seq);
    if (got != CG_YAML_SET)
        return got;
    size_t n = cg_yaml_list_len(seq);
    if (n == 0)
        return CG_YAML_SET;
    r->crl_files = cg_loader_calloc(ld, n, sizeof *r->crl_files);
    if (!r->crl_files)
        return CG_YAML_BAD;
    cg_yaml_key_path(m->path, "crl_files", path, sizeof path);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cg_yaml_list_item(&ld->y, seq, i);
        if (it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it) || it->data.scalar.length == 0 ||
            strlen(cg_yaml_text(it)) != it->data.scalar.length) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: expected %s, got %s", path, i + 1, expect,
                          it->type == YAML_SCALAR_NODE && !cg_yaml_is_null(it) && it->data.scalar.length == 0
                         ? "an empty string" : cg_yaml_describe(it, d, sizeof d));
            got = CG_YAML_BAD;
            continue;
        }
        char *file = cg_loader_resolve_path(ld, cg_yaml_text(it));
        if (!file)
            continue;
        struct stat st;
        if (stat(file, &st) != 0) {
            if (errno == ENOENT)
                cg_yaml_error(&ld->y, it, "%s[#%zu]: %s does not exist (expected %s)", path, i + 1, file, expect);
            else
                cg_yaml_error(&ld->y, it, "%s[#%zu]: cannot access %s: %s (expected %s)", path, i + 1, file,
                              strerror(errno), expect);
            free(file);
            got = CG_YAML_BAD;
        } else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: %s is neither a file nor a directory (expected %s)", path,
                          i + 1, file, expect);
            free(file);
            got = CG_YAML_BAD;
        } else {
            r->crl_files[r->ncrl_files++] = file;
        }
    }
    return got;
}

void cg_config_parse_listener_revocation(cg_loader *ld, const cg_map *lm, const char *ldesc,
                                         cg_listener_cfg *l)
{
    static const char *const keys[] = { "mode", "crl_files", "stale_grace", "policy", "ocsp_responder", NULL };
    static const char *const modes[] = { "fetch", "cache-only", "off", NULL };
    static const char *const policies[] = { "crl", "ocsp", "ocsp_then_crl", "crl_then_ocsp", NULL };
    cg_listener_revocation *r = &l->revocation;
    char where[192], path[256];
    cg_map m;
    cg_fmt_into(where, sizeof where, "in revocation of %s", ldesc);
    if (!cg_loader_open_section(ld, lm, "revocation", keys, where, &m))
        return;

    int mode;
    cg_got gotm = cg_loader_get_enum(ld, &m, "mode", modes, &mode);
    if (gotm == CG_YAML_SET)
        r->mode = (cg_revocation_mode)mode;
    yaml_node_t *mn = cg_yaml_map_get(&ld->y, m.node, "mode", NULL);
    cg_got gotf = parse_crl_files(ld, &m, r);
    cg_loader_get_seconds(ld, &m, "stale_grace", 0, CG_STALE_GRACE_MAX_MS, &r->stale_grace_s);
    int policy;
    if (cg_loader_get_enum(ld, &m, "policy", policies, &policy) == CG_YAML_SET)
        r->policy = (cg_revocation_policy)policy;
    parse_ocsp_responder(ld, &m, r);

    cg_yaml_key_path(m.path, "mode", path, sizeof path);
    if (gotm == CG_YAML_SET && r->mode == CG_REVOCATION_CACHE_ONLY && r->policy != CG_REVPOLICY_CRL)
        cg_yaml_error(&ld->y, mn, "%s: cache-only does not fetch, and OCSP answers are fetched (revocation.policy "
                      "%s needs mode fetch; expected mode fetch, or policy crl)", path, policies[r->policy]);
    if (gotm == CG_YAML_SET && r->mode == CG_REVOCATION_CACHE_ONLY && gotf != CG_YAML_BAD && r->ncrl_files == 0)
        cg_yaml_error(&ld->y, mn, "%s: cache-only needs crl_files (without them no CRL can be obtained and "
                      "every client certificate is refused; expected crl_files: [file or directory, ...])",
                      path);
    if (gotm == CG_YAML_SET && r->mode == CG_REVOCATION_OFF)
        cg_yaml_warning(&ld->y, mn, "revocation checking is OFF for %s: revoked certificates will be "
                        "accepted", ldesc);
}
