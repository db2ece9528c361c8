/* The certificate as the mapping rules see it (cert_view.h).
 *
 * Safety rests on one rule: certificate fields are compared as the text
 * their DER values decode to, never as mbedtls_x509_dn_gets() prints them
 * (it replaces bytes with '?' and stops at NUL).
 */
#include "cert_view.h"

#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>

#include "x509/x509.h"
#include "mapping_text.h"

bool cg_mapping_text_ok(const char *s, size_t len)
{
    size_t at;
    return text_problem(s, len, &at) == NULL;
}

/* ======================================================================
 * Certificate fields
 * ====================================================================== */

const char *const cg_field_names[N_FIELDS] = { "subject", "issuer", "san" };
static const char *const dn_sub_names[N_DN_SUBS] = { "CN", "O", "OU", "L", "ST", "C", "DC", "UID",
                                                     "emailAddress", "serialNumber" };
static const char *const san_sub_names[N_SAN_SUBS] = { "upn", "email", "dns", "uri" };

int cg_slot_of(int field, int sub)
{
    return field == FIELD_SAN ? 2 * N_DN_SUBS + sub : field * N_DN_SUBS + sub;
}

static int slot_field(int slot) { return slot >= 2 * N_DN_SUBS ? FIELD_SAN : slot / N_DN_SUBS; }

static const char *slot_sub_name(int slot)
{
    return slot >= 2 * N_DN_SUBS ? san_sub_names[slot - 2 * N_DN_SUBS] : dn_sub_names[slot % N_DN_SUBS];
}

/* "subject.CN" */
const char *cg_slot_name(int slot, char *buf, size_t cap)
{
    cg_fmt_into(buf, cap, "%s.%s", cg_field_names[slot_field(slot)], slot_sub_name(slot));
    return buf;
}

/* Looks a sub-field name up for a field: ASCII case-insensitive, with the
 * aliases Windows uses (S for ST, E for emailAddress). -1 if unknown. */
int cg_sub_by_name(int field, const char *s, size_t n)
{
    if (field == FIELD_SAN) {
        for (int i = 0; i < N_SAN_SUBS; i++)
            if (cg_ascii_ieq_str(s, n, san_sub_names[i]))
                return i;
        return -1;
    }
    const cg_attr_type *t = cg_attr_by_name(s, n);
    return t ? t->sub : -1;
}

int cg_field_by_name(const char *s, size_t n)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (cg_ascii_ieq_str(s, n, cg_field_names[i]))
            return i;
    return -1;
}

const char *cg_mapping_sub_field(const char *field, const char *sub)
{
    int f = cg_field_by_name(field, strlen(field));
    int k = f < 0 ? -1 : cg_sub_by_name(f, sub, strlen(sub));
    return k < 0 ? NULL : f == FIELD_SAN ? san_sub_names[k] : dn_sub_names[k];
}

#define OID_UID "\x09\x92\x26\x89\x93\xF2\x2C\x64\x01\x01" /* 0.9.2342.19200300.100.1.1 */
#define OID_STREET "\x55\x04\x09"                           /* 2.5.4.9 */
#define ATTR(name, canon, oid, sub) { name, canon, oid, sizeof(oid) - 1, sub }

const cg_attr_type cg_attr_types[] = {
    ATTR("CN", "CN", MBEDTLS_OID_AT_CN, SUB_CN),
    ATTR("O", "O", MBEDTLS_OID_AT_ORGANIZATION, SUB_O),
    ATTR("OU", "OU", MBEDTLS_OID_AT_ORG_UNIT, SUB_OU),
    ATTR("L", "L", MBEDTLS_OID_AT_LOCALITY, SUB_L),
    ATTR("ST", "ST", MBEDTLS_OID_AT_STATE, SUB_ST),
    ATTR("C", "C", MBEDTLS_OID_AT_COUNTRY, SUB_C),
    ATTR("DC", "DC", MBEDTLS_OID_DOMAIN_COMPONENT, SUB_DC),
    ATTR("UID", "UID", OID_UID, SUB_UID),
    ATTR("emailAddress", "EMAILADDRESS", MBEDTLS_OID_PKCS9_EMAIL, SUB_EMAIL),
    ATTR("serialNumber", "SERIALNUMBER", MBEDTLS_OID_AT_SERIAL_NUMBER, SUB_SERIALNUMBER),
    ATTR("STREET", "STREET", OID_STREET, -1),
    ATTR("SN", "SN", MBEDTLS_OID_AT_SUR_NAME, -1),
    ATTR("GN", "GN", MBEDTLS_OID_AT_GIVEN_NAME, -1),
    ATTR("title", "TITLE", MBEDTLS_OID_AT_TITLE, -1),
    ATTR("initials", "INITIALS", MBEDTLS_OID_AT_INITIALS, -1),
    ATTR("generationQualifier", "GENERATIONQUALIFIER", MBEDTLS_OID_AT_GENERATION_QUALIFIER, -1),
    ATTR("dnQualifier", "DNQUALIFIER", MBEDTLS_OID_AT_DN_QUALIFIER, -1),
    ATTR("pseudonym", "PSEUDONYM", MBEDTLS_OID_AT_PSEUDONYM, -1),
    ATTR("postalCode", "POSTALCODE", MBEDTLS_OID_AT_POSTAL_CODE, -1),
};
const size_t cg_attr_type_count = sizeof cg_attr_types / sizeof cg_attr_types[0];

