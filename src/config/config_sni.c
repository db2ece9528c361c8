#include "config_sni.h"

#include <string.h>

#include "base/base.h"

/* Each name once per listener, across entries: two certificates for one
 * name would leave the choice to the order of the list. Exact names and
 * wildcards are different names ("a.b.example" before "*.b.example"). */
static void check_unique(cg_loader *ld, cg_listener_cfg *l, size_t entry, const char *name, yaml_node_t *n,
                         const yaml_node_t *seq)
{
    for (size_t i = 0; i <= entry; i++) {
        const cg_sni_cfg *e = &l->sni[i];
        for (size_t k = 0; k < e->nserver_names; k++) {
            if (!e->server_names[k] || strcmp(e->server_names[k], name) != 0)
                continue;
            yaml_node_t *names = cg_yaml_map_get(&ld->y, cg_yaml_list_item(&ld->y, seq, i), "server_names", NULL);
            yaml_node_t *first = cg_yaml_list_item(&ld->y, names, k);
            cg_yaml_error(&ld->y, n, "listeners[%s].tls.sni: \"%s\" is listed twice (first at line %d, column %d; "
                          "expected each name in one entry only: the certificate that serves it)", l->name, name,
                          (int)first->start_mark.line + 1, (int)first->start_mark.column + 1);
            return;
        }
    }
}

static void parse_names(cg_loader *ld, const cg_map *m, cg_listener_cfg *l, size_t entry, const yaml_node_t *seq)
{
    cg_sni_cfg *e = &l->sni[entry];
    yaml_node_t *list;
    char path[256], d[96], why[200];
    cg_got got = cg_loader_get_list(ld, m, "server_names", "a list of host names", &list);
    if (got == CG_YAML_ABSENT)
        cg_loader_missing(ld, m, "server_names", "the host names this certificate serves (a.example, "
                          "\"*.b.example\")");
    if (got != CG_YAML_SET)
        return;
    cg_yaml_key_path(m->path, "server_names", path, sizeof path);
    e->names_pos = (cg_pos){ (int)list->start_mark.line + 1, (int)list->start_mark.column + 1 };
    size_t n = cg_yaml_list_len(list);
    if (n == 0) {
        cg_yaml_error(&ld->y, list, "%s: is empty (expected at least one host name)", path);
        return;
    }
    if (!(e->server_names = cg_loader_calloc(ld, n, sizeof *e->server_names)))
        return;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cg_yaml_list_item(&ld->y, list, i);
        if (it->type != YAML_SCALAR_NODE || cg_yaml_is_null(it)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: expected a host name, got %s", path, i + 1,
                          cg_yaml_describe(it, d, sizeof d));
            continue;
        }
        const char *s = cg_yaml_text(it);
        size_t len = cg_yaml_len(it);
        if (strlen(s) != len || !cg_dns_name_check(s, len, true, why, sizeof why)) {
            cg_yaml_error(&ld->y, it, "%s[#%zu]: %s %s (expected a host name such as a.example, or \"*.b.example\" "
                          "for one label under b.example)", path, i + 1, cg_yaml_describe(it, d, sizeof d),
                          strlen(s) != len ? "has a NUL byte" : why);
            continue;
        }
        char *c = cg_loader_strdup(ld, s);
        if (!c)
            return;
        cg_ascii_lower_copy(c, c, len); /* SNI is compared ignoring case (RFC 6066, RFC 4343) */
        check_unique(ld, l, entry, c, it, seq);
        e->server_names[e->nserver_names++] = c;
    }
}

static void parse_entry(cg_loader *ld, const cg_map *tm, const yaml_node_t *seq, size_t i, cg_listener_cfg *l)
{
    static const char *const keys[] = { "server_names", "certificate", "key", "chain", NULL };
    cg_sni_cfg *e = &l->sni[i];
    cg_map m = { .node = cg_yaml_list_item(&ld->y, seq, i) };
    cg_fmt_into(m.path, sizeof m.path, "%s.sni[#%zu]", tm->path, i + 1);
    cg_fmt_into(m.where, sizeof m.where, "in tls.sni[#%zu] of listener \"%s\"", i + 1, l->name ? l->name : "?");
    if (!cg_loader_expect_map(ld, m.node, m.path, keys))
        return;
    cg_yaml_check_keys(&ld->y, m.node, m.where, keys);
    parse_names(ld, &m, l, i, seq);
    if (cg_loader_get_path(ld, &m, "certificate", &e->cert_file, &e->cert_pos) == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "certificate", "the certificate file for these names (PEM, leaf first)");
    if (cg_loader_get_path(ld, &m, "key", &e->key_file, &e->key_pos) == CG_YAML_ABSENT)
        cg_loader_missing(ld, &m, "key", "its private key file (PEM, unencrypted)");
    cg_loader_get_path(ld, &m, "chain", &e->chain_file, &e->chain_pos);
}

void cg_config_parse_sni(cg_loader *ld, const cg_map *tm, cg_listener_cfg *l)
{
    yaml_node_t *seq;
    if (cg_loader_get_list(ld, tm, "sni", "a list of certificates, each with server_names, certificate and key",
                           &seq) != CG_YAML_SET)
        return;
    size_t n = cg_yaml_list_len(seq);
    if (n == 0)
        return; /* "sni: []": the listener's certificate for every name, as without the key */
    if (!(l->sni = cg_loader_calloc(ld, n, sizeof *l->sni)))
        return;
    l->nsni = n;
    for (size_t i = 0; i < n; i++)
        parse_entry(ld, tm, seq, i, l);
}
