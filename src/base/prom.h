/* The Prometheus text exposition format (0.0.4): families, samples and
 * histograms written into one growing buffer, label values escaped. Pure:
 * no I/O, no knowledge of certgate's metrics (metrics.h chooses them).
 */
#ifndef CG_PROM_H
#define CG_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct cg_prom {
    cg_buf out;
    bool oom;        /* an append failed: the text is incomplete */
} cg_prom;

typedef struct cg_prom_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]* */
    const char *value; /* any UTF-8: escaped */
} cg_prom_label;

/* "# HELP name help" (backslash and line feed escaped) and "# TYPE name type". */
void cg_prom_family(cg_prom *p, const char *name, const char *type, const char *help);
/* "name{labels} value": integers exactly, other values with 17 significant digits. */
void cg_prom_sample(cg_prom *p, const char *name, const cg_prom_label *labels, size_t nlabels, double value);
/* The _bucket (cumulative, le="..." after the labels, ending with "+Inf"),
 * _sum and _count samples of one histogram. counts[nbounds + 1] are per
 * bucket (not cumulative), the last above every bound. */
void cg_prom_histogram(cg_prom *p, const char *name, const cg_prom_label *labels, size_t nlabels,
                       const double *bounds, size_t nbounds, const uint64_t *counts, double sum);
/* A label value as the format writes it between its quotes: \ " and line
 * feed escaped. */
void cg_prom_label_value(cg_prom *p, const char *v);

#endif
