/* The configuration loader: YAML file -> snapshot (config.h).
 *
 * The file is parsed with libyaml's document API (yaml_doc.h) and walked
 * with one small function per section of the schema (conf/certgate.yaml is
 * the reference), each in the file of its section (config_sections.c,
 * config_revocation.c, config_kerberos.c, config_backends.c,
 * config_listeners.c, config_tls.c, config_limits.c) and all with the
 * loader's toolkit (config_loader.h). A snapshot is only returned when
 * there were no errors; then the files it names are opened: error
 * templates, TLS certificates and keys, certificate mappings.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_backends.h"
#include "config_kerberos.h"
#include "config_listeners.h"
#include "config_loader.h"
#include "config_revocation.h"
#include "config_sections.h"
#include "config_tls.h"
#include "base/base.h"

static void parse_root(cg_loader *ld, yaml_node_t *root)
{
    static const char *const keys[] = { "workers", "logging", "limits", "timeouts", "revocation",
                                        "kerberos", "errors", "process", "backends", "listeners",
                                        "admin", NULL };
    cg_map m = { .node = root, .where = "at top level", .path = "" };
    char d[96], list[256];

    if (!root || cg_yaml_is_null(root)) {
        cg_yaml_error(&ld->y, root, "the configuration is empty (expected a mapping with at least "
                      "backends and listeners; see conf/certgate.yaml)");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        cg_yaml_join(list, sizeof list, keys);
        cg_yaml_error(&ld->y, root, "expected a mapping at the top level (keys: %s), got %s", list,
                      cg_yaml_describe(root, d, sizeof d));
        return;
    }
    cg_yaml_check_keys(&ld->y, m.node, m.where, keys);
    cg_config_parse_workers(ld, &m);
    cg_config_parse_logging(ld, &m);
    cg_config_parse_limits(ld, &m);
    cg_config_parse_timeouts(ld, &m);
    cg_config_parse_revocation(ld, &m);
    /* Before backends: a backend's kerberos section needs this one. */
    cg_config_parse_kerberos(ld, &m);
    cg_config_parse_errors(ld, &m);
    cg_config_parse_process(ld, &m);
    cg_config_parse_admin(ld, &m);
    /* Before listeners, whatever the order in the file: routes name backends. */
    cg_config_parse_backends(ld, &m);
    cg_config_parse_listeners(ld, &m);
    cg_config_check_admin_port(ld, root);
}

static cg_config *config_new(void)
{
    cg_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    atomic_init(&cfg->refs, 1);
    cfg->workers = 1;
    cfg->log_level = CG_LOG_INFO;
    cfg->limits = (cg_limits){
        .max_connections = 10000,
        .max_request_head = 16 * 1024,
        .max_header_line = 8 * 1024,
        .max_headers = 100,
        .max_response_head = 32 * 1024,
        .max_requests_per_connection = 0,
        .max_handshakes_per_address = 256,
        .max_connections_per_address = 4096,
        .per_address_ipv6_prefix = 64,
    };
    cfg->timeouts = (cg_timeouts){
        .handshake = 10000,
        .request_header = 10000,
        .client_body = 60000,
        .keepalive_idle = 60000,
        .backend_connect = 5000,
        .backend_response = 60000,
        .backend_idle = 30000,
        .tunnel_idle = 300000,
        .shutdown = 30000,
    };
    cfg->revocation = (cg_revocation_cfg){
        .cache_dir = NULL,
        .fetch_timeout_ms = 10000,
        .max_crl_size = 64u << 20,
        .max_redirects = 3,
        .allow_http = true,
        .allow_https = false,
        .allow_ldap = true,
        .refresh_before_s = 600,
        .ocsp_timeout_ms = 5000,
        .ocsp_max_response = 64u << 10,
        .ocsp_nonce = false,
    };
    /* Used only when the section is present (enabled). */
    cfg->kerberos = (cg_kerberos_cfg){
        .enabled = false,
        .kdc_timeout_ms = 5000,
        .refresh_before_s = 300,
        .negative_cache_ms = 10000,
    };
    return cfg;
}

/* After TLS: each listener's certificate mapping file, loaded by the
 * installed builder (mapping.h's), which reports its own errors with the
 * mapping file's name and positions. */
static bool load_mappings(cg_config *cfg, cg_diag *diag)
{
    bool ok = true;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        cg_listener_cfg *l = &cfg->listeners[i];
        if (!l->mapping_file)
            continue;
        size_t errors = diag->errors;
        l->mapping = cg_loader_builders(cfg)->mapping_load(l->mapping_file, diag);
        if (!l->mapping) {
            ok = false;
            if (diag->errors == errors)
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, l->mapping_pos.line,
                            l->mapping_pos.column, "listener \"%s\": the certificate mapping %s "
                            "could not be loaded", l->name, l->mapping_file);
        }
    }
    return ok;
}

