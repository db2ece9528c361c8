/* certgate's builders of what a configuration snapshot carries (config.h,
 * cg_config_builders): the listeners' TLS server contexts (tls.h) and
 * certificate mappings (mapping.h). The configuration sits below both
 * modules and names neither; the process installs these once at start.
 */
#ifndef CG_SNAPSHOT_BUILDERS_H
#define CG_SNAPSHOT_BUILDERS_H

/* Installs them (cg_config_set_builders). Call once, before the first load
 * and before any thread: main() does, and each test or fuzzer that loads
 * configurations with certificates or mappings. */
void cg_snapshot_builders_install(void);

#endif
