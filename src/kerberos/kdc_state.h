/* What KDC exchanges taught certgate, shared by every loop (thread-safe):
 *
 *  - availability per realm: a KDC that did not answer for realm A makes
 *    new exchanges for names of realm A fail fast for negative_cache, and
 *    nobody else's; the refusal served meanwhile names the realm and never
 *    a user;
 *  - canonical names: an enterprise name (carol@corp.example.com) the KDC
 *    answered with its canonical principal (carol@AD.EXAMPLE.TEST), so that
 *    later requests use the canonical name's cache entry.
 *
 * Bounded: at most CG_KDC_STATE_REALMS realms are tracked (beyond that, a
 * realm is not remembered as down) and CG_KDC_STATE_ALIASES canonical names
 * (the table starts over when full).
 */
#ifndef CG_KDC_STATE_H
#define CG_KDC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "kdc_names.h"

#define CG_KDC_STATE_REALMS 64
#define CG_KDC_STATE_ALIASES 65536

typedef struct cg_kdc_state cg_kdc_state;

cg_kdc_state *cg_kdc_state_new(void);
void cg_kdc_state_free(cg_kdc_state *s);

/* realm's KDC is taken as down until until_ms (monotonic ms); why is the
 * refusal served meanwhile (it must name no user). */
void cg_kdc_state_mark_down(cg_kdc_state *s, const char *realm, int64_t until_ms, const cg_refusal *why);
/* The same with certgate's sentence: "the KDC of realm R <how> a moment
 * ago: ...; new tickets for names of realm R are not requested for
 * negative_cache_ms". Nothing when negative_cache_ms is 0. */
void cg_kdc_state_realm_timed_out(cg_kdc_state *s, const char *realm, const char *how, uint32_t negative_cache_ms,
                                  int64_t now_ms);
/* Whether the realm of name, or proxy_realm (every exchange needs its KDC),
 * is down; *why then says so. */
bool cg_kdc_state_name_down(cg_kdc_state *s, const char *name, const char *proxy_realm, int64_t now_ms,
                            cg_refusal *why);
/* An exchange in realm succeeded: it is up. */
void cg_kdc_state_mark_up(cg_kdc_state *s, const char *realm);
/* Whether realm is down at now_ms; *why then gets its refusal. */
bool cg_kdc_state_is_down(cg_kdc_state *s, const char *realm, int64_t now_ms, cg_refusal *why);
/* Every realm up again (a flush of everything). */
void cg_kdc_state_clear_down(cg_kdc_state *s);

/* The canonical name learned for name, into out; false when none. */
bool cg_kdc_state_canonical(cg_kdc_state *s, const char *name, char *out, size_t cap);
void cg_kdc_state_set_canonical(cg_kdc_state *s, const char *name, const char *canonical);
/* The cache key of a mapped principal: its request name in the realms of
 * v (kdc_names.h), or the canonical name learned for it. request (may be
 * NULL) gets the request name. false with err when the name is refused. */
bool cg_kdc_state_key(cg_kdc_state *s, const cg_kdc_realm_view *v, const char *mapped, char *key, size_t cap,
                      char *request, size_t rcap, char *err, size_t errcap);
/* Forgets the canonical names of name (NULL: all). */
void cg_kdc_state_forget(cg_kdc_state *s, const char *name);

#endif
