/* certgate import-iis: IIS client certificate mappings -> certgate's
 * mapping YAML (docs/mapping.md, "From IIS").
 *
 *   certgate import-iis [-o FILE] [--realm REALM] [--domain NETBIOS=REALM]...
 *                       [--location PATH] CONFIG
 *
 * Reads the <iisClientCertificateMappingAuthentication> sections of an
 * applicationHost.config or web.config with libxml2 (no network, no entity
 * substitution), converts their one-to-one and many-to-one mappings, and
 * writes the YAML to stdout or FILE. Every section and <location path> found
 * is reported; every entry that cannot be converted is reported with its
 * line and kept, commented out, in the output, so nothing disappears
 * silently. Passwords are dropped (certgate never stores one). The output
 * is loaded back with the mapping loader before it is written, so what
 * import-iis writes is what `certgate check` accepts.
 *
 * Exit status: 0 everything converted; 1 some entries (or no section)
 * could not be converted, the output written anyway; 2 usage, I/O or XML
 * errors, nothing written.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <mbedtls/x509_crt.h>

#include "commands.h"
#include "mapping/mapping.h"
#include "base/base.h"
#include "x509/x509.h"

#define SECTION "iisClientCertificateMappingAuthentication"
#define MAX_DOMAINS 32

typedef struct iis_opts {
    const char *input, *output, *realm, *location;
    const char *domain_from[MAX_DOMAINS], *domain_to[MAX_DOMAINS];
    size_t ndomains;
} iis_opts;

/* One converted (or not) mapping, kept as YAML text until the output is
 * assembled: one-to-one and many-to-one go in separate lists. */
typedef struct iis_entry {
    bool m2o;
    bool converted;       /* false: written commented out, with why */
    bool removed;         /* by <clear/> or <remove> later in the section */
    int line;
    char *key;            /* SHA-256 (one-to-one) or name (many-to-one) */
    char *yaml;           /* the list item, indented, without trailing newline */
    char *why;            /* why it was not converted, or why it was removed */
} iis_entry;

typedef struct iis_import {
    const iis_opts *o;
    xmlDocPtr doc;
    iis_entry *e;
    size_t n, cap;
    size_t errors, warnings, sections;
    size_t m2o_seq;                 /* numbers unnamed many-to-one mappings */
    char *sections_text;            /* "# file:line ..." lines for the header */
    size_t sections_len;
    bool dropped_passwords, dropped_logon_method;
} iis_import;

/* ---- messages ---- */

__attribute__((format(printf, 4, 5)))
static void report(iis_import *im, const char *sev, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (line > 0)
        fprintf(stderr, "%s:%d: %s: ", im->o->input, line, sev);
    else
        fprintf(stderr, "%s: %s: ", im->o->input, sev);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (!strcmp(sev, "error"))
        im->errors++;
    else if (!strcmp(sev, "warning"))
        im->warnings++;
}

__attribute__((format(printf, 1, 2)))
static char *xasprintf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (!s) {
        fprintf(stderr, "certgate import-iis: out of memory\n");
        exit(2);
    }
    return s;
}

/* ---- YAML output helpers ---- */

/* A double-quoted YAML scalar: safe for any text. */
static void yq(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* A single-line comment: control characters become '?'. */
static void comment_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc(*p < 0x20 || *p == 0x7F ? '?' : *p, f);
}

static iis_entry *add_entry(iis_import *im, bool m2o, int line)
{
    if (!cg_vec_reserve(im->e, im->cap, im->n + 1, 16)) {
        fprintf(stderr, "certgate import-iis: out of memory\n");
        exit(2);
    }
    iis_entry *e = &im->e[im->n++];
    memset(e, 0, sizeof *e);
    e->m2o = m2o;
    e->line = line;
    return e;
}

/* ---- XML access ---- */

static bool is_elem(xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* An attribute's value (malloc'ed by libxml2), or NULL. */
static char *attr(xmlNodePtr n, const char *name)
{
    return (char *)xmlGetProp(n, (const xmlChar *)name);
}

