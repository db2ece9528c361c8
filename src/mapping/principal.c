/* Principals and principal templates (principal.h). */
#include "principal.h"

#include <string.h>

#include "x509/x509.h"
#include "mapping_text.h"

/* ======================================================================
 * Principals and templates
 * ====================================================================== */

/* Characters that are invisible or reorder text: a principal holding one
 * looks like another principal in logs and on the KDC's side. */
static bool is_invisible(uint32_t cp)
{
    return cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF || cp == 0x180E;
}

static bool is_space(uint32_t cp)
{
    return cp == ' ' || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

const char *cg_principal_realm_problem(const char *r, size_t n)
{
    if (n == 0)
        return "the realm is empty";
    if (r[0] == '.' || r[n - 1] == '.')
        return "the realm starts or ends with '.'";
    for (size_t i = 0; i < n; i++) {
        char c = r[i];
        if (!cg_ascii_is_alpha(c) && !cg_ascii_is_digit(c) && c != '.' && c != '-' && c != '_')
            return "the realm has a character other than letters, digits, '.', '-' and '_'";
        if (c == '.' && i + 1 < n && r[i + 1] == '.')
            return "the realm has an empty label (\"..\")";
    }
    return NULL;
}

/* "user@REALM": one '@'; a user name of printable characters without
 * spaces, invisible characters, '/' (a Kerberos instance separator: "alice/admin"
 * is another principal) or '\' (Kerberos' escape character). */
const char *cg_principal_problem(const char *p, size_t len)
{
    const char *at = memchr(p, '@', len);
    if (len >= 256)
        return "it is longer than 255 bytes";
    if (!at)
        return "it has no \"@REALM\"";
    if (at == p)
        return "the user name is empty";
    if (memchr(at + 1, '@', len - (size_t)(at + 1 - p)))
        return "it has more than one '@'";
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < (size_t)(at - p);) {
        uint32_t cp;
        size_t k = cg_utf8_next(u + i, (size_t)(at - p) - i, &cp);
        if (k == 0)
            return "the user name is not valid UTF-8";
        if (cp == 0)
            return "the user name contains a NUL character";
        if (is_control(cp))
            return "the user name contains a control character";
        if (is_space(cp))
            return "the user name contains a space";
        if (is_invisible(cp))
            return "the user name contains an invisible formatting character";
        if (cp == '/' || cp == '\\')
            return "the user name contains '/' or '\\'";
        i += k;
    }
    return cg_principal_realm_problem(at + 1, len - (size_t)(at + 1 - p));
}

enum { TF_LOCAL, TF_DOMAIN, TF_UPPER, TF_LOWER, N_TFILTERS };
static const char *const tfilter_names[N_TFILTERS] = { "local", "domain", "upper", "lower" };

/* ---- templates ---- */

/* Placeholder "{field.sub|filter|...}" (inner text s, n bytes). */
const char *cg_template_part_parse(const char *s, size_t n, cg_tpart *t)
{
    const char *bar = memchr(s, '|', n);
    size_t head = bar ? (size_t)(bar - s) : n;
    const char *dot = memchr(s, '.', head);
    if (!dot)
        return "a placeholder is {field.sub_field}, e.g. {subject.CN} or {san.upn}";
    int field = cg_field_by_name(s, (size_t)(dot - s));
    if (field < 0)
        return "unknown field in a placeholder (expected subject, issuer or san)";
    int sub = cg_sub_by_name(field, dot + 1, head - (size_t)(dot + 1 - s));
    if (sub < 0)
        return field == FIELD_SAN ? "unknown san sub-field in a placeholder (expected upn, email, dns or uri)"
                                  : "unknown sub-field in a placeholder (expected CN, O, OU, L, ST, C, DC, "
                                    "UID, emailAddress or serialNumber)";
    t->slot = cg_slot_of(field, sub);
    t->nfilters = 0;
    while (bar) {
        const char *f = bar + 1, *next = memchr(f, '|', n - (size_t)(f - s));
        size_t flen = next ? (size_t)(next - f) : n - (size_t)(f - s);
        int k = 0;
        while (k < N_TFILTERS && !(strlen(tfilter_names[k]) == flen && !memcmp(tfilter_names[k], f, flen)))
            k++;
        if (k == N_TFILTERS)
            return "unknown filter in a placeholder (expected local, domain, upper or lower)";
        if (t->nfilters == sizeof t->filters)
            return "a placeholder has more than 4 filters";
        t->filters[t->nfilters++] = (uint8_t)k;
        bar = next;
    }
    return NULL;
}

/* Whether a slot's values usually carry "@domain". */
static bool slot_has_at(int slot)
{
    int sub = slot % N_DN_SUBS;
    return slot == cg_slot_of(FIELD_SAN, SAN_UPN) || slot == cg_slot_of(FIELD_SAN, SAN_EMAIL) ||
           (slot < 2 * N_DN_SUBS && sub == SUB_EMAIL);
}

