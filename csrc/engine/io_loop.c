/*
 * io_loop.c - the I/O thread: one poller (poller.h: epoll on Linux, kqueue on macOS/BSD,
 * poll() as the fallback or with TW_POLLER=poll) + one libcurl multi handle driven with
 * curl_multi_socket_action, the command queue, transfers and their callbacks.
 *
 * Why a poller + socket_action rather than curl_multi_poll: curl_multi_poll hands every socket
 * of the multi to poll(2) on each wakeup, so with 1,000 open streams each token costs a scan of
 * 1,000 descriptors in the kernel. epoll / kqueue make a wakeup cost O(ready sockets). Commands
 * then arrive on a wakeup fd (eventfd or pipe) in the same poller instead of through
 * curl_multi_wakeup.
 *
 * Backpressure. The write callback checks the stream's queued bytes before it consumes a chunk:
 * at or above the high watermark it returns CURL_WRITEFUNC_PAUSE without feeding the decoder,
 * so libcurl keeps that chunk and delivers the very same bytes again after the transfer is
 * resumed (nothing is decoded twice, nothing is lost). A chunk is consumed whole once it is
 * accepted, so the queue can overshoot the high watermark by the events of one chunk; the
 * receive buffer (CURLOPT_BUFFERSIZE) is sized from the watermark to keep that small. The
 * consumer's tw_stream_take empties the queue and, if the transfer is paused, queues a RESUME
 * command; this thread then calls curl_easy_pause(CURLPAUSE_CONT) (libcurl requires the thread
 * that drives the multi handle), which may call the write callback right away with the chunk it
 * held back.
 *
 * libcurl 7.88.1 and pausing: the bugs reported around that release (curl #10988, #11982) are
 * about HTTP/2 streams and about transfers of unknown length being closed while paused when
 * their data had already been received in full. The path used here (pause by return value,
 * resume with CURLPAUSE_CONT on this thread, never pausing from another thread or via
 * curl_easy_pause(CURLPAUSE_RECV)) is exercised by tests/c/test_engine_pause.c on chunked and
 * close-delimited bodies of unknown length with thousands of pause/resume cycles. Two details
 * that matter with socket_action: a paused transfer's socket is taken out of the epoll set
 * (CURL_POLL_NONE / REMOVE), otherwise a peer that already closed its side would make
 * the level-triggered poller report a hang-up forever; and unpausing asks for an immediate timeout
 * (timer callback with 0 ms), which the loop honours on its next turn.
 */
#include "engine/engine_internal.h"
#include "tw_internal.h"
#include "tw_scan.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void finish_transfer(tw__io *io, tw_stream *s);

static double dmin(double a, double b) { return a < b ? a : b; }

/* ---- curl multi callbacks ------------------------------------------------------------------- */

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    tw__io *io = userp;
    unsigned want;
    (void)easy;
    if (what == CURL_POLL_REMOVE || what == CURL_POLL_NONE) {
        if (socketp) {
            tw__poller_del(io->poller, fd);
            curl_multi_assign(io->multi, fd, NULL);
        }
        return 0;
    }
    want = ((what & CURL_POLL_IN) ? TW__POLL_IN : 0u) |
           ((what & CURL_POLL_OUT) ? TW__POLL_OUT : 0u);
    if (socketp) {
        if (tw__poller_mod(io->poller, fd, want, NULL) == 0) return 0;
        if (errno != ENOENT) return 0;
    }
    if (tw__poller_add(io->poller, fd, want, NULL) != 0 && errno == EEXIST)
        tw__poller_mod(io->poller, fd, want, NULL);
    curl_multi_assign(io->multi, fd, (void *)1);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    tw__io *io = userp;
    (void)multi;
    io->curl_deadline = timeout_ms < 0 ? INFINITY : tw__now() + (double)timeout_ms * 1e-3;
    return 0;
}

/* ---- metrics from curl ---------------------------------------------------------------------- */

static void record_conn_info(tw_stream *s) {
    curl_off_t ct = 0, act = 0;
    long nconn = 1, ver = 0, status = 0, req_size = 0;
    int reused;
    curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &ct);
    curl_easy_getinfo(s->easy, CURLINFO_APPCONNECT_TIME_T, &act);
    curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &nconn);
    curl_easy_getinfo(s->easy, CURLINFO_HTTP_VERSION, &ver);
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(s->easy, CURLINFO_REQUEST_SIZE, &req_size);
    /* No new connection is also what a refused or unresolved one looks like: a reused
     * connection is one that no new connect was made for and that carried the request. */
    reused = nconn == 0 && (req_size > 0 || status > 0);
    if (!s->info_recorded && reused) atomic_fetch_add(&s->e->st_reused, 1);
    s->info_recorded = 1;
    pthread_mutex_lock(&s->lock);
    s->m.connect_time = (double)(act > ct ? act : ct) * 1e-6;
    s->m.connection_reused = reused;
    s->m.http_version = ver == CURL_HTTP_VERSION_2_0 ? 2 : ver == CURL_HTTP_VERSION_3 ? 3 : 1;
    s->m.http_status = status;
    pthread_mutex_unlock(&s->lock);
}

