/* Kerberos principals as certgate hands them on ("user@REALM", see
 * docs/mapping.md) and the templates that build them from a certificate's
 * fields ("{subject.CN}@EXAMPLE.TEST", "{san.upn|local|lower}"). Part of
 * the certificate mapping (mapping.h).
 */
#ifndef CG_PRINCIPAL_H
#define CG_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert_view.h"

#define CG_TEMPLATE_MAX    512     /* bytes of one principal template */
#define CG_TEMPLATE_PARTS  16

/* Whether p is a principal certgate will hand on: "user@REALM", see
 * docs/mapping.md. NULL when valid, otherwise the reason. */
const char *cg_principal_problem(const char *p, size_t len);
/* What is wrong with a realm name; NULL when nothing is. */
const char *cg_principal_realm_problem(const char *r, size_t n);

typedef struct cg_tpart {
    const char *lit;        /* literal text, when slot < 0 */
    size_t litlen;
    int slot;               /* a certificate field, or -1 */
    uint8_t filters[4];
    uint8_t nfilters;
} cg_tpart;

typedef struct cg_template {
    const char *src;        /* as written */
    cg_tpart *parts;
    size_t nparts;
    bool has_fields;
} cg_template;

/* Placeholder "{field.sub|filter|...}" (inner text s, n bytes) into t;
 * NULL, or what is wrong with it. */
const char *cg_template_part_parse(const char *s, size_t n, cg_tpart *t);
/* The principal a template gives for typical values, appended to b: what
 * can never be a valid principal is caught at load time. */
void cg_template_sample(const cg_template *t, const char *realm, cg_sb *b);
/* Builds the principal into out (256 bytes). A result without '@' gets
 * "@default_realm". false, with the reason in why, when a field is missing,
 * ambiguous or undecodable, or the result is not a valid principal. */
bool cg_template_eval(const cg_template *t, const cg_view *v, const char *default_realm,
                      char *out, size_t cap, char *why, size_t wcap);

#endif
