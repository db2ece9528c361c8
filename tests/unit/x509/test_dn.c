/* The distinguished-name renderer (dn.h): RFC 4514 text, decoded string
 * types, escapes, order, any length. Names are built here as DER from a
 * small description, so every case says exactly which bytes it renders. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x509/dn.h"

/* ---- building DER Names ---- */

#define OID_CN     "\x55\x04\x03"
#define OID_O      "\x55\x04\x0A"
#define OID_OU     "\x55\x04\x0B"
#define OID_C      "\x55\x04\x06"
#define OID_DC     "\x09\x92\x26\x89\x93\xF2\x2C\x64\x01\x19"
#define OID_UID    "\x09\x92\x26\x89\x93\xF2\x2C\x64\x01\x01"
#define OID_EMAIL  "\x2A\x86\x48\x86\xF7\x0D\x01\x09\x01"
#define OID_1234   "\x2A\x03\x04"  /* 1.2.3.4 */

enum { UTF8 = 0x0C, PRINTABLE = 0x13, T61 = 0x14, IA5 = 0x16, UNIVERSAL = 0x1C, BMP = 0x1E, OCTETS = 0x04 };

typedef struct atv {
    const char *oid;   /* DER content; NULL ends the list */
    size_t oid_len;
    int tag;
    const char *val;
    size_t val_len;
    int rdn;           /* attributes with the same rdn number form one (multi-valued) RDN */
} atv;

#define A(oid, tag, val, rdn) { oid, sizeof(oid) - 1, tag, val, sizeof(val) - 1, rdn }

typedef struct der { unsigned char *p; size_t n, cap; } der;

static void put(der *d, const void *p, size_t n)
{
    if (d->n + n > d->cap) {
        d->cap = (d->n + n) * 2 + 64;
        d->p = realloc(d->p, d->cap);
        assert_non_null(d->p);
    }
    memcpy(d->p + d->n, p, n);
    d->n += n;
}

static void put_tlv(der *d, int tag, const void *p, size_t n)
{
    unsigned char h[6];
    size_t k = 0;
    h[k++] = (unsigned char)tag;
    if (n < 0x80) {
        h[k++] = (unsigned char)n;
    } else if (n < 0x100) {
        h[k++] = 0x81;
        h[k++] = (unsigned char)n;
    } else {
        h[k++] = 0x82;
        h[k++] = (unsigned char)(n >> 8);
        h[k++] = (unsigned char)n;
    }
    put(d, h, k);
    put(d, p, n);
}

/* The Name of the attributes a[0..n), in DER order. */
static der name_of(const atv *a, size_t n)
{
    der rdns = { 0 };
    for (size_t i = 0; i < n;) {
        der set = { 0 };
        size_t j = i;
        do {
            der seq = { 0 }, one = { 0 };
            put_tlv(&seq, 0x06, a[j].oid, a[j].oid_len);
            put_tlv(&seq, a[j].tag, a[j].val, a[j].val_len);
            put_tlv(&one, 0x30, seq.p, seq.n);
            put(&set, one.p, one.n);
            free(seq.p);
            free(one.p);
            j++;
        } while (j < n && a[j].rdn == a[i].rdn);
        put_tlv(&rdns, 0x31, set.p, set.n);
        free(set.p);
        i = j;
    }
    der name = { 0 };
    put_tlv(&name, 0x30, rdns.p ? (const void *)rdns.p : "", rdns.n);
    free(rdns.p);
    return name;
}

static char *render(const atv *a, size_t n, unsigned flags)
{
    der d = name_of(a, n);
    char *s = cg_dn_text(d.p, d.n, flags);
    assert_non_null(s);
    free(d.p);
    return s;
}

/* ---- the table ---- */

typedef struct dn_case {
    const char *what;
    atv attrs[4];
    size_t n;
    const char *utf8;   /* expected text (logs, explain) */
    const char *ascii;  /* expected with CG_DN_ASCII (headers); NULL: the same as utf8 */
} dn_case;