/* First body byte of an attempt: decide what the body is. */
static void classify_body(tw_stream *s, double now) {
    long code = 0;
    char *ct = NULL;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    s->status = code;
    if (code < 200 || code > 299) {
        s->mode = TW__MODE_ERRBODY;
    } else {
        curl_easy_getinfo(s->easy, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(s->content_type, sizeof s->content_type, "%s", ct ? ct : "");
        s->mode = (ct && !strncasecmp(ct, "application/json", 16)) ? TW__MODE_JSON
                                                                    : TW__MODE_STREAM;
        s->body_started = 1;
    }
    s->last_byte = s->last_event = now;
    pthread_mutex_lock(&s->lock);
    s->m.ttfb = now - s->t_start;
    s->m.streamed = s->mode == TW__MODE_STREAM;
    pthread_mutex_unlock(&s->lock);
    record_conn_info(s);
}

/* ---- bodies that are not event streams ------------------------------------------------------- */

/* Content types that no dialect reads: an HTML page (a captive portal, a proxy's or WAF's
 * answer, a wrong base URL) is refused at its first byte rather than read as a stream. Other
 * types are given the benefit of the doubt (servers label SSE text/plain, octet-stream...):
 * a body that yields no event at all is refused at its end (deliver_end_of_body). */
static int unreadable_type(const char *ct) {
    return !strncasecmp(ct, "text/html", 9) || !strncasecmp(ct, "application/xhtml", 17);
}

/* Ends the stream with a protocol error that says what came instead of events: the content
 * type and the first bytes (printable ASCII, the rest as '.'); raw = those bytes. */
static void deliver_not_a_stream(tw_stream *s, const char *why) {
    char msg[256], shown[sizeof s->head + 1];
    size_t i;
    tw_buf raw; /* the first bytes as valid UTF-8, like every event string */
    for (i = 0; i < s->head_len; i++)
        shown[i] = (s->head[i] >= 0x20 && s->head[i] < 0x7f) ? s->head[i] : '.';
    shown[i] = '\0';
    snprintf(msg, sizeof msg, "not an event stream (%s): HTTP %ld, content-type \"%s\", %llu body "
             "bytes, first bytes \"%s\"", why, s->status, s->content_type[0] ? s->content_type
             : "none", (unsigned long long)s->m.bytes, shown);
    tw_buf_init(&raw);
    if (tw__utf8_append(&raw, s->head, s->head_len) != TW_OK) raw.len = 0;
    tw__deliver_error(s, TW_KIND_PROTOCOL, (int)s->status, msg, raw.data, raw.len);
    tw_buf_free(&raw);
}

/* ---- the write callback --------------------------------------------------------------------- */

static size_t collect(tw_stream *s, const char *p, size_t n, size_t cap) {
    if (s->body_buf.len + n > cap) {
        size_t room = cap - s->body_buf.len;
        if (room) tw_buf_append(&s->body_buf, p, room);
        return 0; /* stop the transfer: handle_done reports what was collected */
    }
    if (tw_buf_append(&s->body_buf, p, n) != TW_OK) return 0;
    return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
    tw_stream *s = userdata;
    tw__io *io = s->io;
    size_t n = size * nmemb;
    double now;
    int first = 0;
    size_t published;
    tw_code rc;

    if (atomic_load_explicit(&s->cancel_requested, memory_order_relaxed))
        return 0; /* the cancel command (or handle_done) delivers the cancelled error */
    now = tw__now();
    if (s->state == TW__ST_DRAINING) {
        s->drain_bytes += n;
        return s->drain_bytes > TW__DRAIN_BYTES ? 0 : n;
    }
    if (s->mode == TW__MODE_UNKNOWN) {
        classify_body(s, now);
        first = 1;
    }
    s->last_byte = now;
    if (s->mode != TW__MODE_ERRBODY && s->head_len < sizeof s->head) {
        size_t k = sizeof s->head - s->head_len;
        if (k > n) k = n;
        memcpy(s->head + s->head_len, ptr, k);
        s->head_len += k;
    }
    if (first && s->mode == TW__MODE_STREAM && unreadable_type(s->content_type)) {
        pthread_mutex_lock(&s->lock);
        s->m.bytes += n;
        pthread_mutex_unlock(&s->lock);
        if (s->fallbacks) {
            s->fallback_pending = 1; /* handle_done hands over to the next request */
            return 0;
        }
        deliver_not_a_stream(s, "a content type no dialect reads");
        return 0; /* handle_done sees the terminal event and finishes the transfer */
    }
    if (s->mode != TW__MODE_STREAM) {
        size_t cap = s->mode == TW__MODE_ERRBODY ? TW__ERROR_BODY_CAP
                     : s->max_event_size         ? s->max_event_size
                                                 : TW_DEFAULT_MAX_EVENT_SIZE;
        pthread_mutex_lock(&s->lock);
        s->m.bytes += n;
        pthread_mutex_unlock(&s->lock);
        if (first) tw__heap_update(io, s);
        return collect(s, ptr, n, cap);
    }

    if (atomic_load_explicit(&s->qbytes, memory_order_relaxed) >= s->e->high) {
        /* Confirmed under the lock: the consumer may have just emptied the queue, and then
         * it would never send the resume command. */
        pthread_mutex_lock(&s->lock);
        if (tw_batch_bytes(s->queue) >= s->e->high) {
            /* Backpressure: keep the chunk in libcurl (redelivered after CURLPAUSE_CONT). */
            int newly = !s->pause_flag;
            if (newly) {
                s->pause_flag = 1;
                s->paused_since = now;
                s->pauses++;
                atomic_fetch_add(&s->e->st_paused, 1);
            }
            pthread_mutex_unlock(&s->lock);
            if (newly && s->paused_timeout > 0) tw__heap_update(io, s);
            return CURL_WRITEFUNC_PAUSE;
        }
        pthread_mutex_unlock(&s->lock);
    }

    rc = tw_decoder_feed(s->dec, ptr, n, tw__stage_event, s, NULL);
    if (rc == TW_ERR_NOMEM) s->stage_oom = 1;
    pthread_mutex_lock(&s->lock);
    s->m.bytes += n;
    published = tw__publish_locked(s, now);
    tw__after_push_locked(s);
    pthread_mutex_unlock(&s->lock);

    if (s->fallbacks && s->stage_terminal) {
        /* A provider error (or the like) before the first token, held back: the next request
         * of the chain takes over once libcurl reports this transfer done. */
        s->fallback_pending = 1;
        return 0;
    }

    if (s->stage_oom && !s->terminal_queued) {
        tw__deliver_error(s, TW_KIND_TRANSPORT, 0, "out of memory while decoding", NULL, 0);
        return 0;
    }
    if (published > 0) s->last_event = now;
    if (s->terminal_queued) {
        /* END or an error from the decoder. Only this thread sets terminal_queued, so the
         * unlocked read is safe. Let the response finish so the connection can be reused. */
        s->state = TW__ST_DRAINING;
        s->drain_deadline = now + TW__DRAIN_SECONDS;
        tw__heap_update(io, s);
    } else if (first) {
        tw__heap_update(io, s);
    }
    return n;
}

/* ---- transfers ------------------------------------------------------------------------------ */

static void link_stream(tw__io *io, tw_stream *s) {
    s->io_prev = NULL;
    s->io_next = io->streams;
    if (io->streams) io->streams->io_prev = s;
    io->streams = s;
    io->n_streams++;
}

static void unlink_stream(tw__io *io, tw_stream *s) {
    int linked = s->io_prev != NULL || io->streams == s;
    if (s->io_prev)
        s->io_prev->io_next = s->io_next;
    else if (io->streams == s)
        io->streams = s->io_next;
    if (s->io_next) s->io_next->io_prev = s->io_prev;
    if (linked) io->n_streams--;
    s->io_prev = s->io_next = NULL;
}

/* Receive buffer sized from the high watermark, 1 KiB .. 16 KiB (libcurl's default; 64 KiB
 * added ~6 KiB of RSS per stream at 1,000 streams and no throughput once the I/O loop
 * coalesces): one accepted chunk is what the queue may overshoot the watermark by. */
long tw__engine_buffer_size(const tw_engine *e) {
    size_t b = e->high / 64;
    if (b < 1024) b = 1024;
    if (b > 16384) b = 16384;
    return (long)b;
}

static CURLcode setup_easy(tw__io *io, tw_stream *s) {
    CURL *h = s->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                          \
    do {                                                                                       \
        if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val);                                \
    } while (0)
    SET(CURLOPT_URL, s->url);
    SET(CURLOPT_PRIVATE, (void *)s);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)s);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_SHARE, io->e->share);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_BUFFERSIZE, tw__engine_buffer_size(io->e));
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_USERAGENT, "tokenwire/" TW_VERSION_STRING);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_HTTPHEADER, s->headers);
    /* "Accept-Encoding: identity" (a compressed stream waits on the compressor), and decoding
     * on for whatever a server compresses anyway (gzip, deflate, br, zstd as libcurl has them):
     * compressed bytes never reach the decoder. A user's own Accept-Encoding header wins. */
    SET(CURLOPT_ACCEPT_ENCODING, "identity");
    if (s->connect_timeout > 0) SET(CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(s->connect_timeout * 1e3));
    if (s->http2) {
        SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        SET(CURLOPT_PIPEWAIT, 1L); /* wait for a connection that can multiplex */
    } else {
        SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    SET(CURLOPT_SSL_VERIFYPEER, s->verify_peer ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, s->verify_peer ? 2L : 0L);
    if (s->ca_file) {
        SET(CURLOPT_CAINFO, s->ca_file);
    } else if (s->verify_peer) {
        const char *ca_file, *ca_dir;
        tw__ca_defaults(&ca_file, &ca_dir);
        if (ca_file) SET(CURLOPT_CAINFO, ca_file);
        if (ca_dir) SET(CURLOPT_CAPATH, ca_dir);
    }
    if (!strcasecmp(s->method, "POST")) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
        SET(CURLOPT_POSTFIELDS, s->body ? s->body : "");
    } else if (!strcasecmp(s->method, "GET") && !s->body) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (!strcasecmp(s->method, "HEAD") && !s->body) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, s->method);
        if (s->body) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
            SET(CURLOPT_POSTFIELDS, s->body);
        }
    }
