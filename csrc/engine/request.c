/*
 * request.c - a request as the engine sends it: the checks of everything that reaches the wire,
 * the defaults every binding relies on (the API key's header, anthropic-version, Accept,
 * Content-Type, the query string), and the fallback chain (tw_request_opts.fallback), each
 * request of which is prepared here the same way, at tw_engine_start.
 */
#include "engine/engine_internal.h"
#include "tw_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *dup_str(const char *p, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* Case-insensitive "does some header start with `name:`". */
static int has_header(const tw_request_opts *o, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < o->n_headers; i++) {
        const char *h = o->headers[i];
        if (h && !strncasecmp(h, name, n) && h[n] == ':') return 1;
    }
    return 0;
}

static int valid_url(const char *url) {
    CURLU *u = curl_url();
    char *scheme = NULL;
    int ok;
    if (!u) return -1;
    ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
         (!strcmp(scheme, "http") || !strcmp(scheme, "https"));
    curl_free(scheme);
    curl_url_cleanup(u);
    return ok;
}

static int valid_timeout(double t) { return !isnan(t) && t >= 0 && t < 1e9; }

static const char *const auth_names[TW_AUTH__LAST] = {
    [TW_AUTH_DIALECT] = "dialect",     [TW_AUTH_BEARER] = "bearer",
    [TW_AUTH_API_KEY] = "api-key",     [TW_AUTH_X_API_KEY] = "x-api-key",
    [TW_AUTH_GOOG] = "x-goog-api-key",
};

int tw_auth_from_name(const char *name, size_t len) {
    if (!name) return -1;
    if (len == 5 && !memcmp(name, "azure", 5)) return TW_AUTH_API_KEY;
    for (int a = 0; a < TW_AUTH__LAST; a++)
        if (strlen(auth_names[a]) == len && !memcmp(auth_names[a], name, len)) return a;
    return -1;
}

const char *tw_auth_name(tw_auth a) {
    return (int)a >= 0 && a < TW_AUTH__LAST ? auth_names[a] : NULL;
}

/* The header name of the API key, or NULL when none is sent. */
static const char *auth_header(const tw_request_opts *o) {
    tw_auth a = o->auth;
    if (!o->api_key) return NULL;
    if (a == TW_AUTH_DIALECT)
        a = o->dialect == TW_DIALECT_ANTHROPIC ? TW_AUTH_X_API_KEY
            : o->dialect == TW_DIALECT_GEMINI  ? TW_AUTH_GOOG
                                               : TW_AUTH_BEARER;
    switch (a) {
    case TW_AUTH_BEARER: return "Authorization";
    case TW_AUTH_API_KEY: return "api-key";
    case TW_AUTH_X_API_KEY: return "x-api-key";
    case TW_AUTH_GOOG: return "x-goog-api-key";
    default: return NULL;
    }
}

/* Appends "Name: value" to the list. @return 0 or -1 (NOMEM). */
static int add_header(struct curl_slist **list, const char *name, const char *prefix,
                      const char *value, size_t vlen) {
    size_t n = strlen(name) + 2 + strlen(prefix) + vlen + 1;
    char *h = malloc(n);
    struct curl_slist *sl;
    if (!h) return -1;
    snprintf(h, n, "%s: %s%.*s", name, prefix, (int)vlen, value);
    sl = curl_slist_append(*list, h);
    free(h);
    if (!sl) return -1;
    *list = sl;
    return 0;
}

/* Percent-encodes every byte but RFC 3986 unreserved ones. */
static int put_encoded(tw_buf *b, const char *p, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            if (tw_buf_append(b, (const char *)&c, 1)) return -1;
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (tw_buf_append(b, e, 3)) return -1;
        }
    }
    return 0;
}

/* url + the query parameters (before any #fragment), NUL-terminated, owned by the caller.
 * NULL on NOMEM. */
