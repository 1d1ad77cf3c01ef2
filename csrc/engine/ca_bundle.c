/*
 * ca_bundle.c - which CA certificates a TLS transfer verifies against when the request names
 * none. libcurl looks where the distribution that built it keeps them (Debian:
 * /etc/ssl/certs/ca-certificates.crt); a prebuilt wheel or addon carries Debian's libcurl to
 * systems that keep them elsewhere (RHEL, SUSE, Alpine), where every HTTPS request would fail.
 * So, once per process: $SSL_CERT_FILE if it names a file, else libcurl's own default if it
 * exists, else the first known location that exists; $SSL_CERT_DIR likewise for a directory.
 */
#include "engine/engine_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>

static pthread_once_t ca_once = PTHREAD_ONCE_INIT;
static const char *ca_file; /* NULL: leave libcurl's default */
static const char *ca_dir;

static int is_file(const char *p) {
    struct stat st;
    return p && *p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
    struct stat st;
    return p && *p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void ca_probe(void) {
    static const char *const known[] = {
        "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Arch, Gentoo */
        "/etc/pki/tls/certs/ca-bundle.crt",                  /* RHEL, Fedora, CentOS */
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+ */
        "/etc/ssl/ca-bundle.pem",                            /* openSUSE */
        "/etc/ssl/cert.pem",                                 /* Alpine, macOS, BSDs */
    };
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    const char *env = getenv("SSL_CERT_FILE");
    size_t i;
    if (is_file(env)) {
        ca_file = env;
    } else if (!(v && v->age >= CURLVERSION_SEVENTH && is_file(v->cainfo))) {
        for (i = 0; i < sizeof known / sizeof known[0] && !ca_file; i++) {
            if (is_file(known[i])) ca_file = known[i];
        }
    }
    env = getenv("SSL_CERT_DIR");
    if (is_dir(env)) ca_dir = env;
}

void tw__ca_defaults(const char **file, const char **dir) {
    pthread_once(&ca_once, ca_probe);
    *file = ca_file;
    *dir = ca_dir;
}
