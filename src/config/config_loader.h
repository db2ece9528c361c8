/* The loader's toolkit, shared by the files that parse the configuration's
 * sections (config_load.c walks the document and calls them). Internal to
 * the loader: nothing outside config_*.c includes it.
 *
 * Every problem is reported at the node it concerns, and a section goes on
 * after an error wherever the rest still makes sense, so one run shows
 * every mistake in the file. Messages have two shapes:
 *   unknown key "adress" in listener "main" (expected one of: ...)
 *   listeners[main].port: 70000 is out of range (expected 1 to 65535)
 * i.e. either "<problem> <where>" for keys, or "<key path>: <problem>
 * (<expectation>)" for values. The getters below word them so.
 */
#ifndef CG_CONFIG_LOADER_H
#define CG_CONFIG_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "base/base.h"
#include "config.h"
#include "yaml_doc.h"

typedef struct cg_loader {
    cg_yaml y;          /* the document, the file's name, the diagnostics */
    const char *dir;    /* relative paths are resolved against it */
    cg_config *cfg;
} cg_loader;

/* One mapping being walked, and how to name it in messages. */
typedef struct cg_map {
    yaml_node_t *node;
    char where[192];    /* "in listener \"main\"": for key problems */
    char path[192];     /* "listeners[main]": prefix of key paths, "" at top */
} cg_map;

typedef cg_yaml_got cg_got;

/* The longest timeout accepted anywhere: over a day is a typo, not a timeout. */
#define CG_TIMEOUT_MAX_MS (24u * 3600u * 1000u)

/* The builders installed with cg_config_set_builders(), recorded in cfg
 * (cfg->built_by) for the last unref; aborts when none were installed (a
 * program error, not a configuration's). */
const cg_config_builders *cg_loader_builders(cg_config *cfg);

/* Allocation failures set ld->y.oom: the load then fails with one message. */
char *cg_loader_strdup(cg_loader *ld, const char *s);
void *cg_loader_calloc(cg_loader *ld, size_t n, size_t size);
/* ld->dir + "/" + p unless p is absolute. */
char *cg_loader_resolve_path(cg_loader *ld, const char *p);

/* A usable name from an item (the text of its key), before its keys are
 * checked, or NULL: messages about its other keys can then name it. */
const char *cg_loader_peek_name(cg_loader *ld, yaml_node_t *map, const char *key);
/* The key node of the first occurrence of key, or NULL. */
yaml_node_t *cg_loader_key_node(cg_loader *ld, yaml_node_t *map, const char *key);
/* Checks that n is a mapping; keys are listed in the message if not. */
bool cg_loader_expect_map(cg_loader *ld, yaml_node_t *n, const char *path, const char *const keys[]);
void cg_loader_missing(cg_loader *ld, const cg_map *m, const char *key, const char *expect);
/* A sub-mapping such as "logging" or "tls", its keys checked. false when
 * absent or invalid. */
bool cg_loader_open_section(cg_loader *ld, const cg_map *parent, const char *key, const char *const keys[],
                            const char *where, cg_map *m);

/* A list of mappings named by their "name" key under the top level
 * (backends, listeners): one walk for both. The list is required and not
 * empty; each item is named for messages ("in backend \"app\"" and
 * "backends[app]", or "in backends[#2]" without a usable name), checked to
 * be a mapping with keys, then parsed by parse_item. */
typedef struct cg_loader_list {
    const char *key;            /* "backends" */
    const char *noun;           /* "backend" */
    const char *expect;         /* what the list is: "a list of backends" */
    const char *missing;        /* what it holds: "a list of backends, each with name and url" */
    const char *const *keys;    /* an item's keys */
    size_t item_size;
    /* Item i of seq in items (those before i are done), named in m. */
    void (*parse_item)(cg_loader *ld, const yaml_node_t *seq, size_t i, const cg_map *m, void *items);
} cg_loader_list;

/* The items (*n of them, zeroed before parse_item), or NULL (*n 0) when the
 * list is absent, not a list or empty (reported), or memory ran out. The
 * caller owns them, with errors in them or not. */
void *cg_loader_parse_list(cg_loader *ld, const cg_map *root, const cg_loader_list *list, size_t *n);

/* Typed values of m: ABSENT, SET (*out written) or BAD (reported). */
/* Non-empty text. */
cg_got cg_loader_get_string(cg_loader *ld, const cg_map *m, const char *key, const char *expect, yaml_node_t **vn,
                            const char **out);
cg_got cg_loader_get_uint(cg_loader *ld, const cg_map *m, const char *key, uint32_t min, uint32_t max,
                          uint32_t *out);
cg_got cg_loader_get_size(cg_loader *ld, const cg_map *m, const char *key, uint32_t min, uint32_t max,
                          uint32_t *out);
cg_got cg_loader_get_duration(cg_loader *ld, const cg_map *m, const char *key, uint32_t min_ms, uint32_t max_ms,
                              uint32_t *out_ms);
/* A duration stored in whole seconds (the consumers count seconds). */
cg_got cg_loader_get_seconds(cg_loader *ld, const cg_map *m, const char *key, uint32_t min_ms, uint32_t max_ms,
                             uint32_t *out_s);
/* names is NULL-terminated; *out is the index of the match. */
cg_got cg_loader_get_enum(cg_loader *ld, const cg_map *m, const char *key, const char *const names[], int *out);
/* A file path, resolved (ld->dir); *pos (when not NULL) is where it is written. */
cg_got cg_loader_get_path(cg_loader *ld, const cg_map *m, const char *key, char **out, cg_pos *pos);
/* The list under key; reports a non-list. */
cg_got cg_loader_get_list(cg_loader *ld, const cg_map *m, const char *key, const char *expect, yaml_node_t **out);
/* The list of networks under key (cidr.h). Each bad item is reported at its
 * position and left out of *out; a network of every address gets a
 * warning ending with every (what that means where it is used). */
cg_got cg_loader_get_networks(cg_loader *ld, const cg_map *m, const char *key, const char *every, cg_cidr **out,
                              size_t *nout);

#endif