/* The principal a template gives for typical values ("x" for a field,
 * "x@X" for a UPN or e-mail), to catch at load time what can never be a
 * valid principal. */
void cg_template_sample(const cg_template *t, const char *realm, cg_sb *b)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const cg_tpart *p = &t->parts[i];
        if (p->slot < 0) {
            sb_add(b, p->lit, p->litlen);
            continue;
        }
        bool at = slot_has_at(p->slot), dom = false;
        for (size_t f = 0; f < p->nfilters; f++) {
            if (p->filters[f] == TF_LOCAL)
                at = false;
            else if (p->filters[f] == TF_DOMAIN)
                dom = true, at = false;
        }
        sb_puts(b, dom ? "X" : at ? "x@X" : "x");
    }
    if (!memchr(b->p, '@', b->len) && realm)
        sb_printf(b, "@%s", realm);
}

/* The value a template placeholder stands for: exactly one decodable
 * value of its slot, with the filters applied, appended to b. */
static bool tpart_eval(const cg_tpart *t, const cg_view *v, cg_sb *b, char *why, size_t wcap)
{
    char sn[40];
    cg_slot_name(t->slot, sn, sizeof sn);
    if (v->count[t->slot] == 0) {
        cg_fmt_into(why, wcap, "the certificate has no %s for {%s}", sn, sn);
        return false;
    }
    if (v->count[t->slot] > 1 || v->overflow) {
        cg_fmt_into(why, wcap, "the certificate has %u %s values; {%s} needs exactly one",
                 (unsigned)v->count[t->slot], sn, sn);
        return false;
    }
    const cg_value *x = &v->v[v->first[t->slot]];
    if (x->problem != VP_OK) {
        char p[96];
        cg_vproblem_text((cg_vproblem)x->problem, x->detail, p, sizeof p);
        cg_fmt_into(why, wcap, "the certificate's %s %s, so it cannot go into a principal", sn, p);
        return false;
    }
    const char *s = x->s;
    size_t n = x->len, start = b->len;
    for (size_t f = 0; f < t->nfilters; f++) {
        const char *at = NULL;
        for (size_t i = n; i-- > 0;)
            if (s[i] == '@') {
                at = s + i;
                break;
            }
        if ((t->filters[f] == TF_LOCAL || t->filters[f] == TF_DOMAIN) && !at) {
            cg_fmt_into(why, wcap, "%s \"%.*s\" has no '@' for |%s", sn, (int)(n > 64 ? 64 : n), s,
                     tfilter_names[t->filters[f]]);
            return false;
        }
        if (t->filters[f] == TF_LOCAL)
            n = (size_t)(at - s);
        else if (t->filters[f] == TF_DOMAIN)
            n -= (size_t)(at + 1 - s), s = at + 1;
    }
    sb_add(b, s, n);
    for (size_t f = 0; f < t->nfilters; f++)
        for (size_t i = start; i < b->len; i++) {
            if (t->filters[f] == TF_UPPER)
                b->p[i] = cg_ascii_upper(b->p[i]);
            else if (t->filters[f] == TF_LOWER)
                b->p[i] = cg_ascii_lower(b->p[i]);
        }
    return true;
}

/* Builds the principal into out (256 bytes). A result without '@' gets
 * "@default_realm". false, with the reason in why, when a field is missing,
 * ambiguous or undecodable, or the result is not a valid principal. */
bool cg_template_eval(const cg_template *t, const cg_view *v, const char *default_realm,
                          char *out, size_t cap, char *why, size_t wcap)
{
    cg_sb b;
    char buf[512];
    sb_init(&b, buf, sizeof buf);
    for (size_t i = 0; i < t->nparts; i++) {
        if (t->parts[i].slot < 0)
            sb_add(&b, t->parts[i].lit, t->parts[i].litlen);
        else if (!tpart_eval(&t->parts[i], v, &b, why, wcap))
            return false;
    }
    if (!memchr(b.p, '@', b.len) && default_realm)
        sb_printf(&b, "@%s", default_realm);
    const char *problem = b.full ? "it is too long" : cg_principal_problem(b.p, b.len);
    if (problem) {
        char shown[160];
        cg_sb s;
        sb_init(&s, shown, sizeof shown);
        sb_clip(&s, b.p, b.len, 100);
        cg_fmt_into(why, wcap, "the principal \"%s\" built from \"%s\" is not valid: %s", shown, t->src,
                 problem);
        return false;
    }
    if (b.len >= cap) {
        cg_fmt_into(why, wcap, "the principal is too long");
        return false;
    }
    memcpy(out, b.p, b.len + 1);
    return true;
}
