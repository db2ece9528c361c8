#include "cert_msg.h"

#include <stdlib.h>
#include <string.h>

#define REC_HANDSHAKE 22
#define HS_CLIENT_HELLO 1
#define HS_CERTIFICATE 11

void cg_cert_msg_free(cg_cert_msg *m)
{
    free(m->buf);
    m->buf = NULL;
    m->len = 0;
    m->state = CG_CERT_MSG_DONE;
}

static cg_cert_msg_state stop(cg_cert_msg *m)
{
    cg_cert_msg_free(m);
    return CG_CERT_MSG_DONE;
}

/* n bytes of handshake messages (the body of a handshake record). */
static cg_cert_msg_state messages(cg_cert_msg *m, const unsigned char *p, size_t n, size_t max_len)
{
    while (n > 0) {
        if (m->mhdr_have < sizeof m->mhdr) {
            m->mhdr[m->mhdr_have++] = *p++;
            n--;
            if (m->mhdr_have < sizeof m->mhdr)
                continue;
            size_t body = (size_t)m->mhdr[1] << 16 | (size_t)m->mhdr[2] << 8 | m->mhdr[3];
            if (m->mhdr[0] == HS_CERTIFICATE) {
                if (max_len < 4 || body > max_len - 4 || !(m->buf = malloc(4 + body)))
                    return stop(m);
                memcpy(m->buf, m->mhdr, 4);
                m->len = 4;
                m->collecting = 1;
            } else if (m->mhdr[0] != HS_CLIENT_HELLO) {
                return stop(m); /* no Certificate in this flight */
            }
            m->msg_left = body;
        } else {
            size_t k = n < m->msg_left ? n : m->msg_left;
            if (m->collecting) {
                memcpy(m->buf + m->len, p, k);
                m->len += k;
            }
            p += k;
            n -= k;
            m->msg_left -= k;
        }
        if (m->mhdr_have == sizeof m->mhdr && m->msg_left == 0) {
            if (m->collecting)
                return m->state = CG_CERT_MSG_COMPLETE;
            m->mhdr_have = 0;
        }
    }
    return CG_CERT_MSG_WATCHING;
}

cg_cert_msg_state cg_cert_msg_feed(cg_cert_msg *m, const unsigned char *p, size_t n, size_t max_len)
{
    if (m->state != CG_CERT_MSG_WATCHING)
        return (cg_cert_msg_state)m->state;
    while (n > 0) {
        if (m->hdr_have < sizeof m->hdr) {
            m->hdr[m->hdr_have++] = *p++;
            n--;
            if (m->hdr_have < sizeof m->hdr)
                continue;
            if (m->hdr[0] != REC_HANDSHAKE)
                return stop(m); /* ChangeCipherSpec, an alert, encrypted records: the clear flight is over */
            m->rec_left = (size_t)m->hdr[3] << 8 | m->hdr[4];
        } else {
            size_t k = n < m->rec_left ? n : m->rec_left;
            cg_cert_msg_state s = messages(m, p, k, max_len);
            if (s != CG_CERT_MSG_WATCHING)
                return s;
            p += k;
            n -= k;
            m->rec_left -= k;
        }
        if (m->hdr_have == sizeof m->hdr && m->rec_left == 0)
            m->hdr_have = 0;
    }
    return CG_CERT_MSG_WATCHING;
}
