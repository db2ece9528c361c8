/* Fixtures the unit tests share: where the test data is, temporary folders,
 * files written whole, and a private Kerberos realm on a closed or chosen
 * port (a krb5.conf and a keytab with random keys). Not part of certgate:
 * compiled into the test-support library (tests/support/meson.build).
 *
 * Functions that cannot fail a test's premise quietly abort with the reason
 * on stderr (a fixture that fails is a broken test); fx_tmpdir and fx_rm_rf
 * return their result for cmocka's setup and teardown functions.
 */
#ifndef CG_FIXTURES_H
#define CG_FIXTURES_H

#include <stddef.h>

/* tests/data: meson sets CG_TEST_DATA; run by hand from the repository root
 * (./build/tests/test_config), the relative path works. */
const char *fx_test_data(void);

/* <test data>/rel and <repository>/rel (the repository is the test data's
 * ../..); malloc'd. */
char *fx_data_file(const char *rel);
char *fx_repo_file(const char *rel);

/* Creates path (truncating it) holding exactly len bytes of data / text. */
void fx_write_file(const char *path, const void *data, size_t len);
void fx_write_text(const char *path, const char *text);

/* A new folder /tmp/cg-test-NAME-XXXXXX into dir (cap bytes); dir, or NULL
 * when it could not be made. */
char *fx_tmpdir(char *dir, size_t cap, const char *name);

/* Removes dir and everything under it (no shell); 0 or -1. */
int fx_rm_rf(const char *dir);

/* A TCP port on 127.0.0.1 nothing listens on (bound, then closed). */
int fx_closed_port(void);

/* A listening TCP socket on 127.0.0.1, a free port (*port set): the tests' small servers. */
int fx_listen_loopback(int *port);
/* Connects to 127.0.0.1:port and closes at once: wakes a server thread blocked in accept(). */
void fx_poke_port(int port);

/* A krb5.conf for realm EXAMPLE.TEST whose only KDC is 127.0.0.1:port over
 * TCP, without DNS. */
void fx_write_krb5_conf(const char *path, int port);

/* A keytab holding one random aes256 key for principal at kvno (added to
 * the file's keys if it exists). */
void fx_write_keytab(const char *path, const char *principal, unsigned kvno);

#endif