/* A boolean attribute as IIS writes it ("true"/"false", any case). */
static bool attr_bool(iis_import *im, xmlNodePtr n, const char *name, bool dflt, bool *present)
{
    char *v = attr(n, name);
    bool out = dflt;
    if (present)
        *present = v != NULL;
    if (v && !strcasecmp(v, "true"))
        out = true;
    else if (v && !strcasecmp(v, "false"))
        out = false;
    else if (v)
        report(im, "warning", (int)xmlGetLineNo(n), "%s=\"%s\" is neither true nor false; taken as %s",
               name, v, dflt ? "true" : "false");
    xmlFree(v);
    return out;
}

static const char *location_of(xmlNodePtr n, char **owned)
{
    *owned = NULL;
    for (xmlNodePtr p = n->parent; p; p = p->parent)
        if (is_elem(p, "location")) {
            *owned = attr(p, "path");
            return *owned ? *owned : "";
        }
    return NULL;
}

/* ---- principals ---- */

static void upper_ascii(char *s)
{
    for (; *s; s++)
        *s = (char)cg_ascii_upper(*s);
}

/* The realm for a NetBIOS domain: --domain NETBIOS=REALM, else the name in
 * upper case (a guess the output's header comment asks to check). */
static char *realm_for(const iis_opts *o, const char *domain)
{
    for (size_t i = 0; i < o->ndomains; i++)
        if (!strcasecmp(o->domain_from[i], domain))
            return xasprintf("%s", o->domain_to[i]);
    char *r = xasprintf("%s", domain);
    upper_ascii(r);
    return r;
}

/* IIS userName -> principal: DOMAIN\user -> user@DOMAIN; user@domain (a UPN)
 * stays; a bare user takes defaultLogonDomain, else --realm. NULL with why
 * when no valid principal results. */
static char *iis_principal(const iis_opts *o, const char *user, const char *default_domain,
                           char **why)
{
    const char *bs = strchr(user, '\\');
    char *p;
    *why = NULL;
    if (!*user) {
        *why = xasprintf("userName is empty");
        return NULL;
    }
    if (bs) {
        char *dom = xasprintf("%.*s", (int)(bs - user), user);
        char *realm = realm_for(o, dom);
        p = xasprintf("%s@%s", bs + 1, realm);
        free(dom);
        free(realm);
    } else if (strchr(user, '@')) {
        p = xasprintf("%s", user);
    } else if (default_domain && *default_domain) {
        char *realm = realm_for(o, default_domain);
        p = xasprintf("%s@%s", user, realm);
        free(realm);
    } else if (o->realm) {
        p = xasprintf("%s@%s", user, o->realm);
    } else {
        *why = xasprintf("userName \"%s\" has no domain and the section no defaultLogonDomain (a local "
                         "Windows account); convert again with --realm REALM to map it to a Kerberos "
                         "principal", user);
        return NULL;
    }
    const char *problem = cg_principal_problem(p, strlen(p));
    if (problem) {
        *why = xasprintf("userName \"%s\" gives the principal \"%s\", which is not valid: %s", user, p,
                         problem);
        free(p);
        return NULL;
    }
    return p;
}

/* ---- one-to-one ---- */

/* The certificate of an <add>: its SHA-256 and subject, or why not. */
static bool iis_certificate(const char *b64, char sha[65], char *subject, size_t cap, char **why)
{
    char buf[600];
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    bool ok = cg_mapping_cert_text(b64, strlen(b64), &crt, buf, sizeof buf);
    if (ok) {
        cg_cert_sha256_hex(&crt, sha);
        cg_mapping_cert_dn(&crt, false, subject, cap);
    } else {
        char shown[64];
        snprintf(shown, sizeof shown, "%.40s%s", b64, strlen(b64) > 40 ? "..." : "");
        *why = xasprintf("certificate \"%s\" %s", shown, buf);
    }
    mbedtls_x509_crt_free(&crt);
    return ok;
}

