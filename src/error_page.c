#include "error_page.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Where a page is written. Every byte is counted; bytes are stored only
 * while the whole page so far fits, so a page that does not fit is
 * dropped whole instead of cut (p == NULL: count only). */
typedef struct page_out {
    char *p;
    size_t len, cap;
} page_out;

static void put_n(page_out *o, const char *s, size_t n)
{
    if (o->p && o->len + n < o->cap)
        memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put(page_out *o, const char *s) { put_n(o, s, strlen(s)); }

/* Length of the longest prefix of s (n bytes) that is at most max bytes and
 * does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--;
    return k;
}

/* s as HTML text: the five markup characters as entities, control
 * characters as spaces; cut at max bytes of s (with an ellipsis). */
static void put_text(page_out *o, const char *s, size_t max)
{
    size_t n = strlen(s), k = utf8_cut(s, n, max);
    size_t run = 0; /* bytes copied as they are, flushed at each special one */
    for (size_t i = 0; i < k; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *rep = NULL;
        switch (ch) {
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '&': rep = "&amp;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                rep = " ";
        }
        if (!rep) {
            run++;
            continue;
        }
        put_n(o, s + i - run, run);
        run = 0;
        put(o, rep);
    }
    put_n(o, s + k - run, run);
    if (k < n)
        put(o, "\xe2\x80\xa6"); /* U+2026 */
}

static void put_uint(page_out *o, size_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%zu", v);
    put_n(o, num, (size_t)n);
}

/* Self-contained: no script, no outside asset (the CSP forbids both);
 * readable from a phone's width up, light or dark. */
static const char style[] =
    "<style>\n"
    ":root{color-scheme:light dark}\n"
    "body{margin:0;background:#f2f4f7;color:#1d2939;"
    "font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}\n"
    "main{max-width:40rem;margin:0 auto;padding:1.5rem 1rem}\n"
    ".card{background:#fff;border-radius:.5rem;padding:1.5rem 1.25rem;box-shadow:0 1px 3px rgba(16,24,40,.15)}\n"
    "h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem;border-left:.25rem solid #d92d20;padding-left:.75rem}\n"
    "h2{font-size:1.05rem;margin:1.5rem 0 .5rem}\n"
    "p,li{overflow-wrap:anywhere}\n"
    "ul{padding-left:1.25rem;margin:.5rem 0}\n"
    ".support{margin-top:1.5rem;font-weight:600}\n"
    ".ref{margin-top:1.5rem;padding-top:1rem;border-top:1px solid #d0d5dd;font-size:.875rem;color:#475467}\n"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}\n"
    ".operator{margin-top:1.5rem;padding:.75rem 1rem;border:1px solid #fec84b;background:#fffaeb;"
    "border-radius:.375rem;font-size:.9rem}\n"
    ".operator h2{margin-top:0}\n"
    "@media (prefers-color-scheme:dark){body{background:#101828;color:#e4e7ec}.card{background:#1d2939}"
    "h1{border-color:#f97066}.ref{color:#98a2b3;border-color:#475467}"
    ".operator{background:#2d2213;border-color:#93650b}}\n"
    "</style>\n";

/* The 403.7 extra: why a browser sends nothing, and which CAs are accepted
 * (the names the TLS handshake already sent: not a secret). shown: how
 * many of them to list. */
static void put_ca_help(page_out *o, const cg_page_values *v, size_t shown)
{
    put(o, "<h2>Why your browser may not have sent one</h2>\n"
           "<p>Browsers silently hold back a certificate that has expired, and one issued by an authority "
           "this site does not list; they then send nothing, without telling you.");
    if (!v->nca_names) {
        put(o, "</p>\n");
        return;
    }
    put(o, " This site accepts certificates issued by:</p>\n<ul class=\"cas\">\n");
    for (size_t i = 0; i < shown; i++) {
        put(o, "<li>");
        put_text(o, v->ca_names[i] ? v->ca_names[i] : "", CG_ERROR_PAGE_CA_NAME_MAX);
        put(o, "</li>\n");
    }
    if (shown < v->nca_names) {
        put(o, "<li>and ");
        put_uint(o, v->nca_names - shown);
        put(o, shown ? " more</li>\n" : " authorities</li>\n");
    }
    put(o, "</ul>\n");
}

static void render(page_out *o, const cg_page_values *v, size_t shown)
{
    char status[16];
    const cg_refusal_words *w = cg_refusal_user(v->kind);
    cg_refusal_status_text(v->kind, status, sizeof status);

    put(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"robots\" content=\"noindex\">\n<title>");
    put(o, status);
    put(o, " \xe2\x80\x94 "); /* em dash */
    put_text(o, w->title, SIZE_MAX);
    put(o, "</title>\n");
    put(o, style);
    put(o, "</head>\n<body>\n<main>\n<div class=\"card\">\n<h1>");
    put(o, status);
    put(o, " \xe2\x80\x94 ");
    put_text(o, w->title, SIZE_MAX);
    put(o, "</h1>\n<p>");
    put_text(o, w->what, SIZE_MAX);
    put(o, "</p>\n<h2>What you can do</h2>\n<p>");
    put_text(o, w->todo, SIZE_MAX);
    put(o, "</p>\n");
    if (v->kind == CG_REFUSE_CERT_MISSING)
        put_ca_help(o, v, shown);
    if (v->support && v->support[0]) {
        put(o, "<p class=\"support\">");
        put_text(o, v->support, CG_ERROR_SUPPORT_MAX);
        put(o, "</p>\n");
    }
    put(o, "<p class=\"ref\">Request id: <code>");
    put_text(o, v->request_id && v->request_id[0] ? v->request_id : "-", 64);
    put(o, "</code><br>\nError code: <code>");
    put_text(o, cg_refusal_code(v->kind), SIZE_MAX);
    put(o, "</code><br>\nPlease quote the request id when you ask for help.</p>\n");
    if (v->operator_detail) {
        put(o, "<section class=\"operator\">\n<h2>For the operator</h2>\n<p><strong>");
        put_text(o, cg_refusal_title(v->kind), SIZE_MAX);
        put(o, "</strong></p>\n<p>");
        put_text(o, v->operator_detail, sizeof ((cg_refusal *)0)->detail);
        put(o, "</p>\n</section>\n");
    }
    put(o, "</div>\n</main>\n</body>\n</html>\n");
}

/* How many CA names fit in cap along with the rest of the page. */
static size_t cas_that_fit(const cg_page_values *v, size_t cap)
{
    if (v->kind != CG_REFUSE_CERT_MISSING || !v->nca_names)
        return 0;
    size_t want = v->nca_names < CG_ERROR_PAGE_MAX_CAS ? v->nca_names : CG_ERROR_PAGE_MAX_CAS;
    page_out base = { 0 };
    render(&base, v, 0); /* with its "and N authorities" line, the longest it can be */
    if (base.len >= cap)
        return 0;
    size_t room = cap - 1 - base.len, shown = 0;
    for (; shown < want; shown++) {
        page_out item = { 0 };
        put(&item, "<li></li>\n");
        put_text(&item, v->ca_names[shown] ? v->ca_names[shown] : "", CG_ERROR_PAGE_CA_NAME_MAX);
        if (item.len > room)
            break;
        room -= item.len;
    }
    return shown;
}

size_t cg_error_page_render(const cg_page_values *v, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    page_out o = { .p = out, .cap = cap };
    render(&o, v, cas_that_fit(v, cap));
    if (o.len >= cap) {
        out[0] = '\0';
        return 0;
    }
    out[o.len] = '\0';
    return o.len;
}
