/* The configuration's schema as plain types: what a snapshot holds, section
 * by section (conf/certgate.yaml documents each key). Readable without the
 * loader: modules that only read settings need nothing else; config.h adds
 * the snapshot's API (load, references, lookups).
 */
#ifndef CG_CONFIG_TYPES_H
#define CG_CONFIG_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct cg_tls_server; /* tls.h */
struct cg_tls_client; /* tls_client.h */
struct cg_mapping;    /* mapping.h */
struct cg_error_template; /* error_page.h */


typedef struct cg_pos {
    int line, column; /* 1-based position in cfg->file of the value */
} cg_pos;

/* A request rate (rate_limit.per_client, rate_limit.per_address):
 * per_minute tokens per minute (20/s is 1200), up to burst at once;
 * per_minute 0: no limit. A plain value: the token buckets that enforce it
 * are ratelimit.h's, built by their owner. */
typedef struct cg_rate {
    uint32_t per_minute;
    uint32_t burst;
} cg_rate;
/* The highest burst accepted (config_limits.c); ratelimit.c asserts that
 * burst tokens fit its 64-bit fixed point. */
#define CG_RATE_BURST_MAX 1000000u

/* tls.max_client_certificates: the default and the highest accepted
 * (chain_limits.h enforces it and sizes its arrays by the highest). */
#define CG_CHAIN_DEFAULT_MAX_CERTIFICATES 10
#define CG_CHAIN_MAX_CERTIFICATES_LIMIT 32

typedef struct cg_route {
    char *path;            /* path prefix, starts with '/' */
    size_t path_len;
    size_t backend;        /* index into cg_config.backends */
    bool client_cert_required;
    /* Request limits (request_limits.h): the route's own, else the listener's. */
    bool has_max_request_body;
    uint64_t max_request_body; /* bytes; 0: unlimited */
    /* Upgrades (config_tunnel.h, tunnel.h): the protocols a backend's 101 may
     * switch to on this route ("websocket"), lowercase; none by default. */
    char **upgrade;
    size_t nupgrade;
    /* routes[].timeouts, in milliseconds; 0: the top-level timeouts'. */
    uint32_t backend_response_ms;
    uint32_t tunnel_idle_ms;
    uint32_t stats_series; /* its requests' series (stats.h), set by the server before use */
} cg_route;

typedef enum { CG_REVOCATION_FETCH, CG_REVOCATION_CACHE_ONLY, CG_REVOCATION_OFF } cg_revocation_mode;

/* revocation.policy: which sources answer, in which order (CryptoAPI's is OCSP, then CRLs). */
typedef enum {
    CG_REVPOLICY_CRL,
    CG_REVPOLICY_OCSP,
    CG_REVPOLICY_OCSP_THEN_CRL,
    CG_REVPOLICY_CRL_THEN_OCSP,
} cg_revocation_policy;

typedef struct cg_listener_revocation {
    cg_revocation_mode mode;
    cg_revocation_policy policy;
    char *ocsp_responder;       /* revocation.ocsp_responder: instead of the certificates' AIA; NULL */
    char **crl_files;           /* files or directories (resolved paths) */
    size_t ncrl_files;
    uint32_t stale_grace_s;
} cg_listener_revocation;

/* forward_client_cert_der: the client certificate itself for the
 * application (http/cert_headers.h, docs/proxy.md). */
typedef enum cg_cert_der_form {
    CG_CERT_DER_OFF = 0,
    CG_CERT_DER_RFC9440,  /* Client-Cert (RFC 9440), Client-Cert-Chain with chain */
    CG_CERT_DER_ARR,      /* X-ARR-ClientCert (IIS ARR, Azure App Service): the leaf */
    CG_CERT_DER_BOTH,     /* both forms */
} cg_cert_der_form;

#define CG_CERT_DER_DEFAULT_MAX_SIZE (16u * 1024)
#define CG_CERT_DER_MIN_SIZE 1024u
#define CG_CERT_DER_MAX_SIZE (1024u * 1024)