/* errors.templates: every file read and checked now, kept in the snapshot
 * (a reload reads them again); then each refusal kind gets its most
 * specific one. A template's own problems are reported at its
 * file:line:column, a file that cannot be used where its path is set. */
static bool load_error_templates(cg_config *cfg, cg_diag *diag)
{
    cg_errors_cfg *e = &cfg->errors;
    bool ok = true;
    for (size_t i = 0; i < e->ntemplates; i++) {
        cg_error_template_cfg *t = &e->templates[i];
        char why[512];
        size_t errors = diag->errors;
        if (!t->key || !t->path) {
            ok = false; /* out of memory at parse: already reported */
            continue;
        }
        t->tpl = cg_error_template_load(t->path, diag, why, sizeof why);
        if (!t->tpl) {
            ok = false;
            if (diag->errors == errors || why[0])
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, t->pos.line, t->pos.column, "errors.templates.%s: %s",
                            t->key, why[0] ? why : "the template could not be loaded");
        }
    }
    for (int k = CG_REFUSE_BAD_REQUEST; ok && k < CG_REFUSE_KIND_COUNT; k++) {
        int best = 0;
        for (size_t i = 0; i < e->ntemplates; i++) {
            int fit = cg_error_template_match(e->templates[i].key, k);
            if (fit > best) {
                best = fit;
                e->template_for[k] = e->templates[i].tpl;
            }
        }
    }
    return ok;
}

static cg_config *load(const unsigned char *buf, size_t len, const char *name, const char *dir,
                       unsigned flags, cg_diag *diag)
{
    cg_loader ld = { .y = { .name = name, .diag = diag, .errors0 = diag->errors }, .dir = dir };
    size_t first_item = diag->count;
    bool have_doc = false;

    ld.cfg = config_new();
    if (!ld.cfg || !(ld.cfg->file = strdup(name))) {
        ld.y.oom = true;
        goto done;
    }
    static const cg_yaml_words words = {
        .second_document = "(expected exactly one document per configuration file; remove this \"---\" and "
                           "what follows)",
        .alias_fix = ": write the value out in full (anchors and aliases are rejected to keep every setting "
                     "explicit where it applies)",
        .anchor_fix = ": write the value out in full (anchors and aliases are rejected to keep every setting "
                      "explicit where it applies)",
    };
    if (!(have_doc = cg_yaml_load(&ld.y, buf, len, &words)))
        goto done;

    parse_root(&ld, yaml_document_get_root_node(&ld.y.doc));
    cg_diag_sort(diag, first_item);

done:
    if (have_doc)
        yaml_document_delete(&ld.y.doc);
    if (ld.y.oom)
        cg_diag_add(diag, CG_DIAG_ERROR, name, 0, 0, "out of memory while loading the configuration");
    if (cg_yaml_errors(&ld.y) || ld.y.oom || !load_error_templates(ld.cfg, diag)) {
        cg_config_unref(ld.cfg);
        return NULL;
    }
    bool files_ok = (flags & CG_CONFIG_SKIP_TLS) ? !(flags & CG_CONFIG_LOAD_MAPPINGS) || load_mappings(ld.cfg, diag)
                                                 : cg_config_load_tls(ld.cfg, diag) && cg_config_load_backend_tls(ld.cfg, diag) &&
                                                   load_mappings(ld.cfg, diag);
    if (!files_ok) {
        cg_config_unref(ld.cfg);
        return NULL;
    }
    return ld.cfg;
}

/* The directory relative paths are resolved against, made absolute so the
 * snapshot means the same files whatever the working directory is later. */
static char *base_dir(const char *file)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    char *dir = slash ? strndup(file, slash == file ? 1 : (size_t)(slash - file)) : strdup(".");
    if (!dir || dir[0] == '/')
        return dir;
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return dir; /* relative still works while the cwd does not change */
    char *abs = NULL;
    if (strcmp(dir, ".") == 0) {
        abs = cwd;
        cwd = NULL;
    } else if (asprintf(&abs, "%s/%s", cwd, dir) < 0) {
        abs = NULL;
    }
    free(cwd);
    free(dir);
    return abs;
}

cg_config *cg_config_load_string(const char *yaml, size_t len, const char *name,
                                 unsigned flags, cg_diag *diag)
{
    char *dir = base_dir(NULL);
    cg_config *cfg = load((const unsigned char *)yaml, len, name ? name : "<string>", dir, flags, diag);
    free(dir);
    return cfg;
}

cg_config *cg_config_load(const char *path, unsigned flags, cg_diag *diag)
{
    size_t len = 0;
    cg_file_error fe;
    unsigned char *buf = cg_file_read(path, SIZE_MAX, 0, &len, &fe); /* a pipe works too */
    if (!buf) {
        cg_diag_add(diag, CG_DIAG_ERROR, path, 0, 0, "cannot read the configuration file: %s",
                    strerror(errno));
        return NULL;
    }
    char *dir = base_dir(path);
    cg_config *cfg = load(buf, len, path, dir, flags, diag);
    free(dir);
    free(buf);
    return cfg;
}
