#include "config_kerberos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define CG_KDC_TIMEOUT_MIN_MS     100u
#define CG_KDC_TIMEOUT_MAX_MS     (5u * 60u * 1000u)
#define CG_KRB_REFRESH_MAX_MS     (12u * 3600u * 1000u)       /* AD tickets live 10h */
#define CG_KRB_NEGATIVE_MAX_MS    (10u * 60u * 1000u)
#define CG_KRB_MAX_REALMS         64u
#define CG_KRB_MAX_REALM_ITEMS    32u    /* kdcs, upn_suffixes per realm */

/* Characters that never belong in a principal, realm or SPN as written
 * here (escapes are not supported). */
static bool krb_name_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == 0x7f || c == '\\')
            return false;
    }
    return true;
}

/* A DNS name as KDC hosts and UPN suffixes are written: letters, digits,
 * '-' and '.', no empty label. */
static bool dns_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(cg_ascii_is_alpha(c) || cg_ascii_is_digit(c) || c == '-' || (c == '.' && s[i + 1] != '.')))
            return false;
    }
    return true;
}

/* "host", "host:port", "[v6]" or "[v6]:port", as krb5.conf's kdc = takes it. */
static bool kdc_address_ok(const char *s)
{
    const char *host = s, *end, *port = NULL;
    if (*s == '[') {
        end = strchr(s, ']');
        if (!end || end == s + 1 || strspn(s + 1, "0123456789abcdefABCDEF:.") != (size_t)(end - s - 1))
            return false;
        if (end[1] == ':')
            port = end + 2;
        else if (end[1])
            return false;
        host = NULL;
    } else {
        const char *colon = strchr(s, ':');
        end = colon ? colon : s + strlen(s);
        if (colon)
            port = colon + 1;
    }
    if (host && !dns_name_ok(host, (size_t)(end - host)))
        return false;
    if (port) {
        if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
            return false;
        long v = strtol(port, NULL, 10);
        if (v < 1 || v > 65535)
            return false;
    }
    return true;
}

/* A list of short texts of a realm (kdcs, upn_suffixes), each checked by ok. */
static void parse_realm_items(cg_loader *ld, const cg_map *m, const char *key, const char *expect,
                              bool (*ok)(const char *), char ***out, size_t *nout)
{
    yaml_node_t *seq;
    char path[256], d[96];
    if (cg_loader_get_list(ld, m, key, "a list", &seq) != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq);
    cg_yaml_key_path(m->path, key, path, sizeof path);
    if (n > CG_KRB_MAX_REALM_ITEMS) {
        cg_yaml_error(&ld->y, seq, "%s: %zu items, at most %u are allowed", path, n, CG_KRB_MAX_REALM_ITEMS);
        return;
    }
    if (n == 0 || !(*out = cg_loader_calloc(ld, n, sizeof **out)))
        return;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cg_yaml_list_item(&ld->y, seq, i);
        const char *v = it->type == YAML_SCALAR_NODE && !cg_yaml_is_null(it) ? cg_yaml_text(it) : NULL;
        if (!v || strlen(v) != cg_yaml_len(it) || !ok(v)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: expected %s, got %s", path, i + 1, expect,
                          cg_yaml_describe(it, d, sizeof d));
            continue;
        }
        if (!((*out)[*nout] = cg_loader_strdup(ld, v)))
            return;
        (*nout)++;
    }
}

static bool upn_suffix_ok(const char *s) { return dns_name_ok(s, strlen(s)); }

static bool realm_name_ok(const char *s) { return *s && krb_name_ok(s) && !strpbrk(s, "@/"); }

/* kerberos.realms: the realms served besides (or with the KDCs of) the
 * proxy's own. Names and UPN suffixes are matched case-insensitively
 * (AD's way), so two that differ only in case are one too many. */
