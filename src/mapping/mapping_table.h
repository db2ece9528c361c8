/* A loaded mapping as data, shared by the parts of the certificate mapping
 * (the loader builds it, the matcher and explain read it): one-to-one
 * entries with their hash table, many-to-one mappings with their compiled
 * rules, everything in one arena, reference-counted. Immutable once loaded.
 */
#ifndef CG_MAPPING_TABLE_H
#define CG_MAPPING_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert_key.h"
#include "mapping.h"
#include "principal.h"

typedef struct cg_one {
    const char *name;       /* optional, for logs */
    cg_kind kind;
    const char *key;        /* canonical key text */
    size_t keylen;
    uint64_t hash;
    cg_template principal;
    bool enabled;
    int line, column;
} cg_one;

typedef struct cg_rule {
    int slot;
    bool cs;                /* case-sensitive */
    const char *src;        /* the pattern as written */
    const char *pat;        /* compiled (cg_glob_compile) */
    size_t patlen;
    int line, column;
} cg_rule;

typedef struct cg_m2o {
    const char *name;
    const char *description;
    bool enabled, deny;
    cg_template principal;  /* allow only */
    cg_rule *rules;
    size_t nrules;
    uint32_t slots;         /* slots its rules name */
    int line, column;
} cg_m2o;

/* Everything a mapping owns lives in an arena freed at once. */
typedef struct cg_block {
    struct cg_block *next;
    size_t used, cap;
    max_align_t data[];
} cg_block;

struct cg_mapping {
    atomic_uint refs;
    const char *file;
    const char *default_realm;   /* NULL: none */
    bool no_match_403;
    cg_one *ones;
    size_t nones;
    uint32_t *table;             /* open addressing: entry index + 1; 0 = empty */
    size_t tmask;
    size_t kind_first[N_KINDS];  /* first enabled entry of each kind; SIZE_MAX: none */
    cg_m2o *m2o;
    size_t nm2o;
    cg_block *arena;
};

/* Arena memory of m, freed with it; NULL when out of memory. */
void *cg_mapping_alloc(cg_mapping *m, size_t n);
char *cg_mapping_strndup(cg_mapping *m, const char *s, size_t n);
uint64_t cg_mapping_key_hash(cg_kind kind, const char *key, size_t len);
/* Index of the entry with this key, or SIZE_MAX. */
size_t cg_mapping_find(const cg_mapping *m, cg_kind kind, const char *key, size_t len);
/* Inserts entry idx; returns the index of an entry with the same key
 * instead when there is one. */
size_t cg_mapping_insert(cg_mapping *m, size_t idx);
/* "one-to-one #3" or "one-to-one \"alice\"" (for cg_map_result.rule). */
void cg_mapping_one_label(const cg_mapping *m, size_t i, char *out, size_t cap);
/* Entries loaded, enabled or not. */
void cg_mapping_counts(const cg_mapping *m, size_t *one_to_one, size_t *many_to_one);
/* Frees m and its arena, whatever its references (a failed load). */
void cg_mapping_free(cg_mapping *m);

#endif
