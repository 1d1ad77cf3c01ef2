/*
 * app.c - an app's own events through any encoder (tw_encoder_send, tw_encoder_progress) and
 * the end of a relay of phases (tw_encoder_close): argument checks, the payload validated and
 * compacted once, then the format's writer (encoder.c's table). Wire shapes: tw_encoder.h.
 */
#include "encoders/encoder.h"
#include "tw_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TW__APP_NAME_MAX 256

tw_code tw__app_sse(const tw__app *a, tw_buf *out) {
    /* The name was checked: one line, so it cannot start another SSE field. */
    TW__TRY(TW__PUT(out, "event: "));
    TW__TRY(tw__put(out, a->name.ptr, a->name.len));
    TW__TRY(TW__PUT(out, "\ndata: "));
    TW__TRY(tw__put(out, a->json.ptr, a->json.len));
    return TW__PUT(out, "\n\n");
}

tw_code tw__app_ndjson(const tw__app *a, tw_buf *out) {
    TW__TRY(TW__PUT(out, "{\"event\":"));
    TW__TRY(tw_json_escape(out, a->name.ptr, a->name.len));
    TW__TRY(TW__PUT(out, ",\"data\":"));
    TW__TRY(tw__put(out, a->json.ptr, a->json.len));
    return TW__PUT(out, "}\n");
}

/* Checks the common arguments. @return TW_OK or the code, with err set. */
static tw_code check(tw_encoder *e, const char *name, size_t name_len, tw_buf *out,
                     tw_error *err) {
    if (!e || !out || (!name && name_len)) {
        tw__err(err, TW_ERR_INVALID_ARG, "app event: NULL argument");
        return TW_ERR_INVALID_ARG;
    }
    if (e->finished) {
        tw__err(err, TW_ERR_CLOSED, "app event: the relay is closed (its end was written)");
        return TW_ERR_CLOSED;
    }
    if (!name) return TW_OK;
    if (name_len == 0 || name_len > TW__APP_NAME_MAX || !tw__utf8_valid(name, name_len)) {
        tw__err(err, TW_ERR_INVALID_ARG, "app event: a name is 1-256 bytes of UTF-8");
        return TW_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < name_len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
            tw__err(err, TW_ERR_INVALID_ARG,
                    "app event: a name has no control characters (CR, LF, NUL...)");
            return TW_ERR_INVALID_ARG;
        }
    return TW_OK;
}

/* Validates and compacts json into e->app_json; a->json points there. */
static tw_code payload(tw_encoder *e, tw__app *a, const char *json, size_t json_len,
                       tw_error *err) {
    const char *why = NULL;
    tw_code rc;
    if (!json && json_len) {
        tw__err(err, TW_ERR_INVALID_ARG, "app event: NULL payload");
        return TW_ERR_INVALID_ARG;
    }
    e->app_json.len = 0;
    rc = tw__json_compact(&e->app_json, json ? json : "", json_len, &why);
    if (rc == TW_ERR_JSON)
        tw__errf(err, rc, "app event: the payload is not one JSON value (%s)",
                 why ? why : "malformed");
    else if (rc)
        tw__err(err, rc, "out of memory writing an app event");
    a->json = (tw_str){e->app_json.data, e->app_json.len};
    return rc;
}

static tw_code emit(tw_encoder *e, const tw__app *a, int close, tw_buf *out, tw_error *err) {
    tw_code rc = tw__encoder_app(e, a, close, out);
    if (rc) tw__err(err, rc, "out of memory writing an app event");
    else if (err) tw__err(err, TW_OK, "");
    return rc;
}

tw_code tw_encoder_send(tw_encoder *e, const char *name, size_t name_len, const char *json,
                        size_t json_len, tw_buf *out, tw_error *err) {
    tw__app a = {{name, name_len}, {NULL, 0}, 0};
    tw_code rc = check(e, name, name_len, out, err);
    if (!rc && !name) {
        tw__err(err, TW_ERR_INVALID_ARG, "app event: a name is required");
        rc = TW_ERR_INVALID_ARG;
    }
    if (rc || (rc = payload(e, &a, json, json_len, err))) return rc;
    return emit(e, &a, 0, out, err);
}

tw_code tw_encoder_progress(tw_encoder *e, double value, const char *status, size_t status_len,
                            tw_buf *out, tw_error *err) {
    tw__app a = {{"progress", 8}, {NULL, 0}, 1};
    char num[32];
    tw_code rc = check(e, NULL, 0, out, err);
    if (rc) return rc;
    if (!(value >= 0.0 && value <= 1.0) || (!status && status_len)) {
        tw__err(err, TW_ERR_INVALID_ARG, "progress: a value in [0, 1] (and a status or NULL)");
        return TW_ERR_INVALID_ARG;
    }
    /* The shortest text that reads back as the same double. */
    snprintf(num, sizeof num, "%.15g", value);
    if (strtod(num, NULL) != value) snprintf(num, sizeof num, "%.17g", value);
    e->app_json.len = 0;
    if ((rc = TW__PUT(&e->app_json, "{\"progress\":")) ||
        (rc = tw__put(&e->app_json, num, strlen(num))) ||
        (status && ((rc = TW__PUT(&e->app_json, ",\"status\":")) ||
                    (rc = tw_json_escape(&e->app_json, status, status_len)))) ||
        (rc = TW__PUT(&e->app_json, "}"))) {
        tw__err(err, rc, "out of memory writing an app event");
        return rc;
    }
    a.json = (tw_str){e->app_json.data, e->app_json.len};
    return emit(e, &a, 0, out, err);
}

tw_code tw_encoder_close(tw_encoder *e, const char *name, size_t name_len, const char *json,
                         size_t json_len, tw_buf *out, tw_error *err) {
    tw__app a = {{name, name_len}, {NULL, 0}, 0};
    tw_code rc = check(e, name, name_len, out, err);
    if (rc) return rc;
    if (!name) return emit(e, NULL, 1, out, err);
    if ((rc = payload(e, &a, json, json_len, err))) return rc;
    return emit(e, &a, 1, out, err);
}
