/* Shared by the two files of the mapping loader only (mapping_load.c walks
 * the document, mapping_load_keys.c reads the keys of one-to-one entries).
 */
#ifndef CG_MAPPING_LOAD_INTERNAL_H
#define CG_MAPPING_LOAD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "mapping_table.h"
#include "config/config.h"

typedef struct cg_mload {
    cg_yaml y;            /* the document, the file's name, the diagnostics */
    const char *dir;      /* certificate_file paths are relative to it */
    cg_mapping *m;
} cg_mload;

/* One mapping node being walked, and how messages name it. */
typedef struct cg_mnode {
    yaml_node_t *node;
    char path[160];    /* "many_to_one[sales].rules[#2]"; "" at the top */
} cg_mnode;

#define ONE_SELECTORS_TEXT "certificate (PEM or base64 DER), certificate_file, sha256, issuer + " \
                           "serial, issuer + subject, ski, sha1_public_key or rfc822"

/* Non-empty text that is valid UTF-8 without control characters. */
cg_yaml_got cg_mload_get_utf8(cg_mload *ld, const cg_mnode *m, const char *key, const char *expect,
                              yaml_node_t **vn, const char **out);
/* Which selector key (certificate, sha256, issuer ...) the entry has;
 * reports none or several (negative then). */
int cg_mload_selector(cg_mload *ld, const cg_mnode *m);
/* The canonical key of the entry, by its selector; sets e->kind. */
bool cg_mload_key(cg_mload *ld, const cg_mnode *m, int sel, cg_one *e, char *key, size_t cap);

#endif
