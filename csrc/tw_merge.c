/* tw_merge.c - framing of merged streams (the rule in tw_merge.h). */
#include "tw_merge.h"

#include <stdlib.h>

enum { SRC_STARTED = 1, SRC_COMPLETED = 2 };

struct tw_framer {
    size_t n, completed;
    unsigned char *state; /* SRC_* flags per source */
};

tw_framer *tw_framer_new(size_t n_sources) {
    tw_framer *f;
    if (n_sources == 0) return NULL;
    f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->state = calloc(n_sources, 1);
    if (!f->state) {
        free(f);
        return NULL;
    }
    f->n = n_sources;
    return f;
}

void tw_framer_free(tw_framer *f) {
    if (!f) return;
    free(f->state);
    free(f);
}

static int emit_marker(tw_event_type t, tw_str name, tw_event_fn emit, void *ud) {
    tw_event m;
    tw_event_init(&m);
    m.type = t;
    m.source = name;
    return emit(ud, &m);
}

tw_code tw_framer_push(tw_framer *f, size_t i, tw_str name, const tw_event *ev,
                       tw_event_fn emit, void *ud) {
    tw_event tagged;
    if (!f || !ev || !emit || i >= f->n) return TW_ERR_INVALID_ARG;
    if (f->state[i] & SRC_COMPLETED) return TW_OK;
    if (!(f->state[i] & SRC_STARTED)) {
        f->state[i] |= SRC_STARTED;
        if (emit_marker(TW_EV_AGENT_START, name, emit, ud)) return TW_ERR_CANCELLED;
    }
    if (ev->type != TW_EV_END) {
        tagged = *ev;
        tagged.source = name;
        if (emit(ud, &tagged)) return TW_ERR_CANCELLED;
    }
    if (tw_event_is_terminal(ev)) {
        f->state[i] |= SRC_COMPLETED;
        f->completed++;
        if (emit_marker(TW_EV_AGENT_COMPLETE, name, emit, ud)) return TW_ERR_CANCELLED;
    }
    return TW_OK;
}

tw_code tw_framer_close(tw_framer *f, size_t i, tw_str name, tw_event_fn emit, void *ud) {
    if (!f || !emit || i >= f->n) return TW_ERR_INVALID_ARG;
    if (f->state[i] & SRC_COMPLETED) return TW_OK;
    f->state[i] |= SRC_COMPLETED;
    f->completed++;
    if ((f->state[i] & SRC_STARTED) && emit_marker(TW_EV_AGENT_COMPLETE, name, emit, ud))
        return TW_ERR_CANCELLED;
    return TW_OK;
}

int tw_framer_started(const tw_framer *f, size_t i) {
    return f && i < f->n && (f->state[i] & SRC_STARTED);
}

int tw_framer_completed(const tw_framer *f, size_t i) {
    return f && i < f->n && (f->state[i] & SRC_COMPLETED);
}

int tw_framer_done(const tw_framer *f) { return f && f->completed == f->n; }