#undef SET
    return rc;
}

/* (Re)starts an attempt: the easy handle goes into the multi. @return 0 or -1 on failure
 * (the error has been delivered and the transfer finished). */
static int add_attempt(tw__io *io, tw_stream *s) {
    CURLMcode mc;
    s->mode = TW__MODE_UNKNOWN;
    s->status = 0;
    s->body_started = 0;
    s->info_recorded = 0;
    s->body_buf.len = 0;
    s->errbuf[0] = '\0';
    s->attempt_start = tw__now();
    mc = curl_multi_add_handle(io->multi, s->easy);
    if (mc != CURLM_OK) {
        char msg[128];
        snprintf(msg, sizeof msg, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        tw__deliver_error(s, TW_KIND_TRANSPORT, 0, msg, NULL, 0);
        s->state = TW__ST_WAIT_RETRY; /* not in the multi */
        finish_transfer(io, s);
        return -1;
    }
    s->state = TW__ST_RUNNING;
    tw__heap_update(io, s);
    return 0;
}

/* Sets the easy handle up from the stream's request and starts the first attempt; a failure
 * is the stream's transport error. */
static void setup_and_add(tw__io *io, tw_stream *s) {
    CURLcode rc = setup_easy(io, s);
    if (rc != CURLE_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "curl_easy_setopt: %s", curl_easy_strerror(rc));
        tw__deliver_error(s, TW_KIND_TRANSPORT, 0, msg, NULL, 0);
        finish_transfer(io, s);
        return;
    }
    add_attempt(io, s);
}

static void start_stream(tw__io *io, tw_stream *s) {
    s->easy = curl_easy_init();
    link_stream(io, s);
    s->state = TW__ST_WAIT_RETRY; /* "no handle in the multi" until add_attempt */
    if (!s->easy) {
        tw__deliver_error(s, TW_KIND_TRANSPORT, 0, "curl_easy_init failed", NULL, 0);
        finish_transfer(io, s);
        return;
    }
    setup_and_add(io, s);
}

