/* certgate ticket-key generate: one new session-ticket key, as a line for
 * the tls.session_ticket_keys file (ticket_keys.h). New keys go at the TOP
 * of the file: the first key seals new tickets. */
#include <stdio.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <uv.h>

#include "commands.h"
#include "net/net.h"

int cg_cmd_ticket_key(int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "generate") != 0) {
        fprintf(stderr, "usage: certgate ticket-key generate\n"
                        "  prints a new session-ticket key (base64 of %d random bytes) for the file named by\n"
                        "  tls.session_ticket_keys; put it at the top (the first key seals new tickets):\n"
                        "    { certgate ticket-key generate; cat ticket.keys; } > ticket.keys.new &&\n"
                        "      mv ticket.keys.new ticket.keys\n",
                CG_TICKET_KEY_BYTES);
        return 2;
    }
    unsigned char raw[CG_TICKET_KEY_BYTES];
    unsigned char text[2 * CG_TICKET_KEY_BYTES + 1];
    size_t n = 0;
    /* The kernel's random source (getrandom), blocking until it is seeded. */
    int r = uv_random(NULL, NULL, raw, sizeof raw, 0, NULL);
    if (r != 0 || mbedtls_base64_encode(text, sizeof text, &n, raw, sizeof raw) != 0) {
        fprintf(stderr, "certgate: cannot generate a key: %s\n", r ? uv_strerror(r) : "base64 failed");
        mbedtls_platform_zeroize(raw, sizeof raw);
        return 1;
    }
    mbedtls_platform_zeroize(raw, sizeof raw);
    printf("%.*s\n", (int)n, text);
    mbedtls_platform_zeroize(text, sizeof text);
    return fflush(stdout) == 0 ? 0 : 1;
}