static const dn_case cases[] = {
    { "plain, RFC 4514 order (reverse of DER)",
      { A(OID_C, PRINTABLE, "US", 0), A(OID_O, UTF8, "Example", 1), A(OID_CN, UTF8, "alice", 2) }, 3,
      "CN=alice,O=Example,C=US", NULL },
    { "UTF8String kept as UTF-8; ASCII form escapes its bytes",
      { A(OID_CN, UTF8, "J\xC3\xB6rg M\xC3\xBCller", 0) }, 1,
      "CN=J\xC3\xB6rg M\xC3\xBCller", "CN=J\\C3\\B6rg M\\C3\\BCller" },
    { "a different name renders differently",
      { A(OID_CN, UTF8, "J\xC3\xBCrg M\xC3\xB8ller", 0) }, 1,
      "CN=J\xC3\xBCrg M\xC3\xB8ller", "CN=J\\C3\\BCrg M\\C3\\B8ller" },
    { "BMPString decodes to the same text as the UTF8String",
      { A(OID_CN, BMP, "\0J\0\xF6\0r\0g\0 \0M\0\xFC\0l\0l\0e\0r", 0) }, 1,
      "CN=J\xC3\xB6rg M\xC3\xBCller", "CN=J\\C3\\B6rg M\\C3\\BCller" },
    { "UniversalString (UCS-4), outside the BMP",
      { A(OID_CN, UNIVERSAL, "\0\0\0a\0\x01\xF6\x00", 0) }, 1, "CN=a\xF0\x9F\x98\x80", "CN=a\\F0\\9F\\98\\80" },
    { "NUL is escaped, not dropped and not '?'",
      { A(OID_CN, UTF8, "a\0b", 0) }, 1, "CN=a\\00b", NULL },
    { "NUL in a BMPString", { A(OID_CN, BMP, "\0a\0\0", 0) }, 1, "CN=a\\00", NULL },
    { "leading space", { A(OID_CN, UTF8, " alice", 0) }, 1, "CN=\\ alice", NULL },
    { "trailing space", { A(OID_CN, UTF8, "alice ", 0) }, 1, "CN=alice\\ ", NULL },
    { "a single space", { A(OID_CN, UTF8, " ", 0) }, 1, "CN=\\ ", NULL },
    { "inner spaces stay", { A(OID_CN, UTF8, "a  b", 0) }, 1, "CN=a  b", NULL },
    { "leading #, inner # stays", { A(OID_CN, UTF8, "#1#", 0) }, 1, "CN=\\#1#", NULL },
    { "RFC 4514 specials and '='",
      { A(OID_CN, UTF8, "a,b+c\"d\\e<f>g;h=i", 0) }, 1, "CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\=i", NULL },
    { "CR LF and TAB cannot start a header or a log line",
      { A(OID_CN, UTF8, "x\r\nX-Evil: 1\t", 0) }, 1, "CN=x\\0D\\0AX-Evil: 1\\09", NULL },
    { "DEL, C1 control and a bidi override are escaped in both forms",
      { A(OID_CN, UTF8, "a\x7F" "b\xC2\x85" "c\xE2\x80\xAE" "d", 0) }, 1,
      "CN=a\\7Fb\\C2\\85c\\E2\\80\\AEd", NULL },
    { "control characters in a PrintableString", { A(OID_CN, PRINTABLE, "a\x01", 0) }, 1, "CN=a\\01", NULL },
    { "invalid UTF-8 in a UTF8String: the whole value as #hex",
      { A(OID_CN, UTF8, "J\xF6rg", 0) }, 1, "CN=#0c044af67267", NULL },
    { "overlong UTF-8 is invalid", { A(OID_CN, UTF8, "\xC0\xAF", 0) }, 1, "CN=#0c02c0af", NULL },
    { "UTF-8 surrogate is invalid", { A(OID_CN, UTF8, "\xED\xA0\x80", 0) }, 1, "CN=#0c03eda080", NULL },
    { "non-ASCII PrintableString", { A(OID_CN, PRINTABLE, "caf\xE9", 0) }, 1, "CN=#1304636166e9", NULL },
    { "non-ASCII IA5String", { A(OID_CN, IA5, "\xFF", 0) }, 1, "CN=#1601ff", NULL },
    { "TeletexString, ASCII: text", { A(OID_CN, T61, "bob", 0) }, 1, "CN=bob", NULL },
    { "TeletexString, not ASCII: #hex, never a guessed charset",
      { A(OID_CN, T61, "J\xF6rg", 0) }, 1, "CN=#14044af67267", NULL },
    { "BMPString of odd length", { A(OID_CN, BMP, "\0a\0", 0) }, 1, "CN=#1e030061" "00", NULL },
    { "BMPString with a surrogate", { A(OID_CN, BMP, "\xD8\x3D\xDE\x00", 0) }, 1, "CN=#1e04d83dde00", NULL },
    { "a value that is not a string", { A(OID_CN, OCTETS, "\x01\x02", 0) }, 1, "CN=#04020102", NULL },
    { "multi-valued RDN, DER order inside it",
      { A(OID_C, PRINTABLE, "US", 0), A(OID_OU, UTF8, "Sales", 1), A(OID_CN, UTF8, "bob", 1) }, 3,
      "OU=Sales+CN=bob,C=US", NULL },
    { "unknown attribute type as a dotted OID", { A(OID_1234, UTF8, "x", 0) }, 1, "1.2.3.4=x", NULL },
    { "an arc past 64 bits (2.25.UUID)",
      { A("\x69\x82\x80\x80\x80\x80\x80\x80\x80\x80\x00", UTF8, "u", 0) }, 1, "2.25.18446744073709551616=u",
      NULL },
    { "names of the usual types",
      { A(OID_DC, IA5, "example", 0), A(OID_UID, UTF8, "u1", 1), A(OID_EMAIL, IA5, "a@example.test", 2) }, 3,
      "emailAddress=a@example.test,UID=u1,DC=example", NULL },
    { "a character whose low byte is a special one (U+012C, U+0100) is not escaped",
      { A(OID_CN, BMP, "\x01\x2C\x01\x00", 0) }, 1, "CN=\xC4\xAC\xC4\x80", "CN=\\C4\\AC\\C4\\80" },
    { "empty value", { A(OID_CN, UTF8, "", 0) }, 1, "CN=", NULL },
    { "empty name", { { 0 } }, 0, "", NULL },
};

