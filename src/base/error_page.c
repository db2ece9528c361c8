#include "error_page.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "vec.h"

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

/* A request id is cut at this many bytes (certgate's own are ~20). */
#define REQUEST_ID_MAX 64u

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
    /* Phones: the text gets the width, not the margins. */
    "@media (max-width:30rem){main{padding:.75rem .5rem}.card{padding:1.25rem 1rem}h1{font-size:1.3rem}}\n"
    "@media (prefers-color-scheme:dark){body{background:#101828;color:#e4e7ec}.card{background:#1d2939}"
    "h1{border-color:#f97066}.ref{color:#98a2b3;border-color:#475467}"
    ".operator{background:#2d2213;border-color:#93650b}}\n"
    "</style>\n";

/* The accepted CA names as an HTML list (items escaped, each cut at
 * CG_ERROR_PAGE_CA_NAME_MAX bytes): shown of them, then how many were left
 * out. Nothing when there are none. */
static void put_ca_list(page_out *o, const cg_page_values *v, size_t shown)
{
    if (!v->nca_names)
        return;
    put(o, "<ul class=\"cas\">\n");
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
    put(o, " This site accepts certificates issued by:</p>\n");
    put_ca_list(o, v, shown);
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
    put_text(o, v->request_id && v->request_id[0] ? v->request_id : "-", REQUEST_ID_MAX);
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

/* ---- operator templates ---- */

enum {
    PH_STATUS,
    PH_TITLE,
    PH_WHAT,
    PH_TODO,
    PH_REQUEST_ID,
    PH_CODE,
    PH_SUPPORT,
    PH_CA_NAMES,
    PH_OPERATOR_DETAIL,
    PH_COUNT
};

const char *const cg_error_template_placeholders[PH_COUNT + 1] = {
    [PH_STATUS] = "status",         [PH_TITLE] = "title",
    [PH_WHAT] = "what_happened",    [PH_TODO] = "what_to_do",
    [PH_REQUEST_ID] = "request_id", [PH_CODE] = "code",
    [PH_SUPPORT] = "support",       [PH_CA_NAMES] = "ca_names",
    [PH_OPERATOR_DETAIL] = "operator_detail", [PH_COUNT] = NULL,
};

/* A run of the template's text (ph < 0) or a placeholder. */
typedef struct tpl_seg {
    int ph;
    size_t off, len;
} tpl_seg;

struct cg_error_template {
    char *text;
    tpl_seg *segs;
    size_t nsegs;
    size_t page_max; /* NUL included */
};

/* The escaped form of n bytes is at most this long: '"' becomes &quot;,
 * plus the ellipsis of a cut value. */
static size_t escaped_max(size_t n) { return n * 6 + 3; }

static size_t text_len(const char *s, size_t max)
{
    page_out o = { 0 };
    put_text(&o, s, max);
    return o.len;
}

/* The longest a placeholder's value can be once escaped. */
static size_t placeholder_max(int ph)
{
    size_t m = 0;
    switch (ph) {
    case PH_STATUS: return 16; /* cg_refusal_status_text's bound */
    case PH_REQUEST_ID: return escaped_max(REQUEST_ID_MAX);
    case PH_SUPPORT: return escaped_max(CG_ERROR_SUPPORT_MAX);
    case PH_OPERATOR_DETAIL: return escaped_max(sizeof((cg_refusal *)0)->detail);
    case PH_CA_NAMES: /* the list markup, every name at its longest, "and N more" */
        return 64 + CG_ERROR_PAGE_MAX_CAS * (sizeof "<li></li>\n" + escaped_max(CG_ERROR_PAGE_CA_NAME_MAX)) + 64;
    default: break;
    }
    /* The fixed words: the longest of any kind, the unknown one included. */
    for (int k = 0; k <= CG_REFUSE_KIND_COUNT; k++) {
        const cg_refusal_words *w = cg_refusal_user((cg_refusal_kind)k);
        const char *s = ph == PH_TITLE ? w->title : ph == PH_WHAT ? w->what : ph == PH_TODO ? w->todo
                                                                                  : cg_refusal_code((cg_refusal_kind)k);
        size_t n = text_len(s ? s : "", SIZE_MAX);
        if (n > m)
            m = n;
    }
    return m;
}

/* Line and column (in characters) of byte off of text, both 1-based. */
static void text_pos(const char *text, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
 * no overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80;
        c &= 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800;
        c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return len;
}

/* Problems reported per template, at most: a broken file gets a few
 * precise lines, not thousands. */
#define TEMPLATE_ERRORS_MAX 10

static void tpl_error(cg_diag *diag, const char *name, const char *text, size_t off, size_t *nerr,
                      const char *msg)
{
    int line, col;
    if (++*nerr > TEMPLATE_ERRORS_MAX)
        return;
    text_pos(text, off, &line, &col);
    cg_diag_add(diag, CG_DIAG_ERROR, name, line, col, "%s", msg);
}

static int placeholder_id(const char *s, size_t n)
{
    for (int i = 0; i < PH_COUNT; i++)
        if (strlen(cg_error_template_placeholders[i]) == n && memcmp(cg_error_template_placeholders[i], s, n) == 0)
            return i;
    return -1;
}

static bool add_seg(cg_error_template *t, size_t *cap, int ph, size_t off, size_t len)
{
    if (ph < 0 && len == 0)
        return true;
    if (!cg_vec_reserve(t->segs, *cap, t->nsegs + 1, 16))
        return false;
    t->segs[t->nsegs++] = (tpl_seg){ .ph = ph, .off = off, .len = len };
    return true;
}

cg_error_template *cg_error_template_parse(const char *text, size_t len, const char *name, cg_diag *diag)
{
    size_t nerr = 0;
    if (len > CG_ERROR_TEMPLATE_FILE_MAX) {
        cg_diag_add(diag, CG_DIAG_ERROR, name, 0, 0, "the template is %zu bytes (expected at most %u)", len,
                    CG_ERROR_TEMPLATE_FILE_MAX);
        return NULL;
    }
    for (size_t i = 0; i < len;) {
        size_t k = text[i] ? utf8_seq((const unsigned char *)text + i, len - i) : 0;
        if (!k) {
            tpl_error(diag, name, text, i, &nerr,
                      text[i] ? "this byte is not valid UTF-8 (save the template as UTF-8)"
                              : "a NUL byte (expected HTML text)");
            return NULL; /* positions after it would mean little */
        }
        i += k;
    }

    cg_error_template *t = calloc(1, sizeof *t);
    if (!t || !(t->text = malloc(len + 1))) {
        free(t);
        cg_diag_add(diag, CG_DIAG_ERROR, name, 0, 0, "out of memory while loading the template");
        return NULL;
    }
    memcpy(t->text, text, len);
    t->text[len] = '\0';

    size_t cap = 0, lit = 0, total = 1;
    bool oom = false, too_big = false;
    char names[256] = "";
    for (int i = 0; i < PH_COUNT; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s{{%s}}", i ? ", " : "",
                 cg_error_template_placeholders[i]);
    for (size_t i = 0; i + 1 < len;) {
        if (text[i] != '{' || text[i + 1] != '{') {
            i++;
            continue;
        }
        /* "{{", optional spaces, a name, optional spaces, "}}", on one line. */
        size_t a = i + 2;
        while (a < len && text[a] == ' ')
            a++;
        size_t b = a;
        while (b < len && ((text[b] >= 'a' && text[b] <= 'z') || (text[b] >= 'A' && text[b] <= 'Z') ||
                           (text[b] >= '0' && text[b] <= '9') || text[b] == '_' || text[b] == '-' || text[b] == '.'))
            b++;
        size_t e = b;
        while (e < len && text[e] == ' ')
            e++;
        if (e + 1 >= len || text[e] != '}' || text[e + 1] != '}') {
            tpl_error(diag, name, text, i, &nerr,
                      "\"{{\" does not start a placeholder such as {{title}} (to show two braces, write "
                      "&#123;&#123;)");
            i += 2;
            continue;
        }
        int ph = placeholder_id(text + a, b - a);
        if (ph < 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "unknown placeholder {{%.*s}} (expected one of %s)",
                     (int)(b - a > 60 ? 60 : b - a), text + a, names);
            tpl_error(diag, name, text, i, &nerr, msg);
        } else {
            total += (i - lit) + placeholder_max(ph);
            if (total > CG_ERROR_TEMPLATE_PAGE_MAX && !too_big) {
                too_big = true;
                char msg[256];
                snprintf(msg, sizeof msg, "with this placeholder the page can reach more than %u bytes (its text "
                         "plus each placeholder at its longest value): use fewer placeholders, {{ca_names}} and "
                         "{{operator_detail}} above all", CG_ERROR_TEMPLATE_PAGE_MAX);
                tpl_error(diag, name, text, i, &nerr, msg);
            }
            oom |= !add_seg(t, &cap, -1, lit, i - lit) || !add_seg(t, &cap, ph, 0, 0);
            lit = e + 2;
        }
        i = e + 2;
    }
    total += len - lit;
    oom |= !add_seg(t, &cap, -1, lit, len - lit);
    if (oom)
        cg_diag_add(diag, CG_DIAG_ERROR, name, 0, 0, "out of memory while loading the template");
    if (nerr > TEMPLATE_ERRORS_MAX)
        cg_diag_add(diag, CG_DIAG_ERROR, name, 0, 0, "%zu more problems in the template",
                    nerr - TEMPLATE_ERRORS_MAX);
    if (nerr || oom) {
        cg_error_template_free(t);
        return NULL;
    }
    t->page_max = total;
    return t;
}

