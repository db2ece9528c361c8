/* The small top-level sections of the configuration: workers, logging,
 * limits, timeouts, errors, process, admin. Part of the loader
 * (config_load.c calls each with the top-level mapping); problems go to the
 * loader's diagnostics at the node they concern.
 */
#ifndef CG_CONFIG_SECTIONS_H
#define CG_CONFIG_SECTIONS_H

#include "config_loader.h"

void cg_config_parse_workers(cg_loader *ld, const cg_map *root);
void cg_config_parse_logging(cg_loader *ld, const cg_map *root);
void cg_config_parse_limits(cg_loader *ld, const cg_map *root);
void cg_config_parse_timeouts(cg_loader *ld, const cg_map *root);
/* errors: what refusal pages show; the templates' files are read after the
 * parse (config_load.c). */
void cg_config_parse_errors(cg_loader *ld, const cg_map *root);
/* process: the user and group are looked up now. */
void cg_config_parse_process(cg_loader *ld, const cg_map *root);
void cg_config_parse_admin(cg_loader *ld, const cg_map *root);
/* After the listeners: the admin port must not be one of theirs. */
void cg_config_check_admin_port(cg_loader *ld, yaml_node_t *root);

#endif