static void parse_realms(cg_loader *ld, const cg_map *km, const char *default_realm)
{
    static const char *const keys[] = { "name", "kdcs", "upn_suffixes", NULL };
    cg_kerberos_cfg *k = &ld->cfg->kerberos;
    yaml_node_t *seq;
    char path[256];
    if (cg_loader_get_list(ld, km, "realms", "a list of realms, each with name and kdcs", &seq) != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq);
    cg_yaml_key_path(km->path, "realms", path, sizeof path);
    if (n > CG_KRB_MAX_REALMS) {
        cg_yaml_error(&ld->y, seq, "%s: %zu realms, at most %u are allowed", path, n, CG_KRB_MAX_REALMS);
        return;
    }
    if (n == 0 || !(k->realms = cg_loader_calloc(ld, n, sizeof *k->realms)))
        return;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cg_yaml_list_item(&ld->y, seq, i);
        const char *peek = it->type == YAML_MAPPING_NODE ? cg_loader_peek_name(ld, it, "name") : NULL;
        cg_map m = { .node = it };
        if (peek) {
            cg_fmt_into(m.path, sizeof m.path, "%s[%s]", path, peek);
            cg_fmt_into(m.where, sizeof m.where, "in realm \"%s\" of kerberos.realms", peek);
        } else {
            cg_fmt_into(m.path, sizeof m.path, "%s[#%zu]", path, i + 1);
            cg_fmt_into(m.where, sizeof m.where, "in %s[#%zu]", path, i + 1);
        }
        if (!cg_loader_expect_map(ld, it, m.path, keys))
            continue;
        cg_yaml_check_keys(&ld->y, it, m.where, keys);
        yaml_node_t *nn;
        const char *name;
        cg_got got = cg_loader_get_string(ld, &m, "name", "a realm name such as CORP.EXAMPLE.TEST", &nn, &name);
        if (got == CG_YAML_ABSENT)
            cg_loader_missing(ld, &m, "name", "the realm's name, e.g. CORP.EXAMPLE.TEST");
        if (got != CG_YAML_SET)
            continue;
        char kp[300];
        cg_fmt_into(kp, sizeof kp, "%s.name", m.path);
        if (!realm_name_ok(name)) {
            cg_yaml_error(&ld->y, nn, "%s: \"%s\" is not a realm name (expected e.g. CORP.EXAMPLE.TEST, without "
                          "\"@\", \"/\" or spaces)", kp, name);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < k->nrealms && !dup; j++)
            dup = cg_ascii_ieq_str(name, strlen(name), k->realms[j].name);
        if (dup) {
            cg_yaml_error(&ld->y, nn, "%s: realm %s is listed twice (realm names are compared without regard to "
                          "case): merge the two entries", kp, name);
            continue;
        }
        if (default_realm && cg_ascii_ieq_str(name, strlen(name), default_realm) && strcmp(name, default_realm)) {
            cg_yaml_error(&ld->y, nn, "%s: \"%s\" is kerberos.realm spelled with another case: write it as %s",
                          kp, name, default_realm);
            continue;
        }
        for (const char *p = name; *p; p++) {
            if (*p >= 'a' && *p <= 'z') {
                cg_yaml_warning(&ld->y, nn, "%s: \"%s\" has lower-case letters; Active Directory realms are "
                                "the DNS domain in upper case (mapped names are matched without regard to case, "
                                "but tickets carry the realm as written here)", kp, name);
                break;
            }
        }
        cg_kerberos_realm_cfg *r = &k->realms[k->nrealms];
        if (!(r->name = cg_loader_strdup(ld, name)))
            return;
        k->nrealms++;
        parse_realm_items(ld, &m, "kdcs", "a KDC address: host, host:port or [IPv6]:port", kdc_address_ok,
                          &r->kdcs, &r->nkdcs);
        parse_realm_items(ld, &m, "upn_suffixes", "a UPN suffix (a DNS name such as corp.example.com)",
                          upn_suffix_ok, &r->upn_suffixes, &r->nupn_suffixes);
    }
    /* a UPN suffix names one realm, and is not itself a realm's name */
    for (size_t i = 0; i < k->nrealms; i++) {
        for (size_t s = 0; s < k->realms[i].nupn_suffixes; s++) {
            const char *suf = k->realms[i].upn_suffixes[s];
            const char *clash = NULL;
            if (default_realm && cg_ascii_ieq_str(suf, strlen(suf), default_realm))
                clash = default_realm;
            for (size_t j = 0; j < k->nrealms && !clash; j++) {
                if (cg_ascii_ieq_str(suf, strlen(suf), k->realms[j].name))
                    clash = k->realms[j].name;
                for (size_t t = 0; t < k->realms[j].nupn_suffixes && !clash && (j < i || (j == i && t < s)); t++)
                    if (cg_ascii_ieq_str(suf, strlen(suf), k->realms[j].upn_suffixes[t]))
                        clash = k->realms[j].name;
            }
            if (clash) {
                yaml_node_t *rn = cg_yaml_list_item(&ld->y, seq, i);
                cg_yaml_error(&ld->y, cg_loader_key_node(ld, rn, "upn_suffixes"), "%s[%s].upn_suffixes: %s is "
                              "already the realm %s or one of its UPN suffixes (a suffix belongs to one realm, and "
                              "a realm's own name needs no suffix entry)", path, k->realms[i].name, suf, clash);
            }
        }
    }
}