static void one_to_one_add(iis_import *im, xmlNodePtr n, const char *where, const char *domain,
                           bool section_on)
{
    int line = (int)xmlGetLineNo(n);
    char *user = attr(n, "userName"), *cert = attr(n, "certificate"), *pw = attr(n, "password");
    bool enabled = attr_bool(im, n, "enabled", true, NULL) && section_on;
    char sha[65] = "", subject[256] = "", *why = NULL, *principal = NULL;
    iis_entry *e = add_entry(im, false, line);

    if (pw) {
        report(im, "warning", line, "password of userName \"%s\" dropped: certgate stores no passwords "
               "(it delegates with Kerberos S4U2Self + S4U2Proxy)", user ? user : "");
        im->dropped_passwords = true;
    }
    char *cert_why = NULL, *user_why = NULL;
    if (!cert || !*cert)
        cert_why = xasprintf("<add> has no certificate attribute");
    else
        iis_certificate(cert, sha, subject, sizeof subject, &cert_why);
    principal = iis_principal(im->o, user ? user : "", domain, &user_why);
    /* Both problems at once: the operator fixes the entry in one go. */
    if (cert_why && user_why)
        why = xasprintf("%s; and %s", cert_why, user_why);
    else if (cert_why || user_why)
        why = xasprintf("%s", cert_why ? cert_why : user_why);
    free(cert_why);
    free(user_why);
    for (size_t i = 0; !why && i + 1 < im->n; i++)
        if (!im->e[i].m2o && !im->e[i].removed && im->e[i].key && !strcmp(im->e[i].key, sha))
            why = xasprintf("the same certificate as the entry at line %d (IIS rejects duplicates too)",
                            im->e[i].line);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "  # %s line %d%s%s", im->o->input, line, where ? ", " : "", where ? where : "");
    if (!why) {
        fprintf(f, ": %s\n  - certificate: ", subject);
        yq(f, cert);
        fprintf(f, "\n    principal: ");
        yq(f, principal);
        if (!enabled)
            fprintf(f, "\n    enabled: false");
    } else {
        fprintf(f, "\n  # - certificate: ");
        yq(f, cert ? cert : "");
        fprintf(f, "\n  #   principal: ");
        yq(f, user ? user : "");
    }
    fclose(f);
    e->yaml = buf;
    e->converted = !why;
    e->why = why;
    e->key = why ? NULL : xasprintf("%s", sha);
    if (why)
        report(im, "error", line, "one-to-one mapping not converted: %s", why);
    free(principal);
    xmlFree(user);
    xmlFree(cert);
    xmlFree(pw);
}

/* <clear/> empties the collection so far; <remove certificate=...> one entry. */
static void collection_remove(iis_import *im, size_t from, bool m2o, const char *key, int line)
{
    for (size_t i = from; i < im->n; i++) {
        iis_entry *e = &im->e[i];
        if (e->m2o != m2o || e->removed || (key && (!e->key || strcmp(e->key, key))))
            continue;
        e->removed = true;
        free(e->why);
        e->why = xasprintf("removed by <%s> at line %d", key ? "remove" : "clear", line);
    }
}

static void one_to_one_list(iis_import *im, xmlNodePtr list, const char *where, const char *domain,
                            bool section_on)
{
    size_t from = im->n;
    for (xmlNodePtr n = list->children; n; n = n->next) {
        if (is_elem(n, "add")) {
            one_to_one_add(im, n, where, domain, section_on);
        } else if (is_elem(n, "clear")) {
            collection_remove(im, from, false, NULL, (int)xmlGetLineNo(n));
        } else if (is_elem(n, "remove")) {
            char *cert = attr(n, "certificate"), sha[65], subject[8], *why = NULL;
            if (cert && iis_certificate(cert, sha, subject, sizeof subject, &why))
                collection_remove(im, from, false, sha, (int)xmlGetLineNo(n));
            else
                report(im, "warning", (int)xmlGetLineNo(n), "<remove> ignored: %s", why ? why : "no certificate");
            free(why);
            xmlFree(cert);
        } else if (n->type == XML_ELEMENT_NODE) {
            report(im, "warning", (int)xmlGetLineNo(n), "<%s> in oneToOneMappings ignored (expected add, "
                   "clear or remove)", (const char *)n->name);
        }
    }
}

/* ---- many-to-one ---- */

/* matchCriteria -> pattern. IIS documents '*' as its only wildcard, so
 * '?' and '\' are escaped: a literal '?' must not start matching any
 * character. */
