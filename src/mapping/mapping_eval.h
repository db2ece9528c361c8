/* Evaluating a loaded mapping against a certificate view: many-to-one
 * rules and mappings (true, false or unknown), the one-to-one table across
 * key kinds, and the sentence for a rule that does not match. What the
 * matcher (mapping.c) decides with and explain (mapping_explain.c) shows.
 */
#ifndef CG_MAPPING_EVAL_H
#define CG_MAPPING_EVAL_H

#include <stddef.h>

#include "cert_view.h"
#include "mapping_table.h"

/* Rules and mappings evaluate to true, false, or unknown: unknown when an
 * undecodable value might have made the difference. */
typedef enum { TV_FALSE, TV_TRUE, TV_UNKNOWN } cg_tv;

/* True when any decodable value of the rule's sub-field matches. */
cg_tv cg_rule_eval(const cg_rule *r, const cg_view *v);
cg_tv cg_m2o_eval(const cg_m2o *e, const cg_view *v);
/* The earliest enabled one-to-one entry naming the certificate, across
 * key kinds, or SIZE_MAX; *unknown is the kind whose key cannot be computed
 * when an entry of it might have come first (SIZE_MAX returned), else -1. */
size_t cg_mapping_one_find(const cg_mapping *m, cg_view *v, int *unknown);
/* The first rule of e that decides it does not match (or is unknown). */
const cg_rule *cg_m2o_first_miss(const cg_m2o *e, const cg_view *v);
/* Why a rule does not match, appended to b: 'subject.OU "Sales" does not
 * match "Eng*"'. */
void cg_rule_miss(cg_sb *b, const cg_rule *r, const cg_view *v);

#endif
