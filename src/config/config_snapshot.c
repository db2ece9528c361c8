/* A configuration snapshot's lifetime (references, freeing) and the
 * lookups on it (config.h). Built by the loader (config_load.c); never
 * modified once returned.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "config_loader.h"
#include "base/base.h"

/* Written once at start, before any thread; read by loads (the main
 * thread). A snapshot frees with the builders it was built with. */
static const cg_config_builders *builders;

void cg_config_set_builders(const cg_config_builders *b)
{
    builders = b;
}

const cg_config_builders *cg_loader_builders(cg_config *cfg)
{
    if (!builders) {
        fputs("certgate: a configuration load needs TLS contexts or mappings, and no builders were installed "
              "(cg_config_set_builders)\n", stderr);
        abort();
    }
    cfg->built_by = builders;
    return builders;
}

/* b: what built l->tls and l->mapping (NULL when neither was). */
static void free_listener(cg_listener_cfg *l, const cg_config_builders *b)
{
    if (l->tls)
        b->tls_free(l->tls);
    for (size_t i = 0; i < l->nroutes; i++) {
        free(l->routes[i].path);
        for (size_t k = 0; k < l->routes[i].nupgrade; k++)
            free(l->routes[i].upgrade[k]);
        free(l->routes[i].upgrade);
    }
    free(l->routes);
    free(l->name);
    free(l->address);
    free(l->cert_file);
    free(l->key_file);
    free(l->chain_file);
    free(l->client_ca_file);
    free(l->session_ticket_keys_file);
    for (size_t i = 0; i < l->nsni; i++) {
        for (size_t k = 0; k < l->sni[i].nserver_names; k++)
            free(l->sni[i].server_names[k]);
        free(l->sni[i].server_names);
        free(l->sni[i].cert_file);
        free(l->sni[i].key_file);
        free(l->sni[i].chain_file);
    }
    free(l->sni);
    for (size_t i = 0; i < l->revocation.ncrl_files; i++)
        free(l->revocation.crl_files[i]);
    free(l->revocation.crl_files);
    free(l->revocation.ocsp_responder);
    free(l->mapping_file);
    for (size_t i = 0; i < l->nstrip_headers; i++)
        free(l->strip_headers[i]);
    free(l->strip_headers);
    for (size_t i = 0; i < l->nkeep_headers; i++)
        free(l->keep_headers[i]);
    free(l->keep_headers);
    free(l->proxy_protocol.trusted);
    if (l->mapping)
        b->mapping_unref(l->mapping);
}

static void config_free(cg_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        free_listener(&cfg->listeners[i], cfg->built_by);
    free(cfg->listeners);
    for (size_t i = 0; i < cfg->nbackends; i++) {
        cg_backend_cfg *b = &cfg->backends[i];
        free(b->name);
        free(b->url);
        free(b->host);
        free(b->host_header);
        free(b->spn);
        if (b->tls)
            cfg->built_by->backend_tls_free(b->tls);
        free(b->tls_ca_file);
        free(b->tls_server_name);
        free(b->tls_cert_file);
        free(b->tls_key_file);
    }
    free(cfg->backends);
    free(cfg->revocation.cache_dir);
    free(cfg->kerberos.keytab);
    free(cfg->kerberos.principal);
    free(cfg->kerberos.realm);
    free(cfg->kerberos.krb5_config);
    for (size_t i = 0; i < cfg->kerberos.nrealms; i++) {
        cg_kerberos_realm_cfg *r = &cfg->kerberos.realms[i];
        for (size_t j = 0; j < r->nkdcs; j++)
            free(r->kdcs[j]);
        for (size_t j = 0; j < r->nupn_suffixes; j++)
            free(r->upn_suffixes[j]);
        free(r->kdcs);
        free(r->upn_suffixes);
        free(r->name);
    }
    free(cfg->kerberos.realms);
    free(cfg->errors.operator_networks);
    free(cfg->errors.support);
    for (size_t i = 0; i < cfg->errors.ntemplates; i++) {
        free(cfg->errors.templates[i].key);
        free(cfg->errors.templates[i].path);
        cg_error_template_free(cfg->errors.templates[i].tpl);
    }
    free(cfg->errors.templates);
    free(cfg->process.user);
    free(cfg->process.group);
    free(cfg->process.pid_file);
    free(cfg->admin.address);
    free(cfg->admin.allow);
    free(cfg->log_file);
    free(cfg->file);
    free(cfg);
}

cg_config *cg_config_ref(cg_config *cfg)
{
    if (cfg)
        atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

void cg_config_unref(cg_config *cfg)
{
    /* acq_rel: the last owner must see every other owner's accesses done. */
    if (cfg && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
        config_free(cfg);
}

const cg_route *cg_config_route(const cg_listener_cfg *l, const char *path, size_t path_len)
{
    /* Routes are few: a linear scan is simpler than a trie and fast enough. */
    const cg_route *best = NULL;
    for (size_t i = 0; i < l->nroutes; i++) {
        const cg_route *r = &l->routes[i];
        if (cg_target_route_covers((cg_slice){ r->path, r->path_len }, (cg_slice){ path, path_len },
                                   l->case_insensitive_paths) &&
            (!best || r->path_len > best->path_len))
            best = r;
    }
    return best;
}

bool cg_config_operator_client(const cg_config *cfg, const char *ip)
{
    return cfg->errors.operator_detail ||
           cg_cidr_list_contains(cfg->errors.operator_networks, cfg->errors.noperator_networks, ip);
}
