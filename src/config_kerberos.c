#include "config_kerberos.h"

#include <stdio.h>
#include <string.h>


#define CG_KDC_TIMEOUT_MIN_MS     100u
#define CG_KDC_TIMEOUT_MAX_MS     (5u * 60u * 1000u)
#define CG_KRB_REFRESH_MAX_MS     (12u * 3600u * 1000u)       /* AD tickets live 10h */
#define CG_KRB_NEGATIVE_MAX_MS    (10u * 60u * 1000u)

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

void cg_config_parse_kerberos(cg_loader *ld, const cg_map *root)
{
    static const char *const keys[] = { "keytab", "principal", "realm", "krb5_config",
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
