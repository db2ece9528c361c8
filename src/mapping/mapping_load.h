/* The mapping file loader (docs/mapping.md): YAML (yaml_doc.h) -> a loaded
 * mapping, every problem reported at file:line:column. cg_mapping_load()
 * (mapping.h) reads a file; this loads from memory.
 */
#ifndef CG_MAPPING_LOAD_H
#define CG_MAPPING_LOAD_H

#include <stddef.h>

#include "mapping.h"

/* cg_mapping_load from memory: name is the file name used in diagnostics,
 * dir the directory certificate_file paths are relative to (NULL: the
 * current directory). */
cg_mapping *cg_mapping_load_string(const char *yaml, size_t len, const char *name,
                                   const char *dir, cg_diag *diag);

#endif