static char *url_with_query(const tw_request_opts *o, size_t ulen) {
    tw_buf b;
    const char *hash = memchr(o->url, '#', ulen);
    size_t base = hash ? (size_t)(hash - o->url) : ulen;
    int sep = memchr(o->url, '?', base) != NULL;
    char *out;
    tw_buf_init(&b);
    if (tw_buf_append(&b, o->url, base)) goto fail;
    for (size_t i = 0; i < o->n_query; i++) {
        const char *k = o->query[2 * i], *v = o->query[2 * i + 1];
        size_t kl, vl;
        if (!k) continue;
        kl = o->query_lens ? o->query_lens[2 * i] : strlen(k);
        vl = !v ? 0 : o->query_lens ? o->query_lens[2 * i + 1] : strlen(v);
        if (tw_buf_append(&b, sep ? "&" : "?", 1) || put_encoded(&b, k, kl) ||
            tw_buf_append(&b, "=", 1) || (v && put_encoded(&b, v, vl)))
            goto fail;
        sep = 1;
    }
    if (hash && tw_buf_append(&b, hash, ulen - base)) goto fail;
    out = malloc(b.len + 1);
    if (!out) goto fail;
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    tw_buf_free(&b);
    return out;
fail:
    tw_buf_free(&b);
    return NULL;
}

tw_code tw_check_api_key(const char *key, size_t n, tw_error *err) {
    if (!key && n) return TW_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            char name[16];
            if (c == '\r' || c == '\n' || c == 0)
                snprintf(name, sizeof name, "%s", c == '\r' ? "CR" : c == '\n' ? "LF" : "NUL");
            else
                snprintf(name, sizeof name, "byte 0x%02X", c);
            tw__errf(err, TW_ERR_INVALID_ARG,
                     "invalid api_key: %s at byte %zu (CR, LF, NUL and other control "
                     "characters are refused in header values)",
                     name, i);
            if (err) err->pos = i;
            return TW_ERR_INVALID_ARG;
        }
    }
    return TW_OK;
}

/* Checks everything that reaches the wire (request_check.c). */
static tw_code check_request(const tw_request_opts *o, tw_error *err) {
    const char *method = o->method ? o->method : "POST";
    size_t mlen = o->method ? (o->method_len ? o->method_len : strlen(o->method)) : 4;
    size_t ulen = o->url_len ? o->url_len : strlen(o->url);
    if (tw__check_method(method, mlen, err) != TW_OK) return TW_ERR_INVALID_ARG;
    if (tw__check_url(o->url, ulen, err) != TW_OK) return TW_ERR_INVALID_ARG;
    for (size_t i = 0; i < o->n_headers; i++) {
        const char *h = o->headers[i];
        if (!h) continue;
        if (tw__check_header(h, o->header_lens ? o->header_lens[i] : strlen(h), i, err) != TW_OK)
            return TW_ERR_INVALID_ARG;
    }
    if (o->api_key &&
        tw_check_api_key(o->api_key, o->api_key_len ? o->api_key_len : strlen(o->api_key),
                         err) != TW_OK)
        return TW_ERR_INVALID_ARG;
    if ((int)o->auth < 0 || o->auth >= TW_AUTH__LAST || (o->n_query && !o->query)) {
        tw__err(err, TW_ERR_INVALID_ARG, "bad auth or query argument");
        return TW_ERR_INVALID_ARG;
    }
    /* Query names and values are percent-encoded, so any byte is fine but a NUL that the
     * caller's length says is inside (it would cut the string short). */
    for (size_t i = 0; o->query_lens && i < 2 * o->n_query; i++) {
        const char *q = o->query[i];
        if (q && memchr(q, '\0', o->query_lens[i])) {
            tw__errf(err, TW_ERR_INVALID_ARG, "invalid query %s #%zu: NUL inside",
                     i % 2 ? "value" : "name", i / 2 + 1);
            return TW_ERR_INVALID_ARG;
        }
    }
    if (o->ca_file) {
        /* A path cut short by a NUL would open another file. */
        size_t n = o->ca_file_len ? o->ca_file_len : strlen(o->ca_file);
        if (memchr(o->ca_file, '\0', n)) {
            tw__err(err, TW_ERR_INVALID_ARG, "invalid ca_file: NUL inside the path");
            return TW_ERR_INVALID_ARG;
        }
    }
    return TW_OK;
}