static void renders_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const dn_case *c = &cases[i];
        char *u = render(c->attrs, c->n, 0), *a = render(c->attrs, c->n, CG_DN_ASCII);
        const char *ea = c->ascii ? c->ascii : c->utf8;
        if (strcmp(u, c->utf8) != 0 || strcmp(a, ea) != 0)
            fail_msg("%s:\n  got   \"%s\" / \"%s\"\n  want  \"%s\" / \"%s\"", c->what, u, a, c->utf8, ea);
        for (const char *p = a; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7F); /* the header form is printable ASCII */
        free(u);
        free(a);
    }
}

static void different_names_never_render_the_same(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t j = i + 1; j < sizeof cases / sizeof cases[0]; j++) {
            der x = name_of(cases[i].attrs, cases[i].n), y = name_of(cases[j].attrs, cases[j].n);
            bool same_der = x.n == y.n && memcmp(x.p, y.p, x.n) == 0;
            char *a = cg_dn_text(x.p, x.n, CG_DN_ASCII), *b = cg_dn_text(y.p, y.n, CG_DN_ASCII);
            /* Equal text only for equal decoded values (UTF8String vs BMPString). */
            if (!same_der && !strcmp(a, b))
                assert_string_equal(a, "CN=J\\C3\\B6rg M\\C3\\BCller");
            free(a);
            free(b);
            free(x.p);
            free(y.p);
        }
}

static void long_names_render_whole(void **state)
{
    (void)state;
    char val[2000];
    memset(val, 'a', sizeof val);
    val[0] = ' ';
    atv a[] = { { OID_CN, 3, UTF8, val, sizeof val, 0 }, A(OID_O, UTF8, "x", 1) };
    der d = name_of(a, 2);
    assert_true(d.n > 2000);
    size_t n = cg_dn_format(d.p, d.n, 0, NULL, 0);
    assert_int_equal(n, strlen("O=x,CN=\\ ") + 1999);
    char *s = cg_dn_text(d.p, d.n, 0);
    assert_int_equal(strlen(s), n);
    assert_memory_equal(s, "O=x,CN=\\ aaa", 12);
    /* a bounded copy is cut between characters and says so */
    char small[32];
    cg_dn_text_into(d.p, d.n, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_string_equal(small + sizeof small - 4, "...");
    assert_memory_equal(small, s, sizeof small - 4);
    free(s);
    free(d.p);
}

/* cg_dn_text formats once into a 512-byte buffer and again only for longer
 * texts: every length around that edge comes out whole and the same as
 * cg_dn_format's. */
static void text_lengths_around_the_first_pass(void **state)
{
    (void)state;
    char val[600];
    memset(val, 'b', sizeof val);
    for (size_t vlen = 495; vlen <= 515; vlen++) {
        atv a[] = { { OID_CN, 3, UTF8, val, vlen, 0 } };
        der d = name_of(a, 1);
        size_t n = cg_dn_format(d.p, d.n, 0, NULL, 0);
        assert_int_equal(n, 3 + vlen); /* "CN=" */
        char *whole = malloc(n + 1);
        assert_non_null(whole);
        assert_int_equal(cg_dn_format(d.p, d.n, 0, whole, n + 1), n);
        char *s = cg_dn_text(d.p, d.n, 0);
        assert_non_null(s);
        assert_int_equal(strlen(s), n);
        assert_string_equal(s, whole);
        free(s);
        free(whole);
        free(d.p);
    }
}

static void many_rdns_come_out_reversed(void **state)
{
    (void)state;
    /* more RDNs than the renderer takes in one block */
    enum { N = 150 };
    atv a[N];
    char vals[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i);
        a[i] = (atv){ OID_CN, 3, UTF8, vals[i], strlen(vals[i]), i };
    }
    char *s = render(a, N, 0);
    char want[N * 10] = "", part[16];
    for (int i = N - 1; i >= 0; i--) {
        snprintf(part, sizeof part, "%sCN=%d", i == N - 1 ? "" : ",", i);
        strcat(want, part);
    }
    assert_string_equal(s, want);
    free(s);
}