static char *iis_pattern(const char *match)
{
    size_t n = 0;
    for (const char *p = match; *p; p++)
        n += (*p == '?' || *p == '\\') ? 2 : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        exit(2);
    for (const char *p = match; *p; p++) {
        if (*p == '?' || *p == '\\')
            *o++ = '\\';
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

/* One <rules><add .../> into f; why on failure. */
static bool m2o_rule(iis_import *im, xmlNodePtr r, FILE *f, char **why)
{
    int line = (int)xmlGetLineNo(r);
    char *field = attr(r, "certificateField"), *sub = attr(r, "certificateSubField"),
         *match = attr(r, "matchCriteria");
    bool cs = attr_bool(im, r, "compareCaseSensitive", true, NULL);
    const char *yfield = field && !strcasecmp(field, "Subject") ? "subject"
                         : field && !strcasecmp(field, "Issuer") ? "issuer" : NULL;
    const char *ysub = yfield && sub ? cg_mapping_sub_field(yfield, sub) : NULL;
    bool ok = false;
    if (!yfield)
        *why = xasprintf("rule at line %d: certificateField \"%s\" (expected Subject or Issuer)", line,
                         field ? field : "");
    else if (!ysub)
        *why = xasprintf("rule at line %d: certificateSubField \"%s\" is not one certgate maps (CN, O, "
                         "OU, L, S/ST, C, DC, UID, E/emailAddress, serialNumber)", line, sub ? sub : "");
    else if (!match || !*match)
        *why = xasprintf("rule at line %d has no matchCriteria", line);
    else
        ok = true;
    if (ok) {
        char *pat = iis_pattern(match);
        fprintf(f, "\n      - field: %s\n        sub_field: %s\n        pattern: ", yfield, ysub);
        yq(f, pat);
        fprintf(f, "\n        case_sensitive: %s", cs ? "true" : "false");
        free(pat);
    }
    xmlFree(field);
    xmlFree(sub);
    xmlFree(match);
    return ok;
}

/* A unique name: IIS names may be missing or repeated. */
static char *m2o_unique_name(iis_import *im, const char *name)
{
    char *out = name && *name ? xasprintf("%s", name) : xasprintf("iis-mapping-%zu", ++im->m2o_seq);
    for (int k = 2;; k++) {
        bool dup = false;
        for (size_t i = 0; i < im->n && !dup; i++)
            dup = im->e[i].m2o && im->e[i].key && !strcmp(im->e[i].key, out);
        if (!dup)
            return out;
        free(out);
        out = xasprintf("%s-%d", name && *name ? name : "iis-mapping", k);
    }
}

/* The <rules> of a many-to-one <add> as YAML (malloc'ed) and their count;
 * *why is set (first problem only) when a rule cannot be converted. */
static size_t m2o_rules(iis_import *im, xmlNodePtr n, char **yaml, char **why)
{
    size_t len = 0, count = 0;
    FILE *f = open_memstream(yaml, &len);
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (!is_elem(c, "rules"))
            continue;
        for (xmlNodePtr r = c->children; r; r = r->next) {
            char *rwhy = NULL;
            if (!is_elem(r, "add"))
                continue;
            if (m2o_rule(im, r, f, &rwhy))
                count++;
            else if (!*why)
                *why = rwhy;
            else
                free(rwhy);
        }
    }
    fclose(f);
    return count;
}

/* What a many-to-one <add> says, once read. */
typedef struct iis_m2o {
    const char *name, *description, *user, *principal, *rules;
    bool enabled, deny;
} iis_m2o;

static char *m2o_render(const iis_import *im, int line, const char *where, const iis_m2o *x, bool ok)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "  # %s line %d%s%s", im->o->input, line, where ? ", " : "", where ? where : "");
    if (!ok) {
        fprintf(f, "\n  # - name: ");
        yq(f, x->name);
        fprintf(f, "  (%s, userName ", x->deny ? "Deny" : "Allow");
        yq(f, x->user);
        fprintf(f, ")");
        fclose(f);
        return buf;
    }
    fprintf(f, "\n  - name: ");
    yq(f, x->name);
    if (x->description && *x->description) {
        fprintf(f, "\n    description: ");
        yq(f, x->description);
    }
    fprintf(f, "\n    action: %s", x->deny ? "deny" : "allow");
    if (!x->deny) {
        fprintf(f, "\n    principal: ");
        yq(f, x->principal);
    }
    if (!x->enabled)
        fprintf(f, "\n    enabled: false");
    fprintf(f, "\n    rules:%s", x->rules);
    fclose(f);
    return buf;
}

