#include "request_limits.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "base/base.h"

#define LOG_EVERY_NS (10ull * 1000000000u) /* one line per bucket per 10 s at most */

uint64_t cg_request_body_max(const cg_listener_cfg *l, const cg_route *r)
{
    uint64_t max = r && r->has_max_request_body ? r->max_request_body : l->max_request_body;
    return max ? max : UINT64_MAX;
}

static const char *size_text(uint64_t v, char *buf, size_t cap)
{
    if (v && v % (1ull << 30) == 0)
        snprintf(buf, cap, "%" PRIu64 "g", v >> 30);
    else if (v && v % (1ull << 20) == 0)
        snprintf(buf, cap, "%" PRIu64 "m", v >> 20);
    else if (v && v % 1024 == 0)
        snprintf(buf, cap, "%" PRIu64 "k", v >> 10);
    else
        snprintf(buf, cap, "%" PRIu64, v);
    return buf;
}

void cg_request_body_refusal(cg_refusal *why, const cg_listener_cfg *l, const cg_route *r, uint64_t max,
                             uint64_t length, bool announced)
{
    char lim[32], where[400];
    bool own = r && r->has_max_request_body;
    if (own)
        snprintf(where, sizeof where, "max_request_body of route \"%.200s\" of listener \"%.100s\"", r->path,
                 l->name);
    else
        snprintf(where, sizeof where, "max_request_body of listener \"%.100s\"", l->name);
    size_text(max, lim, sizeof lim);
    if (announced)
        cg_refuse(why, CG_REFUSE_BODY_TOO_LARGE,
                  "The request body (Content-Length: %" PRIu64 ") is larger than %s (%s = %" PRIu64
                  " bytes); nothing was forwarded. Raise the limit (a route may have its own) if such bodies "
                  "are expected.",
                  length, where, lim, max);
    else
        cg_refuse(why, CG_REFUSE_BODY_TOO_LARGE,
                  "The chunked request body grew past %s (%s = %" PRIu64 " bytes) after %" PRIu64
                  " bytes were forwarded: the backend connection, which had received them, was closed, and so is "
                  "the client connection. Raise the limit (a route may have its own) if such bodies are expected.",
                  where, lim, max, length);
}

/* The key of a certificate: the first 16 bytes of its SHA-256 (hex). */
static bool fingerprint_key(const char *hex, cg_rate_key *k)
{
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            int d = cg_hex_value(hex[2 * i + j]);
            if (d < 0)
                return false;
            v = v << 4 | (unsigned)d;
        }
        k->id[i] = (uint8_t)v;
    }
    return true;
}

static bool address_key(const cg_admission_key *a, cg_rate_key *k)
{
    if (!a || a->family == 0)
        return false;
    memcpy(k->id, a->bytes, sizeof k->id);
    k->family = a->family;
    return true;
}

static void log_refusal(const cg_listener_cfg *l, const cg_rate_client *who, const char *limit, const char *key,
                        const cg_rate *r, const cg_rate_verdict *v)
{
    char rate[32], qkey[160];
    cg_log_quote(qkey, sizeof qkey, key, strlen(key));
    cg_log(CG_LOG_WARN, "rate_limited",
           "id=%s listener=%s client=%s limit=%s key=%s rate=%s burst=%u refused=%" PRIu64
           " retry_after=%u detail=\"over listeners[%s].rate_limit.%s: answered 429; further refusals of this "
           "key are counted, logged at most every %u s\"",
           who->request_id, l->name, who->peer, limit, qkey, cg_rate_format(r->per_minute, rate, sizeof rate),
           r->burst, v->refused, v->retry_after_s, l->name, limit, (unsigned)(LOG_EVERY_NS / 1000000000u));
}

bool cg_request_rate_check(cg_ratelimit *t, const cg_listener_cfg *l, size_t li, const cg_rate_client *who,
                           uint64_t now_ns, cg_refusal *why, uint32_t *retry_after_s)
{
    struct {
        const cg_rate *rate;
        const char *limit;
        cg_rate_key key;
        bool counted;
    } checks[2] = {
        { &l->rate_per_client, "per_client", { .kind = CG_RATE_KEY_CLIENT, .scope = (uint16_t)li }, false },
        { &l->rate_per_address, "per_address", { .kind = CG_RATE_KEY_ADDRESS, .scope = (uint16_t)li }, false },
    };
    /* A client is its certificate; without one, its address. */
    if (who->fingerprint && who->fingerprint[0])
        checks[0].counted = fingerprint_key(who->fingerprint, &checks[0].key);
    else
        checks[0].counted = address_key(who->address, &checks[0].key);
    checks[1].counted = address_key(who->address, &checks[1].key);

    for (int i = 0; i < 2; i++) {
        if (!checks[i].rate->per_minute || !checks[i].counted || !t)
            continue;
        cg_rate_verdict v;
        cg_ratelimit_take(t, &checks[i].key, checks[i].rate, now_ns, LOG_EVERY_NS, &v);
        if (v.allowed)
            continue;
        char addr[INET6_ADDRSTRLEN + 8], key[120], rate[32];
        if (who->address)
            cg_admission_key_format(who->address, who->ipv6_prefix, addr, sizeof addr);
        else
            snprintf(addr, sizeof addr, "-");
        if (i == 0 && who->fingerprint && who->fingerprint[0])
            snprintf(key, sizeof key, "certificate SHA-256 %.64s", who->fingerprint);
        else
            snprintf(key, sizeof key, "address %s", addr);
        if (v.log)
            log_refusal(l, who, checks[i].limit, key, checks[i].rate, &v);
        cg_rate_format(checks[i].rate->per_minute, rate, sizeof rate);
        cg_refuse(why, CG_REFUSE_RATE_LIMITED,
                  "Too many requests from %s on listener \"%.100s\": over rate_limit.%s (%s, burst %u). A token "
                  "is available again in %u s (Retry-After).",
                  key, l->name, checks[i].limit, rate, checks[i].rate->burst, v.retry_after_s);
        *retry_after_s = v.retry_after_s;
        return false;
    }
    return true;
}
