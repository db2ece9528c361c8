/* What the two YAML loaders (config_*.c, mapping.c) share: a parsed libyaml
 * document, the file it came from and the diagnostics its problems go to,
 * and the node helpers both walk it with. Every problem is reported at the
 * position of the node it concerns (1:1 when there is none: an empty file).
 */
#ifndef CG_YAML_DOC_H
#define CG_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "base/base.h"

typedef struct cg_yaml {
    yaml_document_t doc;
    const char *name; /* file name in diagnostics */
    cg_diag *diag;
    size_t errors0;   /* diag->errors when the load started */
    bool oom;
} cg_yaml;

/* How a loader words the problems any of its YAML files can have. */
typedef struct cg_yaml_words {
    const char *second_document; /* after "a second YAML document ": the fix */
    const char *alias_fix;       /* after "YAML alias \"*a\" is not supported" */
    const char *anchor_fix;      /* after "YAML anchor \"&a\" is not supported" */
    const char *star_fix;        /* after a syntax error at a '*', or NULL */
} cg_yaml_words;

/* Parses buf (len bytes) into y->doc. Anchors, aliases (the document API
 * would resolve them silently) and a second document are rejected first,
 * with the event API, as are syntax errors, each at its position. Returns
 * true when y->doc holds the document (the caller deletes it); false when
 * something was reported, or y->oom set. */
bool cg_yaml_load(cg_yaml *y, const unsigned char *buf, size_t len, const cg_yaml_words *w);

__attribute__((format(printf, 4, 5)))
void cg_yaml_report(cg_yaml *y, cg_diag_severity sev, const yaml_node_t *n, const char *fmt, ...);
#define cg_yaml_error(y, n, ...) cg_yaml_report((y), CG_DIAG_ERROR, (n), __VA_ARGS__)
#define cg_yaml_warning(y, n, ...) cg_yaml_report((y), CG_DIAG_WARNING, (n), __VA_ARGS__)
/* Errors reported since the load started. */
size_t cg_yaml_errors(const cg_yaml *y);

yaml_node_t *cg_yaml_node(cg_yaml *y, int index);
static inline const char *cg_yaml_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }
static inline size_t cg_yaml_len(const yaml_node_t *n) { return n->data.scalar.length; }
/* The items of a sequence node: how many, and item i (i < the count). */
static inline size_t cg_yaml_list_len(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}
static inline yaml_node_t *cg_yaml_list_item(cg_yaml *y, const yaml_node_t *seq, size_t i)
{
    return cg_yaml_node(y, seq->data.sequence.items.start[i]);
}
/* A scalar whose text is exactly s. */
bool cg_yaml_scalar_is(const yaml_node_t *n, const char *s);
/* "key:" with nothing after it, "~" and "null" are YAML's null; a quoted
 * "null" is the string. */
bool cg_yaml_is_null(const yaml_node_t *n);
/* What a node is, for "expected X, got Y": "a mapping", "a list", "no
 * value" or the quoted text (at most 60 characters, controls as '?'). */
const char *cg_yaml_describe(const yaml_node_t *n, char *buf, size_t cap);
/* "a, b, c" from a NULL-terminated list. */
void cg_yaml_join(char *out, size_t cap, const char *const items[]);
/* The value of key in a mapping node (and the key's node in *keynode when
 * not NULL), or NULL. */
yaml_node_t *cg_yaml_map_get(cg_yaml *y, yaml_node_t *map, const char *key, yaml_node_t **keynode);

/* Typed values of a mapping. prefix is the mapping's key path ("listeners[main]",
 * "" at the top): messages name "prefix.key". */
typedef enum { CG_YAML_ABSENT, CG_YAML_SET, CG_YAML_BAD } cg_yaml_got;

/* "prefix.key", or "key" at the top. */
void cg_yaml_key_path(const char *prefix, const char *key, char *out, size_t cap);
/* Reports keys of map that are not names, not in keys (NULL-terminated), or
 * repeated; where names the mapping ("in listener \"main\"", "at the top level"). */
void cg_yaml_check_keys(cg_yaml *y, yaml_node_t *map, const char *where, const char *const keys[]);
/* The text of a scalar value; anything else (null included, or text with
 * a NUL) is reported as not being expect. *vn: the value's node, if any. */
cg_yaml_got cg_yaml_get_text(cg_yaml *y, yaml_node_t *map, const char *prefix, const char *key, const char *expect,
                             yaml_node_t **vn, const char **out);
/* As cg_yaml_get_text, and empty text is reported too. */
cg_yaml_got cg_yaml_get_string(cg_yaml *y, yaml_node_t *map, const char *prefix, const char *key,
                               const char *expect, yaml_node_t **vn, const char **out);
/* A list (an empty one included); anything else (null included) is
 * reported as not being expect. *out: the value's node, if any. */
cg_yaml_got cg_yaml_get_list(cg_yaml *y, yaml_node_t *map, const char *prefix, const char *key,
                             const char *expect, yaml_node_t **out);
/* true or false: YAML 1.1's yes/no/on/off are refused as ambiguous. */
cg_yaml_got cg_yaml_get_bool(cg_yaml *y, yaml_node_t *map, const char *prefix, const char *key, bool *out);

#endif