static void m2o_add(iis_import *im, xmlNodePtr n, const char *where, const char *domain, bool section_on)
{
    int line = (int)xmlGetLineNo(n);
    char *name = attr(n, "name"), *desc = attr(n, "description"), *mode = attr(n, "permissionMode"),
         *user = attr(n, "userName"), *pw = attr(n, "password");
    char *why = NULL, *principal = NULL, *rules = NULL;
    iis_m2o x = { .description = desc, .user = user ? user : "",
                  .enabled = attr_bool(im, n, "enabled", true, NULL) && section_on,
                  .deny = mode && !strcasecmp(mode, "Deny") };
    iis_entry *e = add_entry(im, true, line);
    char *uname = m2o_unique_name(im, name);
    x.name = uname;

    if (pw) {
        report(im, "warning", line, "password of many-to-one mapping \"%s\" dropped: certgate stores no "
               "passwords", uname);
        im->dropped_passwords = true;
    }
    if (x.deny && *x.user)
        report(im, "warning", line, "userName \"%s\" of Deny mapping \"%s\" dropped: a deny mapping maps "
               "to no one", x.user, uname);
    if (mode && !x.deny && strcasecmp(mode, "Allow"))
        why = xasprintf("permissionMode \"%s\" (expected Allow or Deny)", mode);
    if (!why && !x.deny)
        principal = iis_principal(im->o, x.user, domain, &why);
    size_t nrules = m2o_rules(im, n, &rules, &why);
    if (!why && nrules == 0)
        why = xasprintf("it has no rules (certgate requires at least one)");
    x.principal = principal;
    x.rules = rules;
    e->yaml = m2o_render(im, line, where, &x, !why);
    e->converted = !why;
    e->why = why;
    e->key = uname;
    if (why)
        report(im, "error", line, "many-to-one mapping \"%s\" not converted: %s", uname, why);
    free(rules);
    free(principal);
    xmlFree(name);
    xmlFree(desc);
    xmlFree(mode);
    xmlFree(user);
    xmlFree(pw);
}

static void m2o_list(iis_import *im, xmlNodePtr list, const char *where, const char *domain, bool section_on)
{
    size_t from = im->n;
    for (xmlNodePtr n = list->children; n; n = n->next) {
        if (is_elem(n, "add")) {
            m2o_add(im, n, where, domain, section_on);
        } else if (is_elem(n, "clear")) {
            collection_remove(im, from, true, NULL, (int)xmlGetLineNo(n));
        } else if (is_elem(n, "remove")) {
            char *name = attr(n, "name");
            collection_remove(im, from, true, name ? name : "", (int)xmlGetLineNo(n));
            xmlFree(name);
        } else if (n->type == XML_ELEMENT_NODE) {
            report(im, "warning", (int)xmlGetLineNo(n), "<%s> in manyToOneMappings ignored",
                   (const char *)n->name);
        }
    }
}

/* ---- sections ---- */

static void note_section(iis_import *im, int line, const char *loc, size_t ones, size_t m2o, const char *note)
{
    char *s = xasprintf("#   %s line %d, %s%s%s: %zu one-to-one, %zu many-to-one%s%s\n", im->o->input, line,
                        loc ? "<location path=\"" : "no <location> (this file's own level)", loc ? loc : "",
                        loc ? "\">" : "", ones, m2o, note ? "; " : "", note ? note : "");
    size_t n = strlen(s);
    im->sections_text = realloc(im->sections_text, im->sections_len + n + 1);
    memcpy(im->sections_text + im->sections_len, s, n + 1);
    im->sections_len += n;
    free(s);
}