/* The checks of one request of the chain; err names the request when it is a fallback. */
static tw_code check_opts(const tw_request_opts *opts, size_t index, tw_error *err) {
    tw_code rc;
    int ok;
    if (!opts->url || !*opts->url) {
        tw__err(err, TW_ERR_INVALID_ARG, "opts->url is required");
        goto fail;
    }
    if (!tw_dialect_name(opts->dialect)) {
        tw__err(err, TW_ERR_INVALID_ARG, "unknown dialect");
        goto fail;
    }
    if (!valid_timeout(opts->connect_timeout) || !valid_timeout(opts->first_byte_timeout) ||
        !valid_timeout(opts->first_token_timeout) || !valid_timeout(opts->idle_timeout) ||
        !valid_timeout(opts->event_timeout) || !valid_timeout(opts->total_timeout) ||
        !valid_timeout(opts->retry_base_delay) || !valid_timeout(opts->paused_timeout) ||
        opts->max_retries < 0 || (opts->n_headers && !opts->headers) ||
        (opts->body_len && !opts->body)) {
        tw__err(err, TW_ERR_INVALID_ARG, "bad timeout, retry, header or body argument");
        goto fail;
    }
    if ((rc = check_request(opts, err)) != TW_OK) goto fail_rc;
    ok = valid_url(opts->url);
    if (ok <= 0) {
        tw__err(err, ok < 0 ? TW_ERR_NOMEM : TW_ERR_INVALID_ARG,
                ok < 0 ? "out of memory" : "url must be an absolute http:// or https:// URL");
        return ok < 0 ? TW_ERR_NOMEM : TW_ERR_INVALID_ARG;
    }
    return TW_OK;
fail:
    rc = TW_ERR_INVALID_ARG;
fail_rc:
    if (err && index > 0) {
        char msg[sizeof err->msg + 32];
        snprintf(msg, sizeof msg, "fallback %zu: %s", index, err->msg);
        memcpy(err->msg, msg, sizeof err->msg - 1); /* cut to fit */
        err->msg[sizeof err->msg - 1] = '\0';
    }
    return rc;
}

void tw__request_free(tw__request *r) {
    while (r) {
        tw__request *next = r->next;
        free(r->url);
        free(r->method);
        free(r->body);
        free(r->ca_file);
        curl_slist_free_all(r->headers);
        free(r);
        r = next;
    }
}

/* One request, prepared: copies of everything, the defaults the caller did not give.
 * NULL on NOMEM. */