/* Other spellings accepted in DN text and rule sub-fields: the long names,
 * and Windows' S and E (what IIS and certutil show). */
static const struct { const char *alias; const char *name; } attr_aliases[] = {
    { "commonName", "CN" }, { "organizationName", "O" }, { "organizationalUnitName", "OU" },
    { "localityName", "L" }, { "stateOrProvinceName", "ST" }, { "S", "ST" },
    { "countryName", "C" }, { "domainComponent", "DC" }, { "userId", "UID" },
    { "E", "emailAddress" }, { "surname", "SN" }, { "givenName", "GN" },
    { "streetAddress", "STREET" },
};

const cg_attr_type *cg_attr_by_oid(const unsigned char *oid, size_t len)
{
    for (size_t i = 0; i < cg_attr_type_count; i++)
        if (cg_attr_types[i].oid_len == len && memcmp(cg_attr_types[i].oid, oid, len) == 0)
            return &cg_attr_types[i];
    return NULL;
}

/* By name or alias, ASCII case-insensitively (attribute type names are). */
const cg_attr_type *cg_attr_by_name(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof attr_aliases / sizeof attr_aliases[0]; i++)
        if (cg_ascii_ieq_str(s, len, attr_aliases[i].alias)) {
            s = attr_aliases[i].name;
            len = strlen(s);
            break;
        }
    for (size_t i = 0; i < cg_attr_type_count; i++)
        if (cg_ascii_ieq_str(s, len, cg_attr_types[i].name))
            return &cg_attr_types[i];
    return NULL;
}

/* ---- decoding attribute values ---- */

void cg_vproblem_text(cg_vproblem p, uint32_t detail, char *out, size_t cap)
{
    switch (p) {
    case VP_OK: cg_fmt_into(out, cap, "is valid"); break;
    case VP_NUL: cg_fmt_into(out, cap, "contains a NUL character"); break;
    case VP_CONTROL: cg_fmt_into(out, cap, "contains the control character U+%04X", (unsigned)detail); break;
    case VP_UTF8: cg_fmt_into(out, cap, "is not valid UTF-8 (byte %u)", (unsigned)detail); break;
    case VP_CHARSET:
        cg_fmt_into(out, cap, "has a character its ASN.1 string type (tag 0x%02x) does not allow",
                 (unsigned)detail);
        break;
    case VP_NOT_STRING:
        cg_fmt_into(out, cap, "is not a character string (ASN.1 tag 0x%02x)", (unsigned)detail);
        break;
    case VP_ROOM: cg_fmt_into(out, cap, "does not fit in certgate's bounds (names over 8 KiB)"); break;
    case VP_MALFORMED: cg_fmt_into(out, cap, "is malformed DER"); break;
    }
}

/* Checks decoded UTF-8 for control characters. */
static cg_vproblem check_decoded(const char *s, size_t len, uint32_t *detail)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = cg_utf8_next(p + i, len - i, &cp);
        if (k == 0) {
            *detail = (uint32_t)i;
            return VP_UTF8;
        }
        if (cp == 0)
            return VP_NUL;
        if (is_control(cp)) {
            *detail = cp;
            return VP_CONTROL;
        }
        i += k;
    }
    return VP_OK;
}

/* A DER character string -> UTF-8 in out, checked: decoded by dn.c (the
 * same decoding the displayed names use), then refused when it holds a
 * control character. TeletexString counts only when it is ASCII: its other
 * bytes mean different characters to different software, and a field
 * must mean one thing. */