typedef struct cg_cert_der_cfg {
    cg_cert_der_form form;
    bool chain;         /* Client-Cert-Chain: the intermediates (RFC 9440 forms only) */
    uint32_t max_size;  /* bytes of the certificate header lines together; over it the request is refused */
} cg_cert_der_cfg;

/* listeners[].tls.sni[]: a server certificate for the names a client asks
 * for by SNI (net/sni.h); the listener's own certificate serves the rest. */
typedef struct cg_sni_cfg {
    char **server_names;   /* lower case; "*.b.example" stands for one label */
    size_t nserver_names;
    char *cert_file, *key_file, *chain_file; /* as tls.certificate, tls.key, tls.chain */
    cg_pos names_pos, cert_pos, key_pos, chain_pos;
} cg_sni_cfg;

/* A listener's TLS versions (tls.min_version, tls.max_version). */
enum { CG_TLS_1_2 = 12, CG_TLS_1_3 = 13 };

typedef struct cg_listener_cfg {
    char *name;
    char *address;         /* numeric IPv4 or IPv6 address */
    uint16_t port;

    /* tls: */
    char *cert_file;       /* server certificate, leaf first; may hold the chain */
    char *key_file;
    char *chain_file;      /* optional extra intermediates, NULL if absent */
    char *client_ca_file;  /* trust anchors for client certificates (PEM bundle) */
    bool client_ca_names;  /* list the anchors' names in CertificateRequest */
    bool require_client_auth_eku;
    bool session_tickets;
    uint32_t session_ticket_lifetime_s;
    uint32_t max_chain_depth;
    uint32_t max_client_certificates; /* in the client's Certificate message (chain_limits.h) */
    bool allow_weak_signatures;
    /* tls.min_version / max_version: the TLS versions offered (CG_TLS_1_2,
     * CG_TLS_1_3); 0 reads as the default (1.2 and 1.3). */
    uint8_t tls_min_version, tls_max_version;
    cg_pos cert_pos, key_pos, chain_pos, client_ca_pos; /* for load errors */
    /* tls.session_ticket_keys: a key file shared by several instances
     * (ticket_keys.h); NULL: random keys of this process (mbedTLS's). */
    char *session_ticket_keys_file;
    cg_pos session_ticket_keys_pos;
    /* tls.sni: certificates chosen by the client's SNI (config_sni.c). */
    cg_sni_cfg *sni;
    size_t nsni;
    bool strict_sni; /* tls.strict_sni: no SNI, or a name nothing serves: handshake refused */

    cg_listener_revocation revocation;

    char *mapping_file;            /* NULL: no mapping, the certificate is the identity */
    cg_pos mapping_pos;
    struct cg_mapping *mapping;    /* loaded with the snapshot (config.h cg_config_builders: mapping.h) */

    bool forward_client_cert; /* X-Client-Cert-{Subject,Issuer,Serial,SHA256} */
    cg_cert_der_cfg forward_der; /* forward_client_cert_der: the certificate itself */

    bool case_insensitive_paths; /* routes match ASCII letters in either case (default true) */
    bool windows_paths;          /* refuse Windows file-system aliases (target.h; default true) */
    bool http2;                  /* offer ALPN h2 before http/1.1 (h2_conn.h; default false); never h2c */

    /* strip_request_headers: names stripped besides the built-in ones, and
     * built-in backend-trusted names passed anyway (header_names.h cg_header_policy). */
    char **strip_headers, **keep_headers;
    size_t nstrip_headers, nkeep_headers;

    /* Request limits (request_limits.h, parsed by config_limits.c). */
    uint64_t max_request_body;   /* bytes; 0: unlimited (routes may override) */
    cg_rate rate_per_client;     /* per certificate, per address without one; per_minute 0: off */
    cg_rate rate_per_address;    /* per address (IPv6: limits.per_address_ipv6_prefix); 0: off */

    cg_route *routes;      /* longest prefix wins, on segment boundaries (target.h) */
    size_t nroutes;

    /* proxy_protocol: connections from trusted balancers start with a PROXY
     * protocol header naming the client (proxy_protocol.h, docs/deployment.md). */
    struct {
        bool enabled;                /* the section is present */
        cg_cidr *trusted;            /* the balancers: from them a header is required */
        size_t ntrusted;
        bool allow_direct;           /* direct_clients: allow: others are served as
                                        direct clients (no header read); default refused */
    } proxy_protocol;

    struct cg_tls_server *tls; /* built from the fields above at load time (config.h cg_config_builders: tls.h) */
} cg_listener_cfg;

