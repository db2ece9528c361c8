/* Certificate -> Kerberos principal mapping, from an operator-edited YAML
 * file (docs/mapping.md): one-to-one entries (hashed by certificate
 * fingerprint), ordered many-to-one rules with allow/deny, AD-style strong
 * mappings, principal templates. A loaded mapping is immutable and
 * reference-counted, like the configuration snapshot that holds it.
 */
#ifndef CG_MAPPING_H
#define CG_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/x509_crt.h>

#include "base/base.h"

typedef struct cg_mapping cg_mapping;

/* Loads and validates path; NULL with errors in diag (file:line:column). */
cg_mapping *cg_mapping_load(const char *path, cg_diag *diag);
cg_mapping *cg_mapping_ref(cg_mapping *m);
void cg_mapping_unref(cg_mapping *m);

typedef enum {
    CG_MAP_ALLOW, /* principal is set */
    CG_MAP_DENY,  /* 403.12 "mapper denied access" */
    CG_MAP_NONE,  /* 401.2 (or 403, as the mapping file says) */
} cg_map_outcome;

typedef struct cg_map_result {
    cg_map_outcome outcome;
    char principal[256];  /* "user@REALM" when ALLOW */
    char rule[128];       /* which entry decided: "one-to-one #3", "many-to-one \"sales\"" */
    cg_refusal why;       /* for DENY and NONE: the certificate and why each mapping did not match */
} cg_map_result;

/* Maps the client's leaf certificate. Fast: a hash lookup for one-to-one,
 * then the many-to-one rules in order. */
void cg_mapping_map(const cg_mapping *m, const mbedtls_x509_crt *leaf, cg_map_result *out);

/* Writes, for `certgate explain`, which mapping matched or why each did not. */
void cg_mapping_explain(const cg_mapping *m, const mbedtls_x509_crt *leaf, void *stdio_file);

/* The rest of the mapping wing's API (issue 12: one public header per wing). */
#include "cert_text.h"
#include "cert_view.h"
#include "mapping_load.h"
#include "principal.h"

#endif
