#include "snapshot_builders.h"

#include "config/config.h"
#include "mapping/mapping.h"
#include "net/net.h"

static const cg_config_builders builders = {
    .tls_new = cg_tls_server_new,
    .tls_free = cg_tls_server_free,
    .mapping_load = cg_mapping_load,
    .mapping_unref = cg_mapping_unref,
    .backend_tls_new = cg_tls_client_new,
    .backend_tls_free = cg_tls_client_free,
};

void cg_snapshot_builders_install(void)
{
    cg_config_set_builders(&builders);
}