typedef struct cg_backend_cfg {
    char *name;
    char *url;             /* as written */
    char *host;            /* from the URL: numeric address or name */
    uint16_t port;
    char *host_header;     /* Host sent to the backend: "host[:port]" */
    uint32_t max_idle;     /* idle keep-alive connections kept per worker */
    uint32_t max_connections; /* open connections (idle and busy), process-wide: each worker holds a share */

    bool kerberos;         /* delegate: send Authorization: Negotiate as the mapped user */
    char *spn;             /* "HTTP/host" (no realm, no port) */
    bool send_on_401_only; /* kerberos.send: on_401 */
    bool connection_bound; /* authenticate once per backend connection */

    /* https:// (config_backends.c): the TLS client's settings, built into
     * tls at load (config.h cg_config_builders: tls_client.h). */
    bool https;
    char *tls_ca_file;     /* PEM bundle of trusted CAs; CG_SYSTEM_CA_FILE for ca: system */
    bool tls_ca_system;    /* tls.ca: system */
    char *tls_server_name; /* SNI and the name verified; the URL's host unless set */
    char *tls_cert_file, *tls_key_file; /* the certificate certgate presents, when the backend asks */
    int tls_min_version;   /* 12 or 13: TLS 1.2 or 1.3 */
    cg_pos tls_pos, tls_ca_pos, tls_cert_pos, tls_key_pos;
    struct cg_tls_client *tls;
} cg_backend_cfg;

/* tls.ca: system: the distribution's bundle of the system's trusted CAs
 * (Debian's ca-certificates), read at load like a ca_file. */
#define CG_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

typedef struct cg_revocation_cfg {
    char *cache_dir;               /* NULL: memory only */
    uint32_t fetch_timeout_ms;
    uint64_t max_crl_size;
    uint32_t max_redirects;
    bool allow_http, allow_https, allow_ldap;
    uint32_t refresh_before_s;
    uint32_t ocsp_timeout_ms;      /* one OCSP query, every responder URL */
    uint32_t ocsp_max_response;    /* bytes */
    bool ocsp_nonce;
} cg_revocation_cfg;

/* One realm of kerberos.realms: a trusted domain or forest (or the proxy's
 * own realm, to give its KDCs here rather than in krb5.conf). */
typedef struct cg_kerberos_realm_cfg {
    char *name;                    /* as configured, e.g. CORP.EXAMPLE.TEST */
    char **kdcs;                   /* "host" or "host:port"; none: krb5.conf or DNS */
    size_t nkdcs;
    char **upn_suffixes;           /* UPN suffixes whose users live in this realm */
    size_t nupn_suffixes;
} cg_kerberos_realm_cfg;

typedef struct cg_kerberos_cfg {
    bool enabled;                  /* the section is present */
    char *keytab;
    char *principal;               /* with "@REALM" added when it had none */
    char *realm;                   /* the proxy's realm, the default one */
    cg_kerberos_realm_cfg *realms; /* kerberos.realms */
    size_t nrealms;
    char *krb5_config;             /* NULL: system default */
    uint32_t kdc_timeout_ms;
    uint32_t refresh_before_s;
    uint32_t negative_cache_ms;
} cg_kerberos_cfg;

typedef struct cg_limits {
    uint32_t max_connections;    /* per process */
    uint32_t max_request_head;   /* bytes: request line + headers */
    uint32_t max_header_line;    /* bytes: one line of the head */
    uint32_t max_headers;        /* header fields per request */
    uint32_t max_response_head;  /* bytes, from the backend */
    uint32_t max_requests_per_connection; /* 0 = unlimited */
    uint32_t max_handshakes_per_address;  /* connections in their TLS handshake; 0 = unlimited (admission.h) */
    uint32_t max_connections_per_address; /* open connections; 0 = unlimited */
    uint32_t per_address_ipv6_prefix;     /* IPv6 addresses are counted per prefix of this length */
} cg_limits;

