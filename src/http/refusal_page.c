#include "refusal_page.h"

#include <stdlib.h>

char *cg_refusal_page(const cg_config *cfg, const cg_conn *c, const cg_refusal *why, const char *request_id,
                      char *builtin, size_t *len)
{
    cg_page_values pv = {
        .kind = why->kind,
        .request_id = request_id,
        .operator_detail = cg_config_operator_client(cfg, c->peer_ip) ? why->detail : NULL,
        .support = cfg->errors.support,
    };
    if (why->kind == CG_REFUSE_CERT_MISSING) /* the names this connection's handshake sent */
        pv.ca_names = cg_tls_server_ca_names(c->tls_cfg->listeners[c->listener].tls, &pv.nca_names);
    /* The operator's template when there is one, in a buffer its load sized
     * for its longest page; else the built-in page. */
    char *page = builtin;
    size_t plen = 0;
    const cg_error_template *tpl =
        why->kind > CG_REFUSE_NONE && why->kind < CG_REFUSE_KIND_COUNT ? cfg->errors.template_for[why->kind] : NULL;
    if (tpl && (page = malloc(cg_error_template_page_max(tpl))))
        plen = cg_error_template_render(tpl, &pv, page, cg_error_template_page_max(tpl));
    if (!plen) {
        if (page != builtin)
            free(page);
        page = builtin;
        plen = cg_error_page_render(&pv, page, CG_ERROR_PAGE_MAX);
    }
    *len = plen;
    return page;
}

void cg_refusal_page_free(char *page, const char *builtin)
{
    if (page != builtin)
        free(page);
}
