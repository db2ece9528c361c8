/* The Prometheus text exposition format (see prom.h). */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void put(cg_prom *p, const char *s, size_t n)
{
    if (!p->oom && !cg_buf_append(&p->out, s, n))
        p->oom = true;
}

static void puts_(cg_prom *p, const char *s) { put(p, s, strlen(s)); }

/* HELP text: backslash and line feed escaped; label values also '"'. */
static void put_escaped(cg_prom *p, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : quote && *s == '"' ? "\\\"" : NULL;
        if (!esc)
            continue;
        put(p, run, (size_t)(s - run));
        puts_(p, esc);
        run = s + 1;
    }
    put(p, run, (size_t)(s - run));
}

void cg_prom_label_value(cg_prom *p, const char *v) { put_escaped(p, v ? v : "", true); }

void cg_prom_family(cg_prom *p, const char *name, const char *type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    put_escaped(p, help, false);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

static void put_value(cg_prom *p, double v)
{
    char num[40];
    if (isnan(v))
        snprintf(num, sizeof num, "NaN");
    else if (isinf(v))
        snprintf(num, sizeof num, v > 0 ? "+Inf" : "-Inf");
    else if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v) /* 2^53: exact */
        snprintf(num, sizeof num, "%.0f", v);
    else if (snprintf(num, sizeof num, "%.15g", v) > 0 && strtod(num, NULL) != v)
        snprintf(num, sizeof num, "%.17g", v); /* the shortest of the two that reads back exactly */
    puts_(p, num);
}

static void put_labels(cg_prom *p, const cg_prom_label *labels, size_t n, const char *le)
{
    if (!n && !le)
        return;
    puts_(p, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            puts_(p, ",");
        puts_(p, labels[i].name);
        puts_(p, "=\"");
        cg_prom_label_value(p, labels[i].value);
        puts_(p, "\"");
    }
    if (le) {
        puts_(p, n ? ",le=\"" : "le=\"");
        puts_(p, le);
        puts_(p, "\"");
    }
    puts_(p, "}");
}

static void sample(cg_prom *p, const char *name, const char *suffix, const cg_prom_label *labels, size_t n,
                   const char *le, double v)
{
    puts_(p, name);
    puts_(p, suffix);
    put_labels(p, labels, n, le);
    puts_(p, " ");
    put_value(p, v);
    puts_(p, "\n");
}

void cg_prom_sample(cg_prom *p, const char *name, const cg_prom_label *labels, size_t nlabels, double value)
{
    sample(p, name, "", labels, nlabels, NULL, value);
}

void cg_prom_histogram(cg_prom *p, const char *name, const cg_prom_label *labels, size_t nlabels,
                       const double *bounds, size_t nbounds, const uint64_t *counts, double sum)
{
    uint64_t cum = 0;
    char le[32];
    for (size_t i = 0; i <= nbounds; i++) {
        cum += counts[i];
        if (i < nbounds)
            snprintf(le, sizeof le, "%g", bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        sample(p, name, "_bucket", labels, nlabels, le, (double)cum);
    }
    sample(p, name, "_sum", labels, nlabels, NULL, sum);
    sample(p, name, "_count", labels, nlabels, NULL, (double)cum);
}