static tw__request *prepare(const tw_request_opts *opts) {
    tw__request *r = calloc(1, sizeof *r);
    struct curl_slist *sl;
    const char *method = opts->method ? opts->method : "POST";
    size_t mlen = opts->method ? (opts->method_len ? opts->method_len : strlen(method)) : 4;
    if (!r) return NULL;
    r->url = url_with_query(opts, opts->url_len ? opts->url_len : strlen(opts->url));
    r->method = dup_str(method, mlen);
    if (!r->url || !r->method) goto nomem;
    if (opts->body) {
        if (!(r->body = dup_str(opts->body, opts->body_len))) goto nomem;
        r->body_len = opts->body_len;
    }
    if (opts->ca_file) {
        size_t n = opts->ca_file_len ? opts->ca_file_len : strlen(opts->ca_file);
        if (!(r->ca_file = dup_str(opts->ca_file, n))) goto nomem;
    }
    for (size_t i = 0; i < opts->n_headers; i++) {
        if (!opts->headers[i]) continue;
        if (opts->header_lens) {
            char *h = dup_str(opts->headers[i], opts->header_lens[i]);
            if (!h) goto nomem;
            sl = curl_slist_append(r->headers, h);
            free(h);
        } else {
            sl = curl_slist_append(r->headers, opts->headers[i]);
        }
        if (!sl) goto nomem;
        r->headers = sl;
    }
    /* The defaults the caller did not give (request preparation lives here, once). */
    {
        const char *auth = auth_header(opts);
        if (auth && !has_header(opts, auth)) {
            size_t klen = opts->api_key_len ? opts->api_key_len : strlen(opts->api_key);
            if (add_header(&r->headers, auth, strcmp(auth, "Authorization") ? "" : "Bearer ",
                           opts->api_key, klen))
                goto nomem;
        }
    }
    if (opts->dialect == TW_DIALECT_ANTHROPIC && !has_header(opts, "anthropic-version") &&
        add_header(&r->headers, "anthropic-version", "", "2023-06-01", 10))
        goto nomem;
    if (!has_header(opts, "Accept")) {
        int nd = opts->dialect == TW_DIALECT_OLLAMA || opts->dialect == TW_DIALECT_NDJSON;
        const char *v = nd ? "application/x-ndjson" : "text/event-stream";
        if (add_header(&r->headers, "Accept", "", v, strlen(v))) goto nomem;
    }
    /* No "Expect: 100-continue" round trip for bodies over 1 KiB: it costs up to a second. */
    if (!has_header(opts, "Expect")) {
        if (!(sl = curl_slist_append(r->headers, "Expect:"))) goto nomem;
        r->headers = sl;
    }
    /* LLM APIs take JSON; libcurl would otherwise label a POST body form-urlencoded. */
    if (opts->body && !has_header(opts, "Content-Type")) {
        if (!(sl = curl_slist_append(r->headers, "Content-Type: application/json"))) goto nomem;
        r->headers = sl;
    }
    r->dialect = opts->dialect;
    r->connect_timeout = opts->connect_timeout;
    r->first_byte_timeout = opts->first_byte_timeout;
    r->first_token_timeout = opts->first_token_timeout;
    r->idle_timeout = opts->idle_timeout;
    r->event_timeout = opts->event_timeout;
    r->retry_base_delay = opts->retry_base_delay;
    r->max_retries = opts->max_retries;
    r->retry_sent = opts->retry_sent;
    r->http2 = opts->http2;
    r->verify_peer = opts->verify_peer;
    r->max_event_size = opts->max_event_size;
    return r;
nomem:
    tw__request_free(r);
    return NULL;
}

tw_code tw__request_chain(const tw_request_opts *opts, tw__request **out, tw_error *err) {
    tw__request *head = NULL, **tail = &head;
    size_t i = 0;
    tw_code rc;
    *out = NULL;
    for (const tw_request_opts *o = opts; o; o = o->fallback, i++) {
        if (i >= TW__MAX_FALLBACKS + 1) {
            tw__errf(err, TW_ERR_INVALID_ARG,
                     "more than %d fallbacks (is the fallback chain a cycle?)",
                     TW__MAX_FALLBACKS);
            rc = TW_ERR_INVALID_ARG;
            goto fail;
        }
        if ((rc = check_opts(o, i, err)) != TW_OK) goto fail;
    }
    for (const tw_request_opts *o = opts; o; o = o->fallback) {
        if (!(*tail = prepare(o))) {
            tw__err(err, TW_ERR_NOMEM, "out of memory");
            rc = TW_ERR_NOMEM;
            goto fail;
        }
        tail = &(*tail)->next;
    }
    *out = head;
    return TW_OK;
fail:
    tw__request_free(head);
    return rc;
}

void tw__request_swap(tw_stream *s, tw__request *r) {
#define SWAP(f)                                                                                  \
    do {                                                                                         \
        __typeof__(s->f) t_ = s->f;                                                              \
        s->f = r->f;                                                                             \
        r->f = t_;                                                                               \
    } while (0)
    SWAP(url);
    SWAP(method);
    SWAP(body);
    SWAP(ca_file);
    SWAP(body_len);
    SWAP(headers);
    SWAP(dialect);
    SWAP(connect_timeout);
    SWAP(first_byte_timeout);
    SWAP(first_token_timeout);
    SWAP(idle_timeout);
    SWAP(event_timeout);
    SWAP(retry_base_delay);
    SWAP(max_retries);
    SWAP(retry_sent);
    SWAP(http2);
    SWAP(verify_peer);
    SWAP(max_event_size);
#undef SWAP
}