typedef struct cg_timeouts {     /* all in milliseconds */
    uint32_t handshake;
    uint32_t request_header;
    uint32_t client_body;        /* longest pause between body bytes */
    uint32_t keepalive_idle;
    uint32_t backend_connect;
    uint32_t backend_response;   /* until the response head, and between body bytes */
    uint32_t backend_idle;       /* pooled idle backend connections */
    uint32_t tunnel_idle;        /* an upgraded connection with no byte either way (tunnel.h) */
    uint32_t shutdown;           /* graceful-shutdown deadline */
} cg_timeouts;

/* errors.templates: one operator page per key, loaded with the snapshot. */
typedef struct cg_error_template_cfg {
    char *key;                       /* "403.7", "403" or "default" */
    char *path;
    cg_pos pos;                      /* of the path */
    struct cg_error_template *tpl;
} cg_error_template_cfg;

/* errors: what refusal pages show (error_page.h, docs/errors.md). */
typedef struct cg_errors_cfg {
    bool operator_detail;        /* errors.detail: operator: every page shows the operator sentence */
    cg_cidr *operator_networks;  /* clients in these see it whatever errors.detail says */
    size_t noperator_networks;
    char *support;               /* errors.support: a line on every page, NULL: none */
    cg_error_template_cfg *templates;
    size_t ntemplates;
    /* Per kind, the most specific template, or NULL: the built-in page. */
    const struct cg_error_template *template_for[CG_REFUSE_KIND_COUNT];
} cg_errors_cfg;

/* process: how certgate runs as a service (docs/operations.md). Read at
 * start; a reload that changes it warns that it takes effect at restart. */
typedef struct cg_process_cfg {
    char *user;                  /* NULL: none; else resolved at load: */
    uint32_t uid, gid;           /* the user's ids; gid from group when set */
    char *group;                 /* NULL: the user's primary group */
    bool allow_root;             /* serve as uid 0 on purpose */
    char *pid_file;              /* NULL: none */
    cg_pos user_pos, pid_file_pos;
} cg_process_cfg;

/* admin: the operators' plain-HTTP listener for metrics and probes
 * (admin.h, docs/operations.md "Monitoring"). Bound at start; a reload
 * that moves it warns that it takes effect at restart. */
typedef struct cg_admin_cfg {
    bool enabled;                /* the section is present */
    char *address;               /* numeric; default 127.0.0.1 */
    uint16_t port;               /* default 9180 */
    bool expose;                 /* a non-loopback address was asked for on purpose */
    cg_cidr *allow;              /* clients allowed; none listed: any that reaches it */
    size_t nallow;
    uint32_t max_connections;    /* admin connections at once; more are closed at accept */
    uint32_t timeout_ms;         /* a whole request must arrive within it */
    uint32_t kdc_window_s;       /* readiness: a KDC exchange succeeded within it */
    cg_pos address_pos;
} cg_admin_cfg;

typedef struct cg_config {
    atomic_uint refs;
    char *file;                  /* path it was loaded from */
    /* The builders that built the listeners' tls and mapping (config.h):
     * the last unref frees those through them. NULL: none were built. */
    const struct cg_config_builders *built_by;

    uint32_t workers;            /* event loops (threads); >= 1 */
    cg_log_level log_level;
    char *log_file;              /* NULL = stderr */
    cg_log_format log_format;    /* logging.format */
    bool log_query;              /* logging.log_query: query strings verbatim in logs */

    cg_limits limits;
    cg_timeouts timeouts;
    cg_revocation_cfg revocation;
    cg_kerberos_cfg kerberos;
    cg_errors_cfg errors;
    cg_process_cfg process;
    cg_admin_cfg admin;

    cg_listener_cfg *listeners;
    size_t nlisteners;
    cg_backend_cfg *backends;
    size_t nbackends;
} cg_config;

#endif
