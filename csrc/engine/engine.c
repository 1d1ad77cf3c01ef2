/*
 * engine.c - engine lifecycle, reference counts, and the public stream calls that run on
 * consumer threads (start, cancel, release).
 *
 * Lifetimes. A stream holds a reference on its engine and on its sink, so the ready list, its
 * lock and the wakeup fd stay valid for streams the caller still holds after tw_engine_free
 * (which stops the I/O threads and curl, then drops the user's reference). A stream itself is
 * counted by: the caller (until tw_stream_release), the I/O thread (until the transfer is gone
 * and the terminal event is queued), one per queued command and one per take_ready hand-out.
 * Whoever drops the last one frees it.
 */
#include "engine/engine_internal.h"
#include "tw_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

double tw__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define FORKED_MSG                                                                             \
    "engine was created before fork() in the parent process: create a new engine in this "     \
    "process"

/* ---- options ------------------------------------------------------------------------------ */

void tw_engine_opts_init(tw_engine_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->io_threads = 1;
    o->queue_high_watermark = (size_t)1024 * 1024;
    o->queue_low_watermark = o->queue_high_watermark / 4;
    o->coalesce_us = 200;
    o->tick_us = 1500;
    o->tick_streams = 32;
}

void tw_request_opts_init(tw_request_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->method = "POST";
    o->dialect = TW_DIALECT_OPENAI;
    o->connect_timeout = 10;
    o->first_byte_timeout = 600;
    o->idle_timeout = 600;
    o->paused_timeout = 300;
    o->accumulate = 1;
    o->max_retries = 2;
    o->retry_base_delay = 0.5;
    o->verify_peer = 1;
}

/* ---- curl share locks --------------------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud) {
    tw_engine *e = ud;
    (void)h;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) pthread_mutex_lock(&e->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud) {
    tw_engine *e = ud;
    (void)h;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) pthread_mutex_unlock(&e->share_locks[data]);
}

/* ---- engine lifecycle --------------------------------------------------------------------- */

static void engine_destroy(tw_engine *e) {
    if (e->share) curl_share_cleanup(e->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&e->share_locks[i]);
    if (e->sink0) tw__sink_unref(e->sink0);
    free(e->io);
    free(e);
}

void tw__engine_unref(tw_engine *e) {
    if (atomic_fetch_sub(&e->refs, 1) == 1) engine_destroy(e);
}