static void section(iis_import *im, xmlNodePtr sec)
{
    int line = (int)xmlGetLineNo(sec);
    char *owned;
    const char *loc = location_of(sec, &owned);
    bool has_enabled, enabled = attr_bool(im, sec, "enabled", false, &has_enabled);
    bool one_on = attr_bool(im, sec, "oneToOneCertificateMappingsEnabled", true, NULL);
    bool m2o_on = attr_bool(im, sec, "manyToOneCertificateMappingsEnabled", true, NULL);
    char *domain = attr(sec, "defaultLogonDomain"), *logon = attr(sec, "logonMethod");
    char *where = loc ? xasprintf("<location path=\"%s\">", loc) : NULL;
    const char *note = NULL;
    size_t before = im->n;

    im->sections++;
    if (im->o->location && (!loc || strcmp(loc, im->o->location))) {
        report(im, "note", line, "%s section skipped (--location %s)", loc ? where : "top-level", im->o->location);
        goto done;
    }
    if (loc && strchr(loc, '/')) {
        report(im, "warning", line, "%s is below site level: IIS ignores %s there (the mappings are only "
               "read at server and site level, hence 401.2 with nothing in the logs); certgate applies "
               "them", where, SECTION);
        note = "below site level: IIS ignored it";
    }
    if (has_enabled && !enabled)
        report(im, "warning", line, "the section has enabled=\"false\": its mappings are imported disabled");
    else if (!has_enabled)
        report(im, "warning", line, "the section does not set enabled (IIS' default is false unless a "
               "higher level enables it): its mappings are imported enabled");
    if (logon) {
        report(im, "note", line, "logonMethod=\"%s\" dropped: certgate logs on no one; the backend gets a "
               "Kerberos ticket for the mapped principal (constrained delegation)", logon);
        im->dropped_logon_method = true;
    }
    bool on = !has_enabled || enabled;
    for (xmlNodePtr c = sec->children; c; c = c->next) {
        if (is_elem(c, "oneToOneMappings"))
            one_to_one_list(im, c, where, domain, on && one_on);
        else if (is_elem(c, "manyToOneMappings"))
            m2o_list(im, c, where, domain, on && m2o_on);
    }
done:;
    size_t ones = 0, m2o = 0;
    for (size_t i = before; i < im->n; i++) {
        if (im->e[i].m2o)
            m2o++;
        else
            ones++;
    }
    note_section(im, line, loc, ones, m2o, im->o->location && (!loc || strcmp(loc, im->o->location))
                                            ? "skipped (--location)" : note);
    report(im, "note", line, "%s %s: %zu one-to-one, %zu many-to-one", SECTION,
           where ? where : "(no <location>)", ones, m2o);
    free(where);
    xmlFree(domain);
    xmlFree(logon);
    xmlFree(owned);
}

/* Every <location>, and every mapping section, in document order. */
static void walk(iis_import *im, xmlNodePtr n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is_elem(n, "location")) {
            char *path = attr(n, "path");
            report(im, "note", (int)xmlGetLineNo(n), "found <location path=\"%s\">", path ? path : "");
            xmlFree(path);
        }
        if (is_elem(n, SECTION)) {
            section(im, n);
            continue;
        }
        if (is_elem(n, "clientCertificateMappingAuthentication")) {
            char *en = attr(n, "enabled");
            if (en && !strcasecmp(en, "true"))
                report(im, "note", (int)xmlGetLineNo(n), "clientCertificateMappingAuthentication (mapping "
                       "through Active Directory) is enabled here: its certgate equivalents are strong "
                       "one-to-one keys and {san.upn} templates (docs/mapping.md)");
            xmlFree(en);
        }
        walk(im, n->children);
    }
}

/* ---- output ---- */

static void write_list(FILE *f, const iis_import *im, bool m2o)
{
    size_t live = 0;
    for (size_t i = 0; i < im->n; i++)
        live += im->e[i].m2o == m2o && im->e[i].converted && !im->e[i].removed;
    fprintf(f, "\n%s:%s\n", m2o ? "many_to_one" : "one_to_one", live ? "" : " []");
    for (size_t i = 0; i < im->n; i++) {
        const iis_entry *e = &im->e[i];
        if (e->m2o != m2o)
            continue;
        if (e->converted && !e->removed) {
            fprintf(f, "%s\n", e->yaml);
            continue;
        }
        fprintf(f, "  # NOT CONVERTED (%s line %d): ", im->o->input, e->line);
        comment_text(f, e->why);
        fputc('\n', f);
        /* the entry itself, commented out line by line */
        for (const char *p = e->yaml; *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            if (len >= 2 && !strncmp(p, "  #", 3))
                fprintf(f, "%.*s\n", (int)len, p);
            else
                fprintf(f, "  #%.*s\n", (int)len, p);
            p += len + (nl ? 1 : 0);
        }
    }
}