static cg_vproblem decode_string(int tag, const unsigned char *p, size_t len, char *out, size_t cap,
                                 size_t *olen, uint32_t *detail)
{
    size_t at = 0;
    switch (cg_dn_value_decode(tag, p, len, out, cap, olen, &at)) {
    case CG_DN_VALUE_OK: break;
    case CG_DN_VALUE_UTF8: *detail = (uint32_t)at; return VP_UTF8;
    case CG_DN_VALUE_CHARSET: *detail = (uint32_t)tag; return VP_CHARSET;
    case CG_DN_VALUE_NOT_STRING: *detail = (uint32_t)tag; return VP_NOT_STRING;
    case CG_DN_VALUE_ROOM: return VP_ROOM;
    }
    return check_decoded(out, *olen, detail);
}

/* ---- the certificate as the mapper sees it ---- */

static void view_taint_all(cg_view *v)
{
    v->overflow = true;
    v->tainted = (1u << N_SLOTS) - 1;
}

/* Records one value (already decoded or with its problem). */
static cg_value *view_add(cg_view *v, int field, int slot)
{
    if (v->n >= CG_VIEW_MAX_VALUES) {
        view_taint_all(v);
        return NULL;
    }
    cg_value *x = &v->v[v->n];
    memset(x, 0, sizeof *x);
    x->field = (uint8_t)field;
    x->slot = (uint8_t)slot;
    x->next = -1;
    if (slot != SLOT_OTHER) {
        /* Keep slot chains in certificate order: append at the tail. */
        if (v->first[slot] < 0) {
            v->first[slot] = (int16_t)v->n;
        } else {
            int16_t i = v->first[slot];
            while (v->v[i].next >= 0)
                i = v->v[i].next;
            v->v[i].next = (int16_t)v->n;
        }
        v->count[slot]++;
        v->present |= 1u << slot;
    }
    v->n++;
    return x;
}

static void view_decode_value(cg_view *v, cg_value *x, int tag, const unsigned char *p, size_t len)
{
    size_t olen = 0;
    uint32_t detail = 0;
    x->tag = (uint8_t)tag;
    x->raw = p;
    x->raw_len = len;
    cg_vproblem r = decode_string(tag, p, len, v->text + v->used, sizeof v->text - v->used, &olen,
                                  &detail);
    if (r == VP_OK && olen > UINT16_MAX)
        r = VP_ROOM;
    x->problem = (uint8_t)r;
    x->detail = detail;
    if (r == VP_OK) {
        x->s = v->text + v->used;
        x->len = (uint16_t)olen;
        v->used += olen;
    } else if (x->slot != SLOT_OTHER) {
        v->tainted |= 1u << x->slot;
    }
}

static void view_add_dn(cg_view *v, int field, const mbedtls_x509_name *name)
{
    v->dn_begin[field] = v->n;
    for (const mbedtls_x509_name *a = name; a && a->oid.p; a = a->next) {
        const cg_attr_type *t = cg_attr_by_oid(a->oid.p, a->oid.len);
        int slot = t && t->sub >= 0 ? cg_slot_of(field, t->sub) : SLOT_OTHER;
        cg_value *x = view_add(v, field, slot);
        if (!x)
            break;
        x->oid = a->oid.p;
        x->oid_len = a->oid.len;
        /* Whether the next attribute is of the same RDN: private in mbedTLS
         * 3.6, with no accessor. */
        x->rdn_more = a->MBEDTLS_PRIVATE(next_merged) != 0;
        view_decode_value(v, x, a->val.tag, a->val.p, a->val.len);
    }
    v->dn_end[field] = v->n;
}

/* ---- extensions: SAN and subject key identifier ---- */

#define OID_UPN "\x2B\x06\x01\x04\x01\x82\x37\x14\x02\x03" /* 1.3.6.1.4.1.311.20.2.3 */

/* otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY }, content
 * at p; records it when it is a UPN (a UTF8String). */
static bool view_add_other_name(cg_view *v, unsigned char *p, const unsigned char *end)
{
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_OID) != 0)
        return false;
    bool upn = len == sizeof OID_UPN - 1 && memcmp(p, OID_UPN, len) == 0;
    p += len;
    if (!upn)
        return true; /* other kinds of otherName are not mapped */
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED) != 0)
        return false;
    const unsigned char *vend = p + len;
    if (p >= vend)
        return false;
    int tag = *p;
    if (mbedtls_asn1_get_tag(&p, vend, &len, tag) != 0)
        return false;
    cg_value *x = view_add(v, FIELD_SAN, cg_slot_of(FIELD_SAN, SAN_UPN));
    if (x)
        view_decode_value(v, x, tag, p, len);
    return true;
}

/* GeneralNames in the SAN extension value. rfc822Name, dNSName and URI are
 * IA5Strings; their content is decoded as one. */
