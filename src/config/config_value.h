/* The plain value syntaxes of the configuration: whole numbers, durations
 * ("500ms", "30s", "5m", "1h"), sizes ("512", "16k", "1m"; powers of 1024),
 * numeric addresses; and the shortest exact spelling of a bound, for
 * messages. Text in, numbers out: no YAML, no diagnostics.
 */
#ifndef CG_CONFIG_VALUE_H
#define CG_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A syntax error and a number too large are told apart: the messages differ. */
typedef enum { CG_NUM_OK, CG_NUM_SYNTAX, CG_NUM_RANGE } cg_num;

/* Decimal digits only, the whole of s. */
cg_num cg_value_parse_uint(const char *s, uint64_t *out);
/* Digits then ms, s (or nothing), m or h; at most UINT32_MAX milliseconds. */
cg_num cg_value_parse_duration(const char *s, uint32_t *out_ms);
/* Digits then nothing, k, m or g (either case). */
cg_num cg_value_parse_size(const char *s, uint64_t *out);

/* Parses "30s", "500ms", "2m", "1h" or a plain number of seconds. */
bool cg_parse_duration_ms(const char *s, uint32_t *out_ms);
/* Parses "16k", "1m", "512" (bytes; k/m/g are powers of 1024). */
bool cg_parse_size(const char *s, uint64_t *out);

/* The shortest exact spelling, for bounds in messages: 1048576 -> "1m",
 * 60000 -> "1m" (a duration). Both return buf. */
const char *cg_value_fmt_size(uint64_t v, char *buf, size_t cap);
const char *cg_value_fmt_duration(uint32_t ms, char *buf, size_t cap);

/* A numeric IPv4 or IPv6 address in binary, to compare two spellings of
 * one address ("::1" and "0::1"). */
typedef struct cg_sockaddr_key {
    int family;
    unsigned char addr[16];
} cg_sockaddr_key;

/* false (and family 0) when s is not a numeric address. */
bool cg_value_address_key(const char *s, cg_sockaddr_key *k);

#endif