static void cut_output_is_a_prefix_of_whole_pieces(void **state)
{
    (void)state;
    atv a[] = { A(OID_CN, UTF8, "J\xC3\xB6rg \x01 M\xC3\xBCller", 0) };
    der d = name_of(a, 1);
    char full[128];
    size_t n = cg_dn_format(d.p, d.n, CG_DN_ASCII, full, sizeof full);
    assert_int_equal(n, strlen(full));
    for (size_t cap = 1; cap <= n + 1; cap++) {
        char buf[128];
        memset(buf, 'Z', sizeof buf);
        assert_int_equal(cg_dn_format(d.p, d.n, CG_DN_ASCII, buf, cap), n);
        size_t k = strlen(buf);
        assert_true(k < cap);
        assert_memory_equal(buf, full, k);
        assert_true(buf[k + 1] == 'Z' || k + 1 >= cap); /* nothing written past the NUL */
        /* never half an escape */
        if (k > 0)
            assert_true(buf[k - 1] != '\\' && (k < 2 || buf[k - 2] != '\\'));
    }
    free(d.p);
}

static void malformed_input_is_refused(void **state)
{
    (void)state;
    static const struct { const char *der; size_t n; } bad[] = {
        { "", 0 },
        { "\x30", 1 },
        { "\x30\x05\x31\x03", 4 },                                  /* length past the end */
        { "\x31\x00", 2 },                                          /* not a SEQUENCE */
        { "\x30\x00\x00", 3 },                                      /* trailing byte */
        { "\x30\x02\x31\x00", 4 },                                  /* empty RDN */
        { "\x30\x07\x31\x05\x30\x03\x06\x01\x55", 9 },              /* no value */
        { "\x30\x09\x31\x07\x30\x05\x06\x00\x0C\x01x", 11 },        /* empty OID */
        { "\x30\x0A\x31\x08\x30\x06\x06\x01\x85\x0C\x01x", 12 },     /* OID cut in an arc */
        { "\x30\x0A\x31\x08\x30\x06\x06\x01\x80\x0C\x01x", 12 },     /* OID not minimal */
        { "\x30\x80\x00\x00", 4 },                                  /* indefinite length */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[64] = "x";
        assert_int_equal(cg_dn_format((const unsigned char *)bad[i].der, bad[i].n, 0, out, sizeof out),
                         CG_DN_MALFORMED);
        assert_string_equal(out, "");
        char *s = cg_dn_text((const unsigned char *)bad[i].der, bad[i].n, 0);
        assert_string_equal(s, "(malformed name)");
        free(s);
    }
}

static void values_decode_for_the_mapper(void **state)
{
    (void)state;
    char out[64];
    size_t n = 0, at = 0;
    assert_int_equal(cg_dn_value_decode(BMP, (const unsigned char *)"\0J\0\xF6", 4, out, sizeof out, &n, &at),
                     CG_DN_VALUE_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "J\xC3\xB6", 3);
    assert_int_equal(cg_dn_value_decode(UTF8, (const unsigned char *)"ab\xFF", 3, out, sizeof out, &n, &at),
                     CG_DN_VALUE_UTF8);
    assert_int_equal(at, 2);
    assert_int_equal(cg_dn_value_decode(T61, (const unsigned char *)"\xE9", 1, out, sizeof out, &n, &at),
                     CG_DN_VALUE_CHARSET);
    assert_int_equal(cg_dn_value_decode(OCTETS, (const unsigned char *)"x", 1, out, sizeof out, &n, &at),
                     CG_DN_VALUE_NOT_STRING);
    assert_int_equal(cg_dn_value_decode(UTF8, (const unsigned char *)"abcd", 4, out, 3, &n, &at),
                     CG_DN_VALUE_ROOM);
    char oid[64];
    assert_true(cg_dn_oid_dotted((const unsigned char *)OID_EMAIL, 9, oid, sizeof oid));
    assert_string_equal(oid, "1.2.840.113549.1.9.1");
    assert_false(cg_dn_oid_dotted((const unsigned char *)OID_EMAIL, 9, oid, 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_the_table),
        cmocka_unit_test(different_names_never_render_the_same),
        cmocka_unit_test(long_names_render_whole),
        cmocka_unit_test(many_rdns_come_out_reversed),
        cmocka_unit_test(text_lengths_around_the_first_pass),
        cmocka_unit_test(cut_output_is_a_prefix_of_whole_pieces),
        cmocka_unit_test(malformed_input_is_refused),
        cmocka_unit_test(values_decode_for_the_mapper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