static char *render(const iis_import *im, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    fprintf(f, "# certgate certificate mapping (docs/mapping.md), converted by `certgate import-iis`\n"
               "# from %s. Review it before use.\n#\n# Sections found:\n%s", im->o->input,
            im->sections_text ? im->sections_text : "#   none\n");
    fprintf(f, "#\n"
               "# Principals: IIS names accounts DOMAIN\\user (a NetBIOS domain); each became\n"
               "# user@DOMAIN with the domain in upper case, and a userName without a domain took\n"
               "# the section's defaultLogonDomain%s. A Kerberos realm is the AD DNS domain in upper\n"
               "# case (CONTOSO.COM, not CONTOSO): check each principal, or convert again with\n"
               "# --domain CONTOSO=CONTOSO.COM.\n", im->o->realm ? " (or --realm)" : "");
    if (im->dropped_passwords)
        fprintf(f, "# Passwords were dropped: certgate stores none; it obtains Kerberos tickets for the\n"
                   "# mapped principal by constrained delegation (S4U2Self + S4U2Proxy).\n");
    if (im->dropped_logon_method)
        fprintf(f, "# logonMethod was dropped: there is no Windows logon; see docs/mapping.md.\n");
    fprintf(f, "# IIS compares matchCriteria with '*' as its only wildcard: '?' and '\\' were escaped.\n");
    if (im->o->realm) {
        fprintf(f, "\ndefault_realm: ");
        yq(f, im->o->realm);
        fputc('\n', f);
    }
    write_list(f, im, false);
    write_list(f, im, true);
    fclose(f);
    return buf;
}

/* The output must load: otherwise it is import-iis' bug, not the user's. */
static bool self_check(const iis_import *im, const char *yaml, size_t len)
{
    cg_diag d;
    cg_diag_init(&d);
    const char *name = im->o->output ? im->o->output : "<output>";
    cg_mapping *m = cg_mapping_load_string(yaml, len, name, NULL, &d);
    bool ok = m != NULL;
    if (!ok) {
        fprintf(stderr, "certgate import-iis: the converted mapping does not load (please report this):\n");
        cg_diag_print(&d, stderr);
    }
    cg_mapping_unref(m);
    cg_diag_free(&d);
    return ok;
}

/* ---- command line ---- */

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: certgate import-iis [-o FILE] [--realm REALM] [--domain NETBIOS=REALM]...\n"
               "                          [--location PATH] CONFIG\n"
               "\n"
               "Converts the <" SECTION "> sections of an IIS\n"
               "applicationHost.config or web.config to certgate's mapping YAML.\n"
               "\n"
               "  -o, --output FILE        write the YAML to FILE (default: stdout)\n"
               "  --realm REALM            realm for userNames without a domain (also default_realm)\n"
               "  --domain NETBIOS=REALM   realm for DOMAIN\\user names of that NetBIOS domain\n"
               "                           (default: the domain in upper case)\n"
               "  --location PATH          convert only the sections inside <location path=\"PATH\">\n"
               "\n"
               "Exit status: 0 all converted; 1 some entries could not be converted (reported\n"
               "with their line, kept commented out in the output); 2 usage, I/O or XML errors.\n");
    return status;
}

