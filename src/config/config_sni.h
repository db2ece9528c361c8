/* A listener's tls.sni list: the server certificates chosen by the name a
 * client asks for (SNI), each with its server_names. Part of the loader:
 * names checked here (syntax, one-label wildcards, each name once per
 * listener); the files are opened with the listener's TLS context (net/sni.h).
 */
#ifndef CG_CONFIG_SNI_H
#define CG_CONFIG_SNI_H

#include "config_loader.h"

/* tm: the listener's tls mapping (tm->path "listeners[main].tls"). */
void cg_config_parse_sni(cg_loader *ld, const cg_map *tm, cg_listener_cfg *l);

#endif