cg_error_template *cg_error_template_load(const char *path, cg_diag *diag, char *why, size_t cap)
{
    why[0] = '\0';
    /* Only a regular file: a FIFO put there must not hang the load. */
    cg_file_error fe;
    size_t n = 0;
    char *buf = (char *)cg_file_read(path, CG_ERROR_TEMPLATE_FILE_MAX, CG_FILE_REGULAR, &n, &fe);
    switch (buf ? CG_FILE_OK : fe.fail) {
    case CG_FILE_OK:
        if (n == 0)
            snprintf(why, cap, "%s is empty (expected an HTML page)", path);
        break;
    case CG_FILE_OPEN: snprintf(why, cap, "cannot open %s: %s", path, strerror(fe.err)); break;
    case CG_FILE_STAT:
    case CG_FILE_READ: snprintf(why, cap, "cannot read %s: %s", path, strerror(fe.err)); break;
    case CG_FILE_NOT_REGULAR: snprintf(why, cap, "%s is not a regular file", path); break;
    case CG_FILE_TOO_LARGE:
        snprintf(why, cap, "%s is %llu bytes (expected at most %u)", path, (unsigned long long)fe.size,
                 CG_ERROR_TEMPLATE_FILE_MAX);
        break;
    case CG_FILE_OVER_MAX: snprintf(why, cap, "%s is over %u bytes", path, CG_ERROR_TEMPLATE_FILE_MAX); break;
    case CG_FILE_NOMEM: snprintf(why, cap, "out of memory reading %s", path); break;
    }
    cg_error_template *t = NULL;
    if (!why[0])
        t = cg_error_template_parse(buf, n, path, diag);
    free(buf);
    return t;
}