void cg_config_parse_kerberos(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "keytab", "principal", "realm", "realms", "krb5_config",
                                        "kdc_timeout", "refresh_before", "negative_cache", NULL };
    cg_kerberos_cfg *k = &ld->cfg->kerberos;
    cg_map m;
    yaml_node_t *pn = NULL, *rn = NULL;
    const char *principal = NULL, *realm = NULL;
    char path[256];

    /* Present, even if invalid: backends' kerberos sections then do not
     * also report it as missing. */
    k->enabled = cg_yaml_map_get(&ld->y, root->node, "kerberos", NULL) != NULL;
    if (!cg_loader_open_section(ld, root, "kerberos", keys, "in kerberos", &m))
        return;

    /* Readability is the delegation module's to check, with the krb5 library. */
    if (cg_loader_get_path(ld, &m, "keytab", &k->keytab, NULL) == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "keytab", "the keytab file holding the proxy's own service key");

    cg_got gotp = cg_loader_get_string(ld, &m, "principal", "the proxy's principal, e.g. HTTP/proxy.example.test",
                                       &pn, &principal);
    if (gotp == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "principal", "the proxy's own principal (in the keytab), e.g. "
                          "HTTP/proxy.example.test");
    if (gotp == CG_YAML_SET) {
        const char *at = strchr(principal, '@');
        cg_yaml_key_path(m.path, "principal", path, sizeof path);
        bool empty_part = principal[0] == '@' || (at && at[1] == '\0');
        if (!krb_name_ok(principal) || empty_part || (at && strchr(at + 1, '@'))) {
            cg_yaml_error(&ld->y, pn, "%s: \"%s\" is not a principal name (expected name or name@REALM "
                          "without spaces or backslashes, e.g. HTTP/proxy.example.test)", path, principal);
            gotp = CG_YAML_BAD;
        }
    }

    cg_got gotr = cg_loader_get_string(ld, &m, "realm", "a realm name such as EXAMPLE.TEST", &rn, &realm);
    if (gotr == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "realm", "the default realm, e.g. EXAMPLE.TEST");
    if (gotr == CG_YAML_SET && (!krb_name_ok(realm) || strpbrk(realm, "@/"))) {
        cg_yaml_key_path(m.path, "realm", path, sizeof path);
        cg_yaml_error(&ld->y, rn, "%s: \"%s\" is not a realm name (expected e.g. EXAMPLE.TEST, without "
                      "\"@\", \"/\" or spaces)", path, realm);
        gotr = CG_YAML_BAD;
    }
    if (gotr == CG_YAML_SET)
        k->realm = cg_loader_strdup(ld, realm);
    if (gotp == CG_YAML_SET && strchr(principal, '@')) {
        k->principal = cg_loader_strdup(ld, principal);
    } else if (gotp == CG_YAML_SET && gotr == CG_YAML_SET) {
        if (asprintf(&k->principal, "%s@%s", principal, realm) < 0) {
            k->principal = NULL;
            ld->y.oom = true;
        }
    }

    parse_realms(ld, &m, k->realm);
    cg_loader_get_path(ld, &m, "krb5_config", &k->krb5_config, NULL);
    cg_loader_get_duration(ld, &m, "kdc_timeout", CG_KDC_TIMEOUT_MIN_MS, CG_KDC_TIMEOUT_MAX_MS,
                           &k->kdc_timeout_ms);
    cg_loader_get_seconds(ld, &m, "refresh_before", 1000, CG_KRB_REFRESH_MAX_MS, &k->refresh_before_s);
    cg_loader_get_duration(ld, &m, "negative_cache", 0, CG_KRB_NEGATIVE_MAX_MS, &k->negative_cache_ms);
}