/* Terminal bookkeeping: the terminal event must already be queued. Drops the I/O reference. */
static void finish_transfer(tw__io *io, tw_stream *s) {
    tw__heap_remove(io, s);
    if (s->easy) {
        if (s->state == TW__ST_RUNNING || s->state == TW__ST_DRAINING)
            curl_multi_remove_handle(io->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
    pthread_mutex_lock(&s->lock);
    if (s->pause_flag) {
        s->pause_flag = 0;
        atomic_fetch_sub(&s->e->st_paused, 1);
    }
    pthread_mutex_unlock(&s->lock);
    unlink_stream(io, s);
    s->state = TW__ST_DONE;
    tw__stream_unref(s);
}

static int can_retry(const tw_stream *s) {
    return s->attempt < s->max_retries && !s->body_started &&
           !atomic_load(&s->cancel_requested);
}

/* The Retry-After of the current answer, seconds (0 when none); recorded in the metrics. */
static double retry_after_of(tw_stream *s) {
    curl_off_t ra = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &ra);
    if (ra > 0) {
        pthread_mutex_lock(&s->lock);
        s->m.retry_after = (double)ra;
        pthread_mutex_unlock(&s->lock);
    }
    return ra > 0 ? (double)ra : 0;
}

/* 1 when the whole request (headers and body) went out before the failure: the server may
 * have acted on it, so it is retried only when the caller said so (retry_sent). */
static int request_sent(tw_stream *s) {
    long req = 0;
    curl_off_t up = 0;
    curl_easy_getinfo(s->easy, CURLINFO_REQUEST_SIZE, &req);
    curl_easy_getinfo(s->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    return req > 0 && up >= (curl_off_t)s->body_len;
}

/* @return 1 when a retry was scheduled. */
static int schedule_retry(tw__io *io, tw_stream *s, double now, double retry_after) {
    double delay;
    if (retry_after > TW__RETRY_AFTER_MAX) return 0; /* delivered, with the value */
    s->attempt++;
    delay = tw__retry_delay(io, s, retry_after);
    if (s->total_timeout > 0 && now + delay >= s->t_start + s->total_timeout) {
        s->attempt--;
        return 0; /* the retry could not start in time: report this failure now */
    }
    curl_multi_remove_handle(io->multi, s->easy);
    s->state = TW__ST_WAIT_RETRY;
    s->retry_at = now + delay;
    pthread_mutex_lock(&s->lock);
    s->m.retries = s->attempt;
    pthread_mutex_unlock(&s->lock);
    tw__heap_update(io, s);
    return 1;
}

static void deliver_http_error(tw_stream *s, double retry_after) {
    tw_buf scratch;
    tw_str msg = {NULL, 0};
    char *text, ra[96] = "";
    size_t cap;
    tw_event ev;
    tw_buf_init(&scratch);
    if (retry_after > TW__RETRY_AFTER_MAX)
        snprintf(ra, sizeof ra,
                 " (Retry-After: %.0f s, over the %.0f s a retry waits: not retried)",
                 retry_after, TW__RETRY_AFTER_MAX);
    else if (retry_after > 0)
        snprintf(ra, sizeof ra, " (Retry-After: %.0f s)", retry_after);
    if (s->body_buf.len) msg = tw_error_body_message(s->body_buf.data, s->body_buf.len, &scratch);
    cap = (msg.ptr ? msg.len : 48) + strlen(ra) + 1;
    text = malloc(cap);
    if (text) {
        if (msg.ptr)
            snprintf(text, cap, "%.*s%s", (int)msg.len, msg.ptr, ra);
        else
            snprintf(text, cap, "HTTP status %ld%s", s->status, ra);
    }
    tw_event_init(&ev);
    ev.type = TW_EV_ERROR;
    ev.error_kind = TW_KIND_HTTP;
    ev.status = (int32_t)s->status;
    if (text) {
        ev.text.ptr = text;
        ev.text.len = strlen(text);
    }
    if (s->body_buf.len) {
        ev.raw.ptr = s->body_buf.data;
        ev.raw.len = s->body_buf.len;
    }
    pthread_mutex_lock(&s->lock);
    tw__queue_push_locked(s, &ev, tw__now());
    tw__after_push_locked(s);
    pthread_mutex_unlock(&s->lock);
    free(text);
    tw_buf_free(&scratch);
}

/* Decodes and publishes the end of the body. @return 1 (nothing delivered) when the body
 * failed before the stream's first token and a fallback is waiting: the caller starts it;
 * 2 when a simulated stream is to be paced (s->pace): the caller starts the pacing. */
static int deliver_end_of_body(tw_stream *s) {
    tw_event ev;
    double now = tw__now();
    tw_code rc;
    if (s->mode == TW__MODE_JSON) {
        /* simdjson reads up to TW_JSON_PADDING bytes past the end: tw_buf keeps that room. */
        if (tw_buf_reserve(&s->body_buf, 0) == TW_OK)
            rc = tw_decoder_decode_body(s->dec, s->body_buf.data, s->body_buf.len,
                                        tw__stage_event, s, NULL);
        else
            rc = TW_ERR_NOMEM;
    } else {
        rc = tw_decoder_finish(s->dec, tw__stage_event, s, NULL);
        if (rc != TW_ERR_NOMEM && s->m.events == 0 && tw_batch_count(s->stage) == 1 &&
            tw_batch_get(s->stage, 0)->type == TW_EV_ERROR &&
            tw_batch_get(s->stage, 0)->error_kind == TW_KIND_PROTOCOL) {
            /* The decoder's "bytes but no event": say it with the content type. */
            tw_batch_clear(s->stage);
            s->stage_terminal = 0;
            if (s->fallbacks) return 1;
            deliver_not_a_stream(s, "no event in the body");
            return 0;
        }
    }
    if (rc == TW_ERR_NOMEM) s->stage_oom = 1;
    if (s->fallbacks && s->stage_terminal && !s->stage_oom) {
        const tw_event *last = tw_batch_get(s->stage, tw_batch_count(s->stage) - 1);
        if (last->type == TW_EV_ERROR) return 1; /* e.g. truncated, or a provider error */
    }
    if (s->fallbacks) {
        /* The body is over: whatever was held back is the answer (an empty one, say). */
        tw__request_free(s->fallbacks);
        s->fallbacks = NULL;
    }
    if (s->mode == TW__MODE_JSON && s->simulate_chars > 0 && !s->stage_oom &&
        tw_batch_count(s->stage) > 0) {
        if (tw__simulate_split(s) != TW_OK) {
            s->stage_oom = 1;
        } else if (s->simulate_interval > 0) {
            tw_batch_free(s->pace);
            s->pace = s->stage; /* released step by step by the timers */
            s->stage = NULL;
            s->pace_pos = 0;
            return 2;
        }
    }
    pthread_mutex_lock(&s->lock);
    tw__publish_locked(s, now);
    if (!s->terminal_queued && s->stage_oom) {
        tw_event_init(&ev);
        ev.type = TW_EV_ERROR;
        ev.error_kind = TW_KIND_TRANSPORT;
        ev.text.ptr = "out of memory while decoding";
        ev.text.len = strlen(ev.text.ptr);
        tw__queue_push_locked(s, &ev, now);
    }
    if (!s->terminal_queued) {
        /* The decoder ended without its own terminal (e.g. an empty 2xx body): end cleanly. */
        tw_event_init(&ev);
        ev.type = TW_EV_END;
        tw__queue_push_locked(s, &ev, now);
    }
    tw__after_push_locked(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* A step of a simulated stream (TW__ST_PACING): the next events out, the next step timed,
 * the stream finished after the last one (with an END if the answer had none). */
static void pace(tw__io *io, tw_stream *s, double now) {
    int r = tw__simulate_step(s, now);
    if (r == 0) {
        s->pace_next += s->simulate_interval;
        if (s->pace_next < now) s->pace_next = now + s->simulate_interval; /* never a burst */
        tw__heap_update(io, s);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (!s->terminal_queued) {
        tw_event ev;
        tw_event_init(&ev);
        if (r < 0 || s->stage_oom) {
            ev.type = TW_EV_ERROR;
            ev.error_kind = TW_KIND_TRANSPORT;
            ev.text.ptr = "out of memory while pacing a simulated stream";
            ev.text.len = strlen(ev.text.ptr);
        } else {
            ev.type = TW_EV_END;
        }
        tw__queue_push_locked(s, &ev, now);
        tw__after_push_locked(s);
    }
    pthread_mutex_unlock(&s->lock);
    finish_transfer(io, s);
}

/* The current request failed before the stream's first content event (after its own
 * retries): the next request of the chain takes over at once, with a fresh decoder, summary
 * and attempt count, under its own timeouts and retries. Nothing of the failed attempt
 * reached the consumer (held back by tw__publish_locked). */
static void start_fallback(tw__io *io, tw_stream *s) {
    tw__request *next = s->fallbacks;
    tw_decoder_opts dopts;
    tw_decoder *dec;
    tw_summary *sum;
    if (s->state == TW__ST_RUNNING || s->state == TW__ST_DRAINING)
        curl_multi_remove_handle(io->multi, s->easy);
    s->state = TW__ST_WAIT_RETRY; /* not in the multi */
    s->fallback_pending = 0;
    s->fallbacks = next->next;
    next->next = NULL;
    tw__request_swap(s, next);
    tw__request_free(next); /* now holding the failed request's fields */
    if (s->stage) tw_batch_clear(s->stage);
    s->stage_terminal = 0;
    s->head_len = 0;
    s->content_type[0] = '\0';
    s->attempt = 0;
    tw_decoder_opts_init(&dopts);
    dopts.max_event_size = s->max_event_size;
    dopts.json = io->json;
    dec = tw_decoder_new(s->dialect, &dopts, NULL);
    sum = tw_summary_new(s->accumulate, tw_dialect_indexes_choices(s->dialect));
    if (!dec || !sum) {
        tw_decoder_free(dec);
        tw_summary_free(sum);
        tw__deliver_error(s, TW_KIND_TRANSPORT, 0, "out of memory starting a fallback", NULL, 0);
        finish_transfer(io, s);
        return;
    }
    tw_decoder_free(s->dec);
    s->dec = dec;
    pthread_mutex_lock(&s->lock);
    tw_summary_free(s->sum); /* held back: nothing was added to it */
    s->sum = sum;
    s->m.fallback_index++;
    s->m.retries = 0;
    s->m.retry_after = 0;
    s->m.http_status = 0;
    s->m.streamed = 0;
    pthread_mutex_unlock(&s->lock);
    curl_easy_reset(s->easy);
    setup_and_add(io, s);
}

static void handle_done(tw__io *io, tw_stream *s, CURLcode rc) {
    double now = tw__now();
    if (s->state == TW__ST_DRAINING) {
        finish_transfer(io, s);
        return;
    }
    if (s->state != TW__ST_RUNNING) return;
    if (!s->info_recorded || s->status == 0) record_conn_info(s);
    if (s->status == 0) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    if (atomic_load(&s->cancel_requested)) {
        tw__deliver_error(s, TW_KIND_CANCELLED, 0, "cancelled", NULL, 0);
        finish_transfer(io, s);
        return;
    }
    if (s->fallback_pending) {
        start_fallback(io, s);
        return;
    }
    if (s->mode == TW__MODE_ERRBODY ||
        (rc == CURLE_OK && s->mode == TW__MODE_UNKNOWN && (s->status < 200 || s->status > 299))) {
        double ra = retry_after_of(s);
        if (tw__retryable(CURLE_OK, s->status) && can_retry(s) && schedule_retry(io, s, now, ra))
            return;
        if (s->fallbacks) {
            start_fallback(io, s);
            return;
        }
        deliver_http_error(s, ra);
        finish_transfer(io, s);
        return;
    }
    if (rc != CURLE_OK) {
        char msg[CURL_ERROR_SIZE + 160];
        int held_back = 0;
        if (tw__retryable(rc, 0) && can_retry(s)) {
            held_back = !s->retry_sent && request_sent(s);
            if (!held_back && schedule_retry(io, s, now, 0)) return;
        }
        if (s->fallbacks) {
            start_fallback(io, s);
            return;
        }
        snprintf(msg, sizeof msg, "%s%s%s%s", curl_easy_strerror(rc), s->errbuf[0] ? ": " : "",
                 s->errbuf,
                 held_back ? " (not retried: the whole request had been sent and may have "
                             "reached the server; retry_sent allows it)"
                           : "");
        if (rc == CURLE_WRITE_ERROR && s->mode == TW__MODE_JSON)
            snprintf(msg, sizeof msg, "JSON response larger than %zu bytes",
                     s->max_event_size ? s->max_event_size : TW_DEFAULT_MAX_EVENT_SIZE);
        tw__deliver_error(s,
                          rc == CURLE_OPERATION_TIMEDOUT ? TW_KIND_TIMEOUT
                          : rc == CURLE_WRITE_ERROR && s->mode == TW__MODE_JSON
                              ? TW_KIND_PROTOCOL
                              : TW_KIND_TRANSPORT,
                          0, msg, NULL, 0);
        finish_transfer(io, s);
        return;
    }
    switch (deliver_end_of_body(s)) {
    case 1:
        start_fallback(io, s);
        return;
    case 2:
        /* The transfer is over (its connection goes back to the pool); the events wait in
         * s->pace and go out one step per simulate_interval. */
        curl_multi_remove_handle(io->multi, s->easy);
        s->state = TW__ST_PACING;
        s->pace_next = now;
        pace(io, s, now);
        return;
    default:
        finish_transfer(io, s);
    }
}

/* A timeout of the current attempt: the next request of the chain when one waits (nothing
 * of this one reached the consumer), else the stream's end. */
static void attempt_timed_out(tw__io *io, tw_stream *s, const char *msg) {
    if (s->fallbacks) {
        start_fallback(io, s);
        return;
    }
    tw__deliver_error(s, TW_KIND_TIMEOUT, 0, msg, NULL, 0);
    finish_transfer(io, s);
}

static void on_deadline(tw__io *io, tw_stream *s, double now) {
    char msg[128];
    if (s->total_timeout > 0 && now >= s->t_start + s->total_timeout) {
        snprintf(msg, sizeof msg, "total timeout: stream exceeded %.3g s", s->total_timeout);
        tw__deliver_error(s, TW_KIND_TIMEOUT, 0, msg, NULL, 0);
        finish_transfer(io, s);
        return;
    }
    switch (s->state) {
    case TW__ST_WAIT_RETRY:
        if (now >= s->retry_at) {
            add_attempt(io, s);
            return;
        }
        break;
    case TW__ST_RUNNING:
        if (s->first_token_timeout > 0 && !s->first_content && !s->pause_flag &&
            now >= s->attempt_start + s->first_token_timeout) {
            snprintf(msg, sizeof msg, "first token timeout: no text, reasoning or tool call "
                     "within %.3g s", s->first_token_timeout);
            attempt_timed_out(io, s, msg);
            return;
        }
        if (s->mode == TW__MODE_UNKNOWN) {
            if (s->first_byte_timeout > 0 && now >= s->attempt_start + s->first_byte_timeout) {
                snprintf(msg, sizeof msg, "first byte timeout: no response body within %.3g s",
                         s->first_byte_timeout);
                attempt_timed_out(io, s, msg);
                return;
            }
        } else if (!s->pause_flag) {
            if (s->idle_timeout > 0 && now >= s->last_byte + s->idle_timeout) {
                snprintf(msg, sizeof msg, "idle timeout: no bytes for %.3g s", s->idle_timeout);
                attempt_timed_out(io, s, msg);
                return;
            }
            if (s->event_timeout > 0 && s->mode == TW__MODE_STREAM &&
                now >= s->last_event + s->event_timeout) {
                snprintf(msg, sizeof msg, "event timeout: no events for %.3g s",
                         s->event_timeout);
                attempt_timed_out(io, s, msg);
                return;
            }
        } else if (s->paused_timeout > 0 && now >= s->paused_since + s->paused_timeout) {
            snprintf(msg, sizeof msg,
                     "paused timeout: the consumer read nothing for %.3g s (transfer paused "
                     "with a full queue)", s->paused_timeout);
            tw__deliver_error(s, TW_KIND_TIMEOUT, 0, msg, NULL, 0);
            finish_transfer(io, s);
            return;
        }
        break;
    case TW__ST_DRAINING:
        if (now >= s->drain_deadline) {
            finish_transfer(io, s);
            return;
        }
        break;
    case TW__ST_PACING:
        if (now >= s->pace_next) {
            pace(io, s, now);
            return;
        }
        break;
    default:
        return;
    }
    tw__heap_update(io, s);
}

static void run_timers(tw__io *io) {
    double now = tw__now();
    tw_stream *s;
    while ((s = tw__heap_peek_due(io, now)) != NULL) {
        tw__heap_remove(io, s);
        on_deadline(io, s, now);
    }
}

/* ---- prewarm -------------------------------------------------------------------------------- */

/* Reads the prewarm answer to its end (so the connection stays reusable), up to 64 KiB. */
static size_t discard(char *p, size_t size, size_t nmemb, void *ud) {
    tw__prewarm *pw = ud;
    (void)p;
    pw->bytes += size * nmemb;
    return pw->bytes > 65536 ? 0 : size * nmemb;
}

/* An OPTIONS request: CONNECT_ONLY connections are never reused by libcurl, whereas a finished
 * keep-alive request leaves its connection (and TLS session, DNS entry) in the caches. Not HEAD:
 * a server that wrongly sends a body with its HEAD answer (the built-in mock did) leaves bytes
 * on the connection that the next request would read as its own answer; an OPTIONS answer's
 * body is read to its end like any other. */
static void start_prewarm(tw__io *io, tw__prewarm *p) {
    p->easy = curl_easy_init();
    if (!p->easy) {
        free(p->url);
        free(p);
        return;
    }
    curl_easy_setopt(p->easy, CURLOPT_URL, p->url);
    curl_easy_setopt(p->easy, CURLOPT_CUSTOMREQUEST, "OPTIONS");
    curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(p->easy, CURLOPT_SHARE, io->e->share);
    curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(p->easy, CURLOPT_USERAGENT, "tokenwire/" TW_VERSION_STRING);
    curl_easy_setopt(p->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(p->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, (void *)p);
    curl_easy_setopt(p->easy, CURLOPT_PRIVATE, NULL);
    {
        /* The CA settings of a request without ca_file: libcurl reuses a TLS connection only
         * for a transfer with the same ones. */
        const char *ca_file, *ca_dir;
        tw__ca_defaults(&ca_file, &ca_dir);
        if (ca_file) curl_easy_setopt(p->easy, CURLOPT_CAINFO, ca_file);
        if (ca_dir) curl_easy_setopt(p->easy, CURLOPT_CAPATH, ca_dir);
    }
    if (curl_multi_add_handle(io->multi, p->easy) != CURLM_OK) {
        curl_easy_cleanup(p->easy);
        free(p->url);
        free(p);
        return;
    }
    p->next = io->prewarms;
    io->prewarms = p;
}

/* @return 1 when easy was a prewarm transfer (now cleaned up). */
static int end_prewarm(tw__io *io, CURL *easy) {
    for (tw__prewarm **pp = &io->prewarms; *pp; pp = &(*pp)->next) {
        tw__prewarm *p = *pp;
        if (p->easy != easy) continue;
        *pp = p->next;
        curl_multi_remove_handle(io->multi, p->easy);
        curl_easy_cleanup(p->easy);
        free(p->url);
        free(p);
        return 1;
    }
    return 0;
}

tw_code tw__io_prewarm(tw__io *io, const char *url) {
    tw__prewarm *p = calloc(1, sizeof *p);
    int wake;
    if (!p) return TW_ERR_NOMEM;
    p->url = strdup(url);
    if (!p->url) {
        free(p);
        return TW_ERR_NOMEM;
    }
    pthread_mutex_lock(&io->cmd_lock);
    if (io->closed || io->stop) {
        pthread_mutex_unlock(&io->cmd_lock);
        free(p->url);
        free(p);
        return TW_ERR_CLOSED;
    }
    wake = io->prewarm_pending == NULL && io->cmd_head == NULL;
    p->next = io->prewarm_pending;
    io->prewarm_pending = p;
    pthread_mutex_unlock(&io->cmd_lock);
    if (wake) tw__io_wake(io);
    return TW_OK;
}

/* ---- commands ------------------------------------------------------------------------------- */

static void exec_cmd(tw__io *io, tw_stream *s, unsigned flags) {
    if (flags & TW__CMD_START && s->state == TW__ST_NEW) {
        if (atomic_load(&s->cancel_requested)) {
            tw__deliver_error(s, TW_KIND_CANCELLED, 0, "cancelled", NULL, 0);
            s->state = TW__ST_DONE;
            tw__stream_unref(s); /* the I/O reference: nothing was started */
            return;
        }
        start_stream(io, s);
    }
    if (flags & TW__CMD_CANCEL && s->state != TW__ST_DONE && s->state != TW__ST_NEW) {
        tw__deliver_error(s, TW_KIND_CANCELLED, 0, "cancelled", NULL, 0);
        finish_transfer(io, s);
    }
    if (flags & TW__CMD_RESUME) {
        int was;
        pthread_mutex_lock(&s->lock);
        s->resume_requested = 0;
        was = s->pause_flag && s->state == TW__ST_RUNNING;
        if (was) {
            s->pause_flag = 0;
            atomic_fetch_sub(&s->e->st_paused, 1);
        }
        pthread_mutex_unlock(&s->lock);
        if (was) {
            double now = tw__now();
            s->last_byte = s->last_event = now; /* idle timers restart now */
            tw__heap_update(io, s);
            /* May call on_write at once with the chunk that was refused. */
            curl_easy_pause(s->easy, CURLPAUSE_CONT);
        }
    }
}

/* @return 1 when the thread was asked to stop. */
static int process_commands(tw__io *io) {
    tw_stream *list, *s, *next;
    tw__prewarm *pw;
    int stop;
    pthread_mutex_lock(&io->cmd_lock);
    list = io->cmd_head;
    io->cmd_head = io->cmd_tail = NULL;
    for (s = list; s; s = s->cmd_next) {
        s->cmd_taken = s->cmd_flags;
        s->cmd_flags = 0;
        s->run_next = s->cmd_next;
    }
    pw = io->prewarm_pending;
    io->prewarm_pending = NULL;
    stop = io->stop;
    pthread_mutex_unlock(&io->cmd_lock);
    for (s = list; s; s = next) {
        next = s->run_next;
        exec_cmd(io, s, s->cmd_taken);
        tw__stream_unref(s); /* the command's reference */
    }
    while (pw) {
        tw__prewarm *n = pw->next;
        start_prewarm(io, pw);
        pw = n;
    }
    return stop;
}

static void read_done(tw__io *io) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(io->multi, &left)) != NULL) {
        tw_stream *s = NULL;
        if (msg->msg != CURLMSG_DONE) continue;
        if (end_prewarm(io, msg->easy_handle)) continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s) handle_done(io, s, msg->data.result);
    }
}

static void shutdown_io(tw__io *io) {
    tw_stream *list, *s, *next;
    tw__prewarm *pw;
    pthread_mutex_lock(&io->cmd_lock);
    io->closed = 1;
    list = io->cmd_head;
    io->cmd_head = io->cmd_tail = NULL;
    for (s = list; s; s = s->cmd_next) {
        s->cmd_taken = s->cmd_flags;
        s->cmd_flags = 0;
        s->run_next = s->cmd_next;
    }
    pw = io->prewarm_pending;
    io->prewarm_pending = NULL;
    pthread_mutex_unlock(&io->cmd_lock);
    for (s = list; s; s = next) {
        next = s->run_next;
        if (s->state == TW__ST_NEW) {
            tw__deliver_error(s, TW_KIND_CANCELLED, 0, "cancelled: engine closed", NULL, 0);
            s->state = TW__ST_DONE;
            tw__stream_unref(s); /* the I/O reference */
        }
        tw__stream_unref(s); /* the command's reference */
    }
    while (io->streams) {
        s = io->streams;
        tw__deliver_error(s, TW_KIND_CANCELLED, 0, "cancelled: engine closed", NULL, 0);
        finish_transfer(io, s);
    }
    while (pw) {
        tw__prewarm *n = pw->next;
        free(pw->url);
        free(pw);
        pw = n;
    }
    while (io->prewarms) end_prewarm(io, io->prewarms->easy);
    curl_multi_cleanup(io->multi);
    io->multi = NULL;
}

/* Interrupt moderation (tw_engine_opts.coalesce_us). With one chunk per TCP segment, a
 * loop turn per chunk costs a wakeup, a poller wait, a recv and a consumer wakeup each, and
 * on a busy core the consumer preempts this thread after every chunk. When socket events come
 * faster than one per window, this turn first waits out the rest of the window, so its recv
 * calls take everything that arrived meanwhile (up to curl's 16 KiB buffer) and the consumer
 * is woken once for the lot. Commands and timers are served after the wait, at most one
 * window late; the wait never passes the next timer deadline.
 *
 * Once a turn has waited like that the loop is "busy": the next turn sleeps to the end of its
 * window first and then takes whatever is ready without blocking, instead of blocking, waking
 * for the first socket event and then sleeping: one wakeup per window instead of two. A busy
 * turn that finds nothing ready falls back to the blocking wait. */
static double coalesce_window(const tw__io *io) {
    /* Many streams: a time slice (tw_engine_opts.tick_us) instead of the short window. */
    if (io->e->tick > io->e->coalesce && io->e->tick_streams > 0 &&
        io->n_streams >= (size_t)io->e->tick_streams)
        return io->e->tick;
    return io->e->coalesce;
}

static int has_socket_events(tw__io *io, const tw__poll_event *evs, int n) {
    for (int i = 0; i < n; i++)
        if (evs[i].fd != tw__wakeup_fd(&io->cmd)) return 1;
    return 0;
}

/* Sleeps until `until`, never past the next timer deadline. */
static void sleep_until(tw__io *io, double until) {
    double now = tw__now(), d;
    struct timespec ts;
    until = dmin(until, dmin(io->curl_deadline, tw__heap_next(io)));
    if (until <= now) return;
    d = until - now;
    ts.tv_sec = (time_t)d;
    ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* @return 1 if it waited (the caller re-polls for all that is ready). */
static int coalesce(tw__io *io, const tw__poll_event *evs, int n) {
    double window = coalesce_window(io), now, prev;
    if (window <= 0 || !has_socket_events(io, evs, n)) return 0;
    now = tw__now();
    prev = io->last_io_turn;
    io->last_io_turn = now;
    if (now - prev >= window) return 0; /* a quiet stream: deliver at once */
    sleep_until(io, prev + window);
    io->last_io_turn = tw__now();
    return 1;
}

/* The poller wait's timeout: the next timer deadline (curl's or the streams' heap). */
static int wait_timeout_ms(tw__io *io) {
    double now = tw__now(), next = dmin(io->curl_deadline, tw__heap_next(io)), ms;
    if (isinf(next)) return -1;
    if (next <= now) return 0;
    ms = ceil((next - now) * 1e3);
    return ms > (double)INT_MAX ? INT_MAX : (int)ms;
}

static void *io_main(void *arg) {
    tw__io *io = arg;
    tw__poll_event evs[128];
    const int cap = (int)(sizeof evs / sizeof evs[0]);
    int running = 0, stop = 0, busy = 0;
    char name[16];
    snprintf(name, sizeof name, "tw-io-%d", io->index);
    tw__thread_name(name); /* shows in top -H, perf, gdb */
    while (!stop) {
        int n = 0;
        if (busy) {
            double window = coalesce_window(io);
            busy = 0;
            if (window > 0) {
                sleep_until(io, io->last_io_turn + window);
                n = tw__poller_wait(io->poller, evs, cap, 0);
                if (n > 0 && has_socket_events(io, evs, n)) {
                    io->last_io_turn = tw__now();
                    busy = 1;
                }
            }
        }
        if (n == 0) {
            n = tw__poller_wait(io->poller, evs, cap, wait_timeout_ms(io));
            if (n > 0 && coalesce(io, evs, n)) { /* level-triggered: re-poll for all ready */
                n = tw__poller_wait(io->poller, evs, cap, 0);
                busy = 1;
            }
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].fd, mask = 0;
            if (fd == tw__wakeup_fd(&io->cmd)) {
                tw__wakeup_drain(&io->cmd);
                stop |= process_commands(io);
                continue;
            }
            if (evs[i].events & (TW__POLL_IN | TW__POLL_HUP | TW__POLL_RDHUP))
                mask |= CURL_CSELECT_IN;
            if (evs[i].events & TW__POLL_OUT) mask |= CURL_CSELECT_OUT;
            if (evs[i].events & TW__POLL_ERR) mask |= CURL_CSELECT_ERR;
            curl_multi_socket_action(io->multi, fd, mask, &running);
        }
        if (io->curl_deadline <= tw__now()) {
            io->curl_deadline = INFINITY; /* the timer callback may set a new one */
            curl_multi_socket_action(io->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        read_done(io);
        run_timers(io);
        tw__io_flush_ready(io);
    }
    shutdown_io(io);
    tw__io_flush_ready(io);
    return NULL;
}

/* ---- thread lifecycle ----------------------------------------------------------------------- */

void tw__io_wake(tw__io *io) { tw__wakeup_signal(&io->cmd); }

tw_code tw__io_init(tw__io *io, tw_engine *e, int index, tw_error *err) {
    sigset_t all, old;
    int rc, ecode;
    memset(io, 0, sizeof *io);
    io->e = e;
    io->index = index;
    io->cmd.rfd = io->cmd.wfd = -1;
    io->curl_deadline = INFINITY;
    io->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(uintptr_t)io) ^ (uint64_t)(tw__now() * 1e9);
    if (!io->rng) io->rng = 1;
    pthread_mutex_init(&io->cmd_lock, NULL);
    io->poller = tw__poller_new(e->poller);
    if (!io->poller || tw__wakeup_open(&io->cmd, e->pipe_wakeups) != 0) goto fail;
    io->multi = curl_multi_init();
    io->json = tw_json_new();
    if (!io->multi || !io->json) goto fail;
    if (tw__poller_add(io->poller, tw__wakeup_fd(&io->cmd), TW__POLL_IN, NULL) != 0) goto fail;
    curl_multi_setopt(io->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(io->multi, CURLMOPT_SOCKETDATA, io);
    curl_multi_setopt(io->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(io->multi, CURLMOPT_TIMERDATA, io);
    /* I/O threads take no signals: SIGINT/SIGTERM belong to the application's threads, and a
     * SIGPIPE raised by a write on a dead connection stays pending instead of killing us. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&io->thread, NULL, io_main, io);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        goto fail;
    }
    io->thread_started = 1;
    return TW_OK;
fail:
    ecode = errno;
    if (io->multi) curl_multi_cleanup(io->multi);
    io->multi = NULL;
    tw_json_free(io->json);
    io->json = NULL;
    tw__poller_free(io->poller);
    io->poller = NULL;
    tw__wakeup_close(&io->cmd);
    pthread_mutex_destroy(&io->cmd_lock);
    tw__errf(err, TW_ERR_TRANSPORT, "cannot start I/O thread %d: %s", index, strerror(ecode));
    return TW_ERR_TRANSPORT;
}

void tw__io_destroy(tw__io *io) {
    if (!io->thread_started) return;
    pthread_join(io->thread, NULL);
    io->thread_started = 0;
    tw_json_free(io->json); /* after the thread: only it parsed with it */
    io->json = NULL;
    tw__poller_free(io->poller);
    io->poller = NULL;
    tw__wakeup_close(&io->cmd);
    free(io->heap);
    io->heap = NULL;
    for (size_t i = 0; i < io->n_pending; i++) tw__sink_unref(io->pending[i]);
    free(io->pending);
    io->pending = NULL;
    io->n_pending = io->cap_pending = 0;
    pthread_mutex_destroy(&io->cmd_lock);
}