tw_engine *tw_engine_new(const tw_engine_opts *opts, tw_error *err) {
    tw_engine_opts o;
    tw_engine *e;
    tw__poller_kind poller;
    int started = 0;
    if (opts)
        o = *opts;
    else
        tw_engine_opts_init(&o);
    if (o.io_threads < 1 || o.io_threads > 256) {
        tw__err(err, TW_ERR_INVALID_ARG, "io_threads must be 1..256");
        return NULL;
    }
    if (o.coalesce_us < 0 || o.coalesce_us > 100000) {
        tw__err(err, TW_ERR_INVALID_ARG, "coalesce_us must be 0..100000");
        return NULL;
    }
    if (o.tick_us < 0 || o.tick_us > 100000 || o.tick_streams < 0) {
        tw__err(err, TW_ERR_INVALID_ARG, "tick_us must be 0..100000, tick_streams >= 0");
        return NULL;
    }
    {
        char msg[120];
        if (tw__poller_env(&poller, msg, sizeof msg) != 0) {
            tw__err(err, TW_ERR_INVALID_ARG, msg);
            return NULL;
        }
    }
    if (o.queue_high_watermark == 0) o.queue_high_watermark = (size_t)1024 * 1024;
    if (o.queue_low_watermark == 0 || o.queue_low_watermark >= o.queue_high_watermark)
        o.queue_low_watermark = o.queue_high_watermark / 4;
    tw__fork_init();
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        tw__err(err, TW_ERR_TRANSPORT, "curl_global_init failed");
        return NULL;
    }
    e = calloc(1, sizeof *e);
    if (!e) goto nomem;
    e->high = o.queue_high_watermark;
    e->low = o.queue_low_watermark;
    e->fork_gen = tw__fork_generation();
    e->n_io = o.io_threads;
    e->coalesce = o.coalesce_us * 1e-6;
    e->tick = o.tick_us * 1e-6;
    e->tick_streams = o.tick_streams;
    e->poller = poller;
    /* The portable configuration is whole: poll() comes with pipe wakeups. */
    e->pipe_wakeups = poller == TW__POLLER_POLL;
    atomic_init(&e->refs, 1);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&e->share_locks[i], NULL);
    e->sink0 = tw__sink_create(e, o.notify, o.notify_userdata, 1, err);
    if (!e->sink0) {
        engine_destroy(e);
        return NULL;
    }
    /* DNS answers and TLS sessions are shared by every I/O thread. The connection cache is
     * not: libcurl documents sharing it between concurrently running threads as unsafe (see
     * its KNOWN_BUGS), so each I/O thread's multi handle keeps its own. */
    e->share = curl_share_init();
    if (!e->share) goto nomem_e;
    curl_share_setopt(e->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(e->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(e->share, CURLSHOPT_USERDATA, e);
    curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    e->io = calloc((size_t)e->n_io, sizeof *e->io);
    if (!e->io) goto nomem_e;
    for (int i = 0; i < e->n_io; i++) {
        tw_code rc = tw__io_init(&e->io[i], e, i, err);
        if (rc != TW_OK) {
            for (int j = 0; j < i; j++) {
                pthread_mutex_lock(&e->io[j].cmd_lock);
                e->io[j].stop = 1;
                pthread_mutex_unlock(&e->io[j].cmd_lock);
                tw__io_wake(&e->io[j]);
            }
            for (int j = 0; j < i; j++) tw__io_destroy(&e->io[j]);
            engine_destroy(e);
            return NULL;
        }
        started++;
    }
    (void)started;
    if (err) tw__err(err, TW_OK, "");
    return e;
nomem_e:
    engine_destroy(e);
nomem:
    tw__err(err, TW_ERR_NOMEM, "out of memory");
    return NULL;
}

void tw_engine_free(tw_engine *e) {
    if (!e) return;
    if (tw_engine_forked(e)) {
        tw__engine_abandon(e);
        return;
    }
    atomic_store(&e->freeing, 1);
    for (int i = 0; i < e->n_io; i++) {
        pthread_mutex_lock(&e->io[i].cmd_lock);
        e->io[i].stop = 1;
        pthread_mutex_unlock(&e->io[i].cmd_lock);
        tw__io_wake(&e->io[i]);
    }
    /* Each thread cancels its streams (queuing their cancelled errors) before it exits. */
    for (int i = 0; i < e->n_io; i++) tw__io_destroy(&e->io[i]);
    tw__engine_unref(e);
}

size_t tw__engine_high(const tw_engine *e) { return e->high; }

void tw_engine_get_stats(tw_engine *e, tw_engine_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!e) return;
    out->active_streams = atomic_load(&e->st_active);
    out->paused_streams = atomic_load(&e->st_paused);
    out->connections_reused = atomic_load(&e->st_reused);
    out->streams_started = atomic_load(&e->st_started);
    out->streams_finished = atomic_load(&e->st_finished);
}