static int parse_args(int argc, char **argv, iis_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout, 0);
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has_value) {
            o->output = argv[++i];
        } else if (!strcmp(a, "--realm") && has_value) {
            o->realm = argv[++i];
        } else if (!strcmp(a, "--location") && has_value) {
            o->location = argv[++i];
        } else if (!strcmp(a, "--domain") && has_value) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i] || !eq[1] || o->ndomains == MAX_DOMAINS) {
                fprintf(stderr, "certgate import-iis: --domain wants NETBIOS=REALM, got \"%s\"\n", argv[i]);
                return 2;
            }
            *eq = '\0';
            o->domain_from[o->ndomains] = argv[i];
            o->domain_to[o->ndomains++] = eq + 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "certgate import-iis: unknown option or missing value: %s\n", a);
            return usage(stderr, 2);
        } else if (o->input) {
            fprintf(stderr, "certgate import-iis: one CONFIG file at a time (got %s and %s)\n", o->input, a);
            return 2;
        } else {
            o->input = a;
        }
    }
    if (!o->input)
        return usage(stderr, 2);
    for (size_t i = 0; i <= o->ndomains; i++) {
        const char *realm = i < o->ndomains ? o->domain_to[i] : o->realm;
        char probe[300];
        snprintf(probe, sizeof probe, "x@%s", realm ? realm : "");
        if (realm && cg_principal_problem(probe, strlen(probe))) {
            fprintf(stderr, "certgate import-iis: \"%s\" is not a Kerberos realm (expected e.g. "
                    "EXAMPLE.TEST): %s\n", realm, cg_principal_problem(probe, strlen(probe)));
            return 2;
        }
    }
    return -1; /* go on */
}

/* libxml2 errors, as file:line: messages. */
static void xml_error(void *ctx, xmlErrorPtr err)
{
    (void)ctx;
    if (err->level < XML_ERR_ERROR)
        return;
    fprintf(stderr, "%s:%d: error: XML: %s", err->file ? err->file : "?", err->line,
            err->message ? err->message : "unknown error\n");
}

static int write_output(const iis_opts *o, const char *yaml, size_t len)
{
    FILE *f = o->output ? fopen(o->output, "w") : stdout;
    if (!f) {
        fprintf(stderr, "certgate import-iis: cannot write %s: %s\n", o->output, strerror(errno));
        return 2;
    }
    bool ok = fwrite(yaml, 1, len, f) == len;
    ok = (o->output ? fclose(f) == 0 : fflush(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "certgate import-iis: writing %s failed: %s\n", o->output ? o->output : "stdout",
                strerror(errno));
        return 2;
    }
    return 0;
}

static void free_import(iis_import *im)
{
    for (size_t i = 0; i < im->n; i++) {
        free(im->e[i].key);
        free(im->e[i].yaml);
        free(im->e[i].why);
    }
    free(im->e);
    free(im->sections_text);
    if (im->doc)
        xmlFreeDoc(im->doc);
}

int cg_cmd_import_iis(int argc, char **argv)
{
    iis_opts o = { 0 };
    int st = parse_args(argc, argv, &o);
    if (st >= 0)
        return st;
    iis_import im = { .o = &o };
    xmlSetStructuredErrorFunc(NULL, xml_error);
    /* No XML_PARSE_NOENT (entities stay unexpanded) and XML_PARSE_NONET:
     * a configuration file cannot make certgate read other files or the
     * network. */
    im.doc = xmlReadFile(o.input, NULL, XML_PARSE_NONET | XML_PARSE_NOWARNING);
    if (!im.doc) {
        fprintf(stderr, "certgate import-iis: %s could not be read as XML (see above)\n", o.input);
        xmlSetStructuredErrorFunc(NULL, NULL);
        return 2;
    }
    walk(&im, xmlDocGetRootElement(im.doc));
    if (im.sections == 0)
        report(&im, "error", 0, "no <%s> section found: nothing to convert", SECTION);
    size_t len = 0;
    char *yaml = render(&im, &len);
    st = self_check(&im, yaml, len) ? write_output(&o, yaml, len) : 2;
    if (st == 0) {
        size_t ok = 0;
        for (size_t i = 0; i < im.n; i++)
            ok += im.e[i].converted && !im.e[i].removed;
        fprintf(stderr, "certgate import-iis: %zu mapping(s) converted, %zu error(s), %zu warning(s)%s%s\n",
                ok, im.errors, im.warnings, o.output ? "; written to " : "", o.output ? o.output : "");
        st = im.errors ? 1 : 0;
    }
    free(yaml);
    free_import(&im);
    xmlSetStructuredErrorFunc(NULL, NULL);
    return st;
}