void cg_error_template_free(cg_error_template *t)
{
    if (!t)
        return;
    free(t->segs);
    free(t->text);
    free(t);
}

size_t cg_error_template_page_max(const cg_error_template *t) { return t->page_max; }

static void put_placeholder(page_out *o, int ph, const cg_page_values *v)
{
    const cg_refusal_words *w = cg_refusal_user(v->kind);
    char status[16];
    switch (ph) {
    case PH_STATUS: put(o, cg_refusal_status_text(v->kind, status, sizeof status)); break;
    case PH_TITLE: put_text(o, w->title, SIZE_MAX); break;
    case PH_WHAT: put_text(o, w->what, SIZE_MAX); break;
    case PH_TODO: put_text(o, w->todo, SIZE_MAX); break;
    case PH_REQUEST_ID:
        put_text(o, v->request_id && v->request_id[0] ? v->request_id : "-", REQUEST_ID_MAX);
        break;
    case PH_CODE: put_text(o, cg_refusal_code(v->kind), SIZE_MAX); break;
    case PH_SUPPORT:
        if (v->support)
            put_text(o, v->support, CG_ERROR_SUPPORT_MAX);
        break;
    case PH_CA_NAMES: /* the names of the handshake, on 403.7 only (as on the built-in page) */
        if (v->kind == CG_REFUSE_CERT_MISSING)
            put_ca_list(o, v, v->nca_names < CG_ERROR_PAGE_MAX_CAS ? v->nca_names : CG_ERROR_PAGE_MAX_CAS);
        break;
    case PH_OPERATOR_DETAIL: /* set by the caller only for operators */
        if (v->operator_detail)
            put_text(o, v->operator_detail, sizeof((cg_refusal *)0)->detail);
        break;
    default: break;
    }
}

size_t cg_error_template_render(const cg_error_template *t, const cg_page_values *v, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    out[0] = '\0';
    if (cap < t->page_max)
        return 0;
    page_out o = { .p = out, .cap = cap };
    for (size_t i = 0; i < t->nsegs; i++) {
        const tpl_seg *sg = &t->segs[i];
        if (sg->ph < 0)
            put_n(&o, t->text + sg->off, sg->len);
        else
            put_placeholder(&o, sg->ph, v);
    }
    if (o.len >= cap) { /* cannot happen: page_max is every value at its longest */
        out[0] = '\0';
        return 0;
    }
    out[o.len] = '\0';
    return o.len;
}

/* "403.7" -> 403, 7; "403" -> 403, 0. false for anything else. */
static bool parse_status_key(const char *key, int *status, int *sub)
{
    if (!(key[0] >= '1' && key[0] <= '5') || !(key[1] >= '0' && key[1] <= '9') || !(key[2] >= '0' && key[2] <= '9'))
        return false;
    *status = (key[0] - '0') * 100 + (key[1] - '0') * 10 + (key[2] - '0');
    *sub = 0;
    if (!key[3])
        return true;
    if (key[3] != '.' || !(key[4] >= '1' && key[4] <= '9'))
        return false;
    int s = 0;
    const char *p = key + 4;
    for (; *p >= '0' && *p <= '9' && p - key < 7; p++)
        s = s * 10 + (*p - '0');
    *sub = s;
    return *p == '\0';
}

int cg_error_template_match(const char *key, cg_refusal_kind k)
{
    if (strcmp(key, "default") == 0)
        return 1;
    int status, sub;
    if (!parse_status_key(key, &status, &sub))
        return -1;
    if (status != cg_refusal_status(k))
        return 0;
    if (!sub)
        return 2;
    return sub == cg_refusal_substatus(k) ? 3 : 0;
}
