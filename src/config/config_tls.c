#include "config_tls.h"

#include "config_sni.h"

#include <string.h>

#define CG_TICKET_LIFETIME_MAX_MS (7u * 24u * 3600u * 1000u)
#define CG_CHAIN_DEPTH_MIN        2u
#define CG_CHAIN_DEPTH_MAX        12u

/* tls.min_version / max_version: "1.2" or "1.3" (YAML may read an unquoted
 * 1.2 as a number; the text is what counts). By default both versions. */
static void parse_versions(cg_loader *ld, const cg_map *m, cg_listener_cfg *l)
{
    static const char *const names[] = { "1.2", "1.3", NULL };
    static const uint8_t versions[] = { CG_TLS_1_2, CG_TLS_1_3 };
    int min = 0, max = 1;
    cg_got got_min = cg_loader_get_enum(ld, m, "min_version", names, &min);
    cg_got got_max = cg_loader_get_enum(ld, m, "max_version", names, &max);
    if (got_min == CG_YAML_BAD || got_max == CG_YAML_BAD)
        return;
    if (min > max) {
        char path[256];
        const char *key = got_min == CG_YAML_SET ? "min_version" : "max_version";
        cg_yaml_key_path(m->path, key, path, sizeof path);
        cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m->node, key, NULL),
                      "%s: min_version %s is above max_version %s: no TLS version would be left (set "
                      "min_version to at most max_version)", path, names[min], names[max]);
        return;
    }
    l->tls_min_version = versions[min];
    l->tls_max_version = versions[max];
}

void cg_config_parse_tls(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l)
{
    static const char *const keys[] = { "certificate", "key", "chain", "client_ca",
                                        "client_ca_names", "require_client_auth_eku",
                                        "session_tickets", "session_ticket_lifetime",
                                        "max_chain_depth", "max_client_certificates",
                                        "allow_weak_signatures", "session_ticket_keys", "sni", "strict_sni",
                                        "min_version", "max_version", NULL };
    char where[192];
    cg_map m;
    cg_fmt_into(where, sizeof where, "in tls of %s", ldesc);
    if (!cg_yaml_map_get(&ld->y, lm->node, "tls", NULL)) {
        cg_loader_missing(ld, lm, "tls", "a mapping with at least certificate, key and client_ca");
        return;
    }
    if (!cg_loader_open_section(ld, lm, "tls", keys, where, &m))
        return;

    if (cg_loader_get_path(ld, &m, "certificate", &l->cert_file, &l->cert_pos) == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "certificate", "the server certificate file (PEM, leaf first)");
    if (cg_loader_get_path(ld, &m, "key", &l->key_file, &l->key_pos) == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "key", "the server private key file (PEM, unencrypted)");
    cg_loader_get_path(ld, &m, "chain", &l->chain_file, &l->chain_pos);
    if (cg_loader_get_path(ld, &m, "client_ca", &l->client_ca_file, &l->client_ca_pos) == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "client_ca", "the PEM bundle of CAs trusted to issue client certificates");
    cg_yaml_get_bool(&ld->y, m.node, m.path, "client_ca_names", &l->client_ca_names);
    cg_yaml_get_bool(&ld->y, m.node, m.path, "require_client_auth_eku", &l->require_client_auth_eku);
    cg_yaml_get_bool(&ld->y, m.node, m.path, "session_tickets", &l->session_tickets);

    uint32_t ms;
    if (cg_loader_get_duration(ld, &m, "session_ticket_lifetime", 1000, CG_TICKET_LIFETIME_MAX_MS, &ms) ==
        CG_YAML_SET) {
        /* The TLS ticket_lifetime field counts whole seconds. */
        if (ms % 1000) {
            char path[256];
            cg_yaml_key_path(m.path, "session_ticket_lifetime", path, sizeof path);
            cg_yaml_error(&ld->y, cg_yaml_map_get(&ld->y, m.node, "session_ticket_lifetime", NULL),
                          "%s: must be a whole number of seconds (TLS counts ticket lifetimes in "
                          "seconds; expected e.g. 1h)", path);
        } else {
            l->session_ticket_lifetime_s = ms / 1000;
        }
    }
    cg_loader_get_uint(ld, &m, "max_chain_depth", CG_CHAIN_DEPTH_MIN, CG_CHAIN_DEPTH_MAX, &l->max_chain_depth);
    cg_loader_get_uint(ld, &m, "max_client_certificates", 1, CG_CHAIN_MAX_CERTIFICATES_LIMIT,
                       &l->max_client_certificates);
    cg_yaml_get_bool(&ld->y, m.node, m.path, "allow_weak_signatures", &l->allow_weak_signatures);
    parse_versions(ld, &m, l);
    if (cg_loader_get_path(ld, &m, "session_ticket_keys", &l->session_ticket_keys_file,
                           &l->session_ticket_keys_pos) == CG_YAML_SET &&
        !l->session_tickets) {
        char path[256];
        cg_yaml_key_path(m.path, "session_ticket_keys", path, sizeof path);
        cg_yaml_warning(&ld->y, cg_yaml_map_get(&ld->y, m.node, "session_ticket_keys", NULL),
                        "%s: session_tickets is false, so the key file is not used", path);
    }
    cg_config_parse_sni(ld, &m, l);
    cg_yaml_get_bool(&ld->y, m.node, m.path, "strict_sni", &l->strict_sni);
}

bool cg_config_load_tls(cg_config *cfg, cg_diag *diag)
{
    bool ok = true;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        cg_listener_cfg *l = &cfg->listeners[i];
        size_t errors = diag->errors;
        l->tls = cg_loader_builders(cfg)->tls_new(l, cfg->workers, cfg->file, diag);
        if (!l->tls) {
            ok = false;
            /* Keep the promise of "NULL with at least one error". */
            if (diag->errors == errors)
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, l->cert_pos.line, l->cert_pos.column,
                            "listener \"%s\": TLS setup failed", l->name);
        }
    }
    return ok;
}
