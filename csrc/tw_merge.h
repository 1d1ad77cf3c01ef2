/*
 * tw_merge.h - how a merged stream frames its sources: the one rule that both bindings' merge
 * (Python tw.merge, Node tw.merge) and the relays follow. Included by tokenwire.h.
 *
 * For each source (an agent, by index and name), in the order events arrive:
 * - agent_start (source = name) just before the source's first event (a source that fails
 *   before sending anything gets it just before its error);
 * - each event, tagged with source = name; the source's END is not forwarded (its end is
 *   agent_complete), its terminal error is, and recoverable errors are, in place;
 * - agent_complete right after the source's terminal event.
 * The merged stream is done when every source has completed (tw_framer_done); a relay then
 * finishes its encoder once.
 */
#ifndef TW_MERGE_H
#define TW_MERGE_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_framer tw_framer;

/** @param n_sources sources are 0 .. n_sources-1. @return NULL on NOMEM or n_sources == 0.
 * Thread: any; one thread at a time per framer. Ownership: free with tw_framer_free. */
TW_API tw_framer *tw_framer_new(size_t n_sources);
TW_API void tw_framer_free(tw_framer *f);

/**
 * Frames one event of source i (named name): calls emit for each resulting event (borrowed,
 * valid during the call). Events of a source that already completed are ignored.
 * @return TW_OK, TW_ERR_INVALID_ARG (i out of range), or TW_ERR_CANCELLED when emit returned
 * non-zero (the rest of this call's events are not emitted).
 */
TW_API tw_code tw_framer_push(tw_framer *f, size_t i, tw_str name, const tw_event *ev,
                              tw_event_fn emit, void *userdata);

/**
 * Closes source i without a terminal event (cancelled on its own and not drained): emits
 * agent_complete if it had started (nothing otherwise) and counts it as completed.
 * @return as tw_framer_push.
 */
TW_API tw_code tw_framer_close(tw_framer *f, size_t i, tw_str name, tw_event_fn emit,
                               void *userdata);

/** 1 when source i has sent its first event / has completed. */
TW_API int tw_framer_started(const tw_framer *f, size_t i);
TW_API int tw_framer_completed(const tw_framer *f, size_t i);
/** 1 when every source has completed. */
TW_API int tw_framer_done(const tw_framer *f);

#ifdef __cplusplus
}
#endif

#endif /* TW_MERGE_H */