static bool view_add_san(cg_view *v, unsigned char *p, const unsigned char *end)
{
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
        p + len != end)
        return false;
    while (p < end) {
        int tag = *p;
        unsigned char *q = p + 1;
        if (mbedtls_asn1_get_len(&q, end, &len) != 0)
            return false;
        const unsigned char *next = q + len;
        int sub = -1;
        switch (tag) {
        case MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0:
            if (!view_add_other_name(v, q, next))
                return false;
            break;
        case MBEDTLS_ASN1_CONTEXT_SPECIFIC | 1: sub = SAN_EMAIL; break;
        case MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2: sub = SAN_DNS; break;
        case MBEDTLS_ASN1_CONTEXT_SPECIFIC | 6: sub = SAN_URI; break;
        default: break; /* IP addresses, directory names ...: not mapped */
        }
        if (sub >= 0) {
            cg_value *x = view_add(v, FIELD_SAN, cg_slot_of(FIELD_SAN, sub));
            if (x)
                view_decode_value(v, x, MBEDTLS_ASN1_IA5_STRING, q, len);
        }
        p = (unsigned char *)next;
    }
    return true;
}

/* SubjectKeyIdentifier ::= OCTET STRING, inside the extension's OCTET STRING. */
static bool view_set_ski(cg_view *v, unsigned char *p, const unsigned char *end)
{
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0 || len == 0 ||
        len > CG_SKI_MAX)
        return false;
    v->ski = p;
    v->ski_len = len;
    return true;
}

/* Walks the extensions (crt->v3_ext: the SEQUENCE OF Extension) for SAN
 * and SKI. mbedTLS 2.28 keeps only some SAN kinds and no SKI, so both are
 * read here from the DER. */
static void view_add_extensions(cg_view *v, const mbedtls_x509_crt *crt)
{
    unsigned char *p = crt->v3_ext.p;
    const unsigned char *end;
    size_t len;
    if (!p || crt->v3_ext.len == 0)
        return;
    end = p + crt->v3_ext.len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return;
    end = p + len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            return;
        const unsigned char *ext_end = p + len;
        mbedtls_x509_buf oid = { .tag = MBEDTLS_ASN1_OID };
        int critical = 0;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
            return;
        oid.p = p;
        p += oid.len;
        if (mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0 && p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN)
            return;
        if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0)
            return;
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
            if (!view_add_san(v, p, p + len)) {
                v->san_malformed = true;
                v->tainted |= ((1u << N_SAN_SUBS) - 1) << (2 * N_DN_SUBS);
            }
        } else if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER, &oid) == 0) {
            view_set_ski(v, p, p + len);
        }
        p = (unsigned char *)ext_end;
    }
}

void cg_view_init(cg_view *v, const mbedtls_x509_crt *crt)
{
    v->crt = crt;
    v->n = 0;
    v->used = 0;
    v->present = v->tainted = 0;
    v->overflow = v->san_malformed = false;
    v->ski = NULL;
    v->ski_len = 0;
    memset(&v->keys, 0, sizeof v->keys);
    for (int i = 0; i < N_SLOTS; i++) {
        v->first[i] = -1;
        v->count[i] = 0;
    }
    view_add_dn(v, FIELD_SUBJECT, &crt->subject);
    view_add_dn(v, FIELD_ISSUER, &crt->issuer);
    view_add_extensions(v, crt);
}

/* ---- distinguished names as text ---- */

/* The DN as RFC 4514 text (dn.h): the text the identity headers, the logs
 * and explain show, and what operators write in issuer: and subject: keys. */
void cg_view_dn_text(const cg_view *v, int field, cg_sb *b)
{
    const mbedtls_x509_buf *raw = field == FIELD_ISSUER ? &v->crt->issuer_raw : &v->crt->subject_raw;
    if (b->full)
        return;
    size_t room = b->cap - b->len;
    size_t n = cg_dn_format(raw->p, raw->len, 0, b->p + b->len, room);
    if (n == CG_DN_MALFORMED) {
        sb_puts(b, "(malformed name)");
    } else if (n >= room) {
        b->len += strlen(b->p + b->len); /* cut between characters */
        b->full = true;
    } else {
        b->len += n;
    }
}

void cg_mapping_cert_dn(const mbedtls_x509_crt *crt, bool issuer, char *out, size_t cap)
{
    static _Thread_local cg_view v; /* large: keep it off small stacks */
    cg_sb b;
    cg_view_init(&v, crt);
    sb_init(&b, out, cap);
    cg_view_dn_text(&v, issuer ? FIELD_ISSUER : FIELD_SUBJECT, &b);
}