/* kerberos: under a backend. Present (even as {}) means delegation on. */
void cg_config_parse_backend_kerberos(cg_loader *ld, const cg_map *bm, cg_backend_cfg *b)
{
    static const char *const keys[] = { "spn", "send", "connection_bound", NULL };
    static const char *const sends[] = { "always", "on_401", NULL };
    static const char spn_expect[] = "service/host, e.g. HTTP/app.example.test";
    yaml_node_t *kn = cg_yaml_map_get(&ld->y, bm->node, "kerberos", NULL), *n;
    const char *s;
    char where[192], path[256], list[128];
    cg_map m;

    if (!kn)
        return;
    cg_yaml_key_path(bm->path, "kerberos", path, sizeof path);
    if (cg_yaml_is_null(kn)) {
        cg_yaml_join(list, sizeof list, keys);
        cg_yaml_error(&ld->y, kn, "%s: expected a mapping with keys %s, got no value (write \"kerberos: {}\" "
                      "for the defaults, or remove the key to not delegate)", path, list);
        return;
    }
    cg_fmt_into(where, sizeof where, "in kerberos of %.150s",
                  strncmp(bm->where, "in ", 3) == 0 ? bm->where + 3 : bm->where);
    if (!cg_loader_open_section(ld, bm, "kerberos", keys, where, &m))
        return;
    b->kerberos = true;
    if (!ld->cfg->kerberos.enabled)
        cg_yaml_error(&ld->y, cg_loader_key_node(ld, bm->node, "kerberos"), "%s: delegation needs the top-level "
                      "kerberos section, which is missing (add kerberos: with keytab, principal and "
                      "realm; see conf/certgate.yaml)", path);

    cg_got got = cg_loader_get_string(ld, &m, "spn", spn_expect, &n, &s);
    if (got == CG_YAML_SET) {
        const char *slash = strchr(s, '/');
        char kp[256];
        cg_yaml_key_path(m.path, "spn", kp, sizeof kp);
        if (strpbrk(s, ":@")) {
            cg_yaml_error(&ld->y, n, "%s: \"%s\" has a %s; SPNs never carry a port, and the realm is added "
                          "from kerberos.realm (expected %s)", kp, s,
                          strchr(s, ':') ? "port (\":\")" : "realm (\"@\")", spn_expect);
        } else if (!krb_name_ok(s) || !slash || slash == s || !slash[1] || strchr(slash + 1, '/')) {
            cg_yaml_error(&ld->y, n, "%s: \"%s\" is not a service principal name (expected %s)", kp, s,
                          spn_expect);
        } else {
            b->spn = cg_loader_strdup(ld, s);
        }
    } else if (got == CG_YAML_ABSENT && b->host) {
        /* Never canonicalized through DNS: the name in the URL is the name. */
        if (strchr(b->host, ':')) {
            cg_yaml_error(&ld->y, kn, "%s: the backend's host %s is an IPv6 address, which makes no SPN "
                          "(set kerberos.spn, e.g. HTTP/app.example.test)", path, b->host);
        } else if (asprintf(&b->spn, "HTTP/%s", b->host) < 0) {
            b->spn = NULL;
            ld->y.oom = true;
        }
    }

    int send;
    if (cg_loader_get_enum(ld, &m, "send", sends, &send) == CG_YAML_SET)
        b->send_on_401_only = send == 1;
    cg_yaml_get_bool(&ld->y, m.node, m.path, "connection_bound", &b->connection_bound);
}