tw_code tw_engine_prewarm(tw_engine *e, const char *url, tw_error *err) {
    CURLU *u;
    char *scheme = NULL;
    int ok;
    if (!e || !url || !*url) {
        tw__err(err, TW_ERR_INVALID_ARG, "engine and url are required");
        return TW_ERR_INVALID_ARG;
    }
    if (tw_engine_forked(e)) {
        tw__err(err, TW_ERR_FORKED, FORKED_MSG);
        return TW_ERR_FORKED;
    }
    if (tw__check_url(url, strlen(url), err) != TW_OK) return TW_ERR_INVALID_ARG;
    u = curl_url();
    if (!u) {
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
         (!strcmp(scheme, "http") || !strcmp(scheme, "https"));
    curl_free(scheme);
    curl_url_cleanup(u);
    if (!ok) {
        tw__err(err, TW_ERR_INVALID_ARG, "url must be an absolute http:// or https:// URL");
        return TW_ERR_INVALID_ARG;
    }
    /* Connection caches are per I/O thread, so each thread opens one. */
    for (int i = 0; i < e->n_io; i++) {
        tw_code rc = tw__io_prewarm(&e->io[i], url);
        if (rc != TW_OK) {
            tw__err(err, rc, rc == TW_ERR_CLOSED ? "engine is shutting down" : "out of memory");
            return rc;
        }
    }
    if (err) tw__err(err, TW_OK, "");
    return TW_OK;
}

/* ---- commands ------------------------------------------------------------------------------ */

int tw__send_cmd(tw_stream *s, unsigned flag) {
    tw__io *io = s->io;
    int wake = 0;
    pthread_mutex_lock(&io->cmd_lock);
    if (io->closed || (io->stop && flag == TW__CMD_START)) {
        /* A closed thread has already terminated every stream it had. */
        pthread_mutex_unlock(&io->cmd_lock);
        return -1;
    }
    if (s->cmd_flags == 0) {
        atomic_fetch_add(&s->refs, 1);
        s->cmd_next = NULL;
        if (io->cmd_tail)
            io->cmd_tail->cmd_next = s;
        else {
            io->cmd_head = s;
            wake = 1;
        }
        io->cmd_tail = s;
    }
    s->cmd_flags |= flag;
    pthread_mutex_unlock(&io->cmd_lock);
    if (wake) tw__io_wake(io);
    return 0;
}

/* ---- streams ------------------------------------------------------------------------------- */

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

tw_stream *tw_engine_start(tw_engine *e, const tw_request_opts *opts, tw_error *err) {
    tw_stream *s;
    tw_decoder_opts dopts;
    struct curl_slist *sl;
    int ok;
    if (!e || !opts || !opts->url || !*opts->url) {
        tw__err(err, TW_ERR_INVALID_ARG, "engine, opts and opts->url are required");
        return NULL;
    }
    if (tw_engine_forked(e)) {
        tw__err(err, TW_ERR_FORKED, FORKED_MSG);
        return NULL;
    }
    if (opts->sink && opts->sink->e != e) {
        tw__err(err, TW_ERR_INVALID_ARG, "opts->sink belongs to another engine");
        return NULL;
    }
    if (atomic_load(&e->freeing)) {
        tw__err(err, TW_ERR_CLOSED, "engine is shutting down");
        return NULL;
    }
    if (!tw_dialect_name(opts->dialect)) {
        tw__err(err, TW_ERR_INVALID_ARG, "unknown dialect");
        return NULL;
    }
    if (!valid_timeout(opts->connect_timeout) || !valid_timeout(opts->first_byte_timeout) ||
        !valid_timeout(opts->idle_timeout) || !valid_timeout(opts->event_timeout) ||
        !valid_timeout(opts->total_timeout) || !valid_timeout(opts->retry_base_delay) ||
        !valid_timeout(opts->paused_timeout) || opts->max_retries < 0 ||
        (opts->n_headers && !opts->headers) ||
        (opts->body_len && !opts->body)) {
        tw__err(err, TW_ERR_INVALID_ARG, "bad timeout, retry, header or body argument");
        return NULL;
    }
    if (check_request(opts, err) != TW_OK) return NULL;
    ok = valid_url(opts->url);
    if (ok <= 0) {
        tw__err(err, ok < 0 ? TW_ERR_NOMEM : TW_ERR_INVALID_ARG,
                ok < 0 ? "out of memory" : "url must be an absolute http:// or https:// URL");
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    pthread_mutex_init(&s->lock, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
#if !defined(__APPLE__)
        pthread_condattr_setclock(&ca, TW__COND_CLOCK);
#endif
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    s->heap_idx = SIZE_MAX;
    s->e = e;
    tw_buf_init(&s->body_buf);
    s->url = url_with_query(opts, opts->url_len ? opts->url_len : strlen(opts->url));
    s->method = dup_str(opts->method ? opts->method : "POST",
                        strlen(opts->method ? opts->method : "POST"));
    if (!s->url || !s->method) goto nomem_s;
    if (opts->body) {
        s->body = dup_str(opts->body, opts->body_len);
        if (!s->body) goto nomem_s;
        s->body_len = opts->body_len;
    }
    if (opts->ca_file) {
        s->ca_file = dup_str(opts->ca_file, strlen(opts->ca_file));
        if (!s->ca_file) goto nomem_s;
    }
    for (size_t i = 0; i < opts->n_headers; i++) {
        if (!opts->headers[i]) continue;
        sl = curl_slist_append(s->headers, opts->headers[i]);
        if (!sl) goto nomem_s;
        s->headers = sl;
    }
    /* The defaults the caller did not give (request preparation lives here, once). */
    {
        const char *auth = auth_header(opts);
        if (auth && !has_header(opts, auth)) {
            size_t klen = opts->api_key_len ? opts->api_key_len : strlen(opts->api_key);
            if (add_header(&s->headers, auth, strcmp(auth, "Authorization") ? "" : "Bearer ",
                           opts->api_key, klen))
                goto nomem_s;
        }
    }
    if (opts->dialect == TW_DIALECT_ANTHROPIC && !has_header(opts, "anthropic-version") &&
        add_header(&s->headers, "anthropic-version", "", "2023-06-01", 10))
        goto nomem_s;
    if (!has_header(opts, "Accept")) {
        int nd = opts->dialect == TW_DIALECT_OLLAMA || opts->dialect == TW_DIALECT_NDJSON;
        const char *v = nd ? "application/x-ndjson" : "text/event-stream";
        if (add_header(&s->headers, "Accept", "", v, strlen(v))) goto nomem_s;
    }
    /* No "Expect: 100-continue" round trip for bodies over 1 KiB: it costs up to a second. */
    if (!has_header(opts, "Expect")) {
        sl = curl_slist_append(s->headers, "Expect:");
        if (!sl) goto nomem_s;
        s->headers = sl;
    }
    /* LLM APIs take JSON; libcurl would otherwise label a POST body form-urlencoded. */
    if (opts->body && !has_header(opts, "Content-Type")) {
        sl = curl_slist_append(s->headers, "Content-Type: application/json");
        if (!sl) goto nomem_s;
        s->headers = sl;
    }
    s->dialect = opts->dialect;
    s->connect_timeout = opts->connect_timeout;
    s->first_byte_timeout = opts->first_byte_timeout;
    s->idle_timeout = opts->idle_timeout;
    s->event_timeout = opts->event_timeout;
    s->total_timeout = opts->total_timeout;
    s->retry_base_delay = opts->retry_base_delay;
    s->paused_timeout = opts->paused_timeout;
    s->max_retries = opts->max_retries;
    s->retry_sent = opts->retry_sent;
    s->http2 = opts->http2;
    s->verify_peer = opts->verify_peer;
    s->max_event_size = opts->max_event_size;
    s->userdata = opts->userdata;
    tw_decoder_opts_init(&dopts);
    dopts.max_event_size = opts->max_event_size;
    s->dec = tw_decoder_new(opts->dialect, &dopts, err);
    if (!s->dec) {
        tw__stream_free(s);
        return NULL;
    }
    s->m.http_version = 0;
    s->sum = tw_summary_new(opts->accumulate, tw_dialect_indexes_choices(opts->dialect));
    if (!s->sum) {
        tw__stream_free(s);
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->sink = opts->sink ? opts->sink : e->sink0;
    tw__sink_ref(s->sink);
    s->t_start = tw__now();
    /* caller + I/O thread; the start command adds its own while queued. */
    atomic_init(&s->refs, 2);
    atomic_fetch_add(&e->refs, 1);
    s->io = &e->io[atomic_fetch_add(&e->next_io, 1) % (unsigned)e->n_io];
    atomic_fetch_add(&e->st_started, 1);
    atomic_fetch_add(&e->st_active, 1);
    if (tw__send_cmd(s, TW__CMD_START) != 0) {
        atomic_fetch_sub(&e->st_started, 1);
        atomic_fetch_sub(&e->st_active, 1);
        atomic_store(&s->refs, 1);
        tw__stream_unref(s);
        tw__err(err, TW_ERR_CLOSED, "engine is shutting down");
        return NULL;
    }
    if (err) tw__err(err, TW_OK, "");
    return s;
nomem_s:
    tw__stream_free(s);
nomem:
    tw__err(err, TW_ERR_NOMEM, "out of memory");
    return NULL;
}

void tw_stream_cancel(tw_stream *s) {
    if (!s || tw__stream_forked(s)) return;
    if (atomic_exchange(&s->cancel_requested, 1)) return;
    /* Sent even when the terminal event is already queued: the stream may still be draining
     * its connection, and the command drops that transfer at once. After the I/O thread is done
     * with the stream the command is a no-op. */
    tw__send_cmd(s, TW__CMD_CANCEL);
}

void tw_stream_release(tw_stream *s) {
    /* In a fork child the stream is the parent's: its memory is left as it is. */
    if (!s || tw__stream_forked(s)) return;
    pthread_mutex_lock(&s->lock);
    s->released = 1;
    tw__ready_remove_locked(s);
    pthread_mutex_unlock(&s->lock);
    tw_stream_cancel(s);
    tw__stream_unref(s);
}

void tw_stream_unref(tw_stream *s) {
    if (!s || tw__stream_forked(s)) return;
    tw__stream_unref(s);
}

void *tw_stream_userdata(const tw_stream *s) {
    tw_stream *m = (tw_stream *)s; /* the lock, not the stream, changes */
    void *ud;
    if (!s) return NULL;
    if (tw__stream_forked(s)) return s->userdata;
    pthread_mutex_lock(&m->lock);
    ud = s->released ? NULL : s->userdata;
    pthread_mutex_unlock(&m->lock);
    return ud;
}

void tw__stream_unref(tw_stream *s) {
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        tw_engine *e = s->e;
        tw_sink *k = s->sink;
        tw__stream_free(s);
        if (k) tw__sink_unref(k);
        tw__engine_unref(e);
    }
}
