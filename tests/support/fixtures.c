/* The unit tests' shared fixtures (fixtures.h). */
#include "fixtures.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <krb5.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("test fixture: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

const char *fx_test_data(void)
{
    const char *data = getenv("CG_TEST_DATA");
    return data && *data ? data : "tests/data";
}

char *fx_data_file(const char *rel)
{
    char *out;
    if (asprintf(&out, "%s/%s", fx_test_data(), rel) < 0)
        die("out of memory");
    return out;
}

char *fx_repo_file(const char *rel)
{
    char *out;
    if (asprintf(&out, "%s/../../%s", fx_test_data(), rel) < 0)
        die("out of memory");
    return out;
}

void fx_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot create %s: %m", path);
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("cannot write %s: %m", path);
}

void fx_write_text(const char *path, const char *text)
{
    fx_write_file(path, text, strlen(text));
}

char *fx_tmpdir(char *dir, size_t cap, const char *name)
{
    int n = snprintf(dir, cap, "/tmp/cg-test-%s-XXXXXX", name);
    if (n < 0 || (size_t)n >= cap)
        return NULL;
    return mkdtemp(dir);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

int fx_rm_rf(const char *dir)
{
    /* Depth first, not following links out of the folder. */
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int fx_closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &l) != 0)
        die("cannot bind a port on 127.0.0.1: %m");
    close(s); /* nothing listens there now */
    return ntohs(a.sin_port);
}

int fx_listen_loopback(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 64) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) != 0)
        die("cannot listen on 127.0.0.1: %m");
    *port = ntohs(a.sin_port);
    return s;
}

void fx_poke_port(int port)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (c >= 0) {
        (void)connect(c, (struct sockaddr *)&a, sizeof a);
        close(c);
    }
}

void fx_write_krb5_conf(const char *path, int port)
{
    char text[1024];
    /* TCP only (udp_preference_limit = 1): a closed port is refused at once. */
    snprintf(text, sizeof text,
             "[libdefaults]\n default_realm = EXAMPLE.TEST\n dns_lookup_kdc = false\n dns_lookup_realm = false\n"
             " rdns = false\n dns_canonicalize_hostname = false\n udp_preference_limit = 1\n"
             "[realms]\n EXAMPLE.TEST = {\n  kdc = 127.0.0.1:%d\n }\n", port);
    fx_write_text(path, text);
}

void fx_write_keytab(const char *path, const char *principal, unsigned kvno)
{
    krb5_context ctx;
    if (krb5_init_context(&ctx))
        die("cannot initialise Kerberos");
    char name[1100];
    snprintf(name, sizeof name, "FILE:%s", path);
    krb5_keytab kt;
    krb5_keytab_entry e;
    memset(&e, 0, sizeof e);
    e.vno = kvno;
    if (krb5_kt_resolve(ctx, name, &kt) || krb5_parse_name(ctx, principal, &e.principal) ||
        krb5_c_make_random_key(ctx, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &e.key) || krb5_kt_add_entry(ctx, kt, &e))
        die("cannot write a key for %s into %s", principal, path);
    krb5_free_keyblock_contents(ctx, &e.key);
    krb5_free_principal(ctx, e.principal);
    krb5_kt_close(ctx, kt);
    krb5_free_context(ctx);
}
