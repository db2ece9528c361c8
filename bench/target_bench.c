/* Request-target benchmark: the cost per request of computing the canonical
 * target (src/base/target.c) in place, and of matching it against a listener's
 * routes (cg_target_route_covers, as cg_config_route does).
 *
 *   cg-target-bench [ITERATIONS]      # default 2000000 per case
 *
 * Prints nanoseconds per call for a few typical targets. Not a test:
 * nothing passes or fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/target.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    if (iters <= 0)
        iters = 2000000;
    static const char *const cases[] = {
        "/",
        "/api/v1/users/12345",
        "/app/Default.aspx?id=42&view=full",
        "/sites/hr/Shared%20Documents/Forms/AllItems.aspx?RootFolder=%2Fsites%2Fhr&View=%7B6F1A%7D",
        "//app/./a/../Default.aspx?x=1",
        "/%7euser/caf%c3%a9/%41%42%43",
    };
    static const char *const routes[] = { "/", "/api", "/app", "/admin", "/sites/hr/", "/static/" };
    volatile size_t sink = 0;
    printf("%-90s %10s %10s\n", "target", "ns/normalize", "ns/route");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = strlen(cases[c]);
        char buf[256];
        cg_target t;
        cg_refusal why;
        /* In place, as http_proxy.c does: refill the buffer each time (the
         * memcpy is part of what is timed, and is a few ns). */
        double t0 = now();
        for (long i = 0; i < iters; i++) {
            memcpy(buf, cases[c], n);
            if (!cg_target_normalize(buf, n, buf, CG_TARGET_WINDOWS, &t, &why)) { /* windows_paths: the default */
                fprintf(stderr, "refused: %s\n", why.detail);
                return 1;
            }
            sink += t.target.n;
        }
        double t1 = now();
        for (long i = 0; i < iters; i++) {
            const char *best = NULL;
            size_t best_n = 0;
            for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++) {
                cg_slice rs = { routes[r], strlen(routes[r]) };
                if (cg_target_route_covers(rs, t.path, true) && rs.n >= best_n) {
                    best = routes[r];
                    best_n = rs.n;
                }
            }
            sink += best ? best_n : 0;
        }
        double t2 = now();
        printf("%-90s %10.1f %10.1f\n", cases[c], (t1 - t0) * 1e9 / (double)iters,
               (t2 - t1) * 1e9 / (double)iters);
    }
    return sink == 0;
}
