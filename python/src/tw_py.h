/*
 * tw_py.h - internals shared by the C sources of the tokenwire._native extension.
 *
 * Layout (msgspec style): shims, module state, object structs, cross-file helpers. Every file
 * of python/src includes this header first. Nothing here is public API.
 */
#ifndef TW_PY_H
#define TW_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "tokenwire.h"

/*==============================================================================================
 * Shims
 *============================================================================================*/

#define TW_PY_310_PLUS (PY_VERSION_HEX >= 0x030a0000)
#define TW_PY_311_PLUS (PY_VERSION_HEX >= 0x030b0000)
#define TW_PY_312_PLUS (PY_VERSION_HEX >= 0x030c0000)

/** Takes the raised exception as an instance (new reference, NULL if none) and clears it. */
static inline PyObject *tw_py_fetch_exception(void) {
#if TW_PY_312_PLUS
    return PyErr_GetRaisedException();
#else
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (exc && tb) PyException_SetTraceback(exc, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return exc;
#endif
}

/** Raises exc again (stolen), as tw_py_fetch_exception took it. */
static inline void tw_py_restore_exception(PyObject *exc) {
#if TW_PY_312_PLUS
    PyErr_SetRaisedException(exc);
#else
    PyObject *type = (PyObject *)Py_TYPE(exc);
    Py_INCREF(type);
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));
#endif
}

#if !TW_PY_310_PLUS
static inline PyObject *Tw_NewRef(PyObject *o) { Py_INCREF(o); return o; }
#define Py_NewRef(o) Tw_NewRef((PyObject *)(o))
static inline PyObject *Tw_XNewRef(PyObject *o) { Py_XINCREF(o); return o; }
#define Py_XNewRef(o) Tw_XNewRef((PyObject *)(o))
static inline int Tw_AddObjectRef(PyObject *m, const char *name, PyObject *v) {
    Py_INCREF(v);
    if (PyModule_AddObject(m, name, v) < 0) {
        Py_DECREF(v);
        return -1;
    }
    return 0;
}
#define PyModule_AddObjectRef Tw_AddObjectRef
#endif

/*==============================================================================================
 * Module state
 *============================================================================================*/

/** Everything the module owns: exception types, interned strings, cached callables. */
typedef struct TwState {
    /* Exception classes by error kind: errors[0] is tokenwire.Error, errors[k] the class of
     * kind k (built from the core's kind names, errors.c). */
    PyObject *errors[TW_KIND__LAST];
    /* Interned names of event types (index = tw_event_type) and error kinds. */
    PyObject *type_names[TW_EV__LAST];
    PyObject *kind_names[TW_KIND__LAST];
    /* The core's name tables as tuples: EVENT_TYPES, ERROR_KINDS, DIALECTS, FORMATS,
     * FINISH_REASONS, AUTHS (what error messages list as the expected values). */
    PyObject *event_types;
    PyObject *error_kinds;
    PyObject *dialects;
    PyObject *formats;
    PyObject *finish_reasons;
    PyObject *auths;
    PyObject *json_loads; /* json.loads */
    PyObject *str_message;  /* "message": the default SSE event name */
    PyObject *str_empty;    /* "" */
    /* Interned method / attribute names. */
    PyObject *str_add_reader;
    PyObject *str_remove_reader;
    PyObject *str_create_future;
    PyObject *str_set_result;
    PyObject *str_set_exception;
    PyObject *str_add_done_callback;
    PyObject *str_cancelled;
    PyObject *str_done;
    PyObject *str_is_closed;
    PyObject *str_call_later;
    PyObject *str_cancel;
    PyObject *str_status;
    PyObject *str_body;
    PyObject *str_kind;
    PyObject *str_provider_type;
    PyObject *str_message_attr;
    PyObject *str_waiter_done;
    PyObject *str_heartbeat;
    PyObject *str_wake;
    PyObject *str_is_running;
    PyObject *str_call_soon_threadsafe;
    PyObject *get_running_loop; /* asyncio.get_running_loop (C implementation) */
    PyObject *get_running_loop_or_none; /* asyncio._get_running_loop: None, not an error */
} TwState;

/** The module state (the module is single-phase and lives until interpreter exit). */
extern TwState *tw_state;

/*==============================================================================================
 * Object types
 *============================================================================================*/

extern PyTypeObject Event_Type;
extern PyTypeObject SSEEvent_Type;
extern PyTypeObject SSEParser_Type;
extern PyTypeObject Decoder_Type;
extern PyTypeObject Encoder_Type;
extern PyTypeObject Format_Type;
extern PyTypeObject Done_Type;
extern PyTypeObject Engine_Type;
extern PyTypeObject Stream_Type;
extern PyTypeObject StreamIter_Type;
extern PyTypeObject Merge_Type;

/** tokenwire.Event: one normalized event. Strings are created when the event is. */
typedef struct EventObject {
    PyObject_HEAD
    int type;
    int kind;
    int32_t index;
    int32_t status;
    int recoverable; /* error: one bad event, the stream went on */
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t total_tokens;
    int64_t retry;
    PyObject *text; /* each NULL when absent */
    PyObject *id;
    PyObject *name;
    PyObject *arguments;
    PyObject *reason;
    PyObject *raw; /* str (bytes decoded with errors=replace) */
    PyObject *source;
} EventObject;

/** tokenwire.Format: a compiled template (format.c). */
typedef struct FormatObject {
    PyObject_HEAD
    tw_encoder *proto; /* compiled once; never encodes: Encoders get copies (new_like) */
    PyObject *spec;    /* str: the JSON text compiled */
} FormatObject;

/** An Encoder's link to a tokenwire._native.Tee (tee.c). */
typedef struct TwPyTeeLink TwPyTeeLink;

/** The encoder wrapper. */
typedef struct EncoderObject {
    PyObject_HEAD
    tw_encoder *enc;
    PyObject *format_obj;      /* the format name (str) or the Format it was made from */
    tw_buf out;                /* reused output buffer */
    PyObject *event_id_prefix; /* str or None: the stream id of the event ids */
    int messages;              /* one message per event: output taken as a list of str */
    TwPyTeeLink *tee;          /* NULL, or the tee each take appends to (Tee._attach) */
} EncoderObject;

/*==============================================================================================
 * Cross-file helpers
 *============================================================================================*/

/** New tokenwire.Event from a C event; source overrides ev->source when not NULL. */
PyObject *tw_py_event_new(const tw_event *ev, PyObject *source);
/** Fills a tw_event that borrows the strings of a tokenwire.Event. @return 0 or -1 (raised). */
int tw_py_event_to_c(EventObject *e, tw_event *out);
/** A str from UTF-8 bytes (invalid bytes replaced); "" for {NULL,0}. */
PyObject *tw_py_str(tw_str s);
/** A done awaitable whose result is value (stolen). NULL on error. */
PyObject *tw_py_done_new(PyObject *value);
/** Like tw_py_done_new, reusing *cache when nobody else holds it (cache keeps a reference). */
PyObject *tw_py_done_reuse(PyObject **cache, PyObject *value);
/** The one way exceptions are made (errors.c): an instance of kind's class with kind, status
 * (None when 0), message (a default from kind and status when empty), body and provider_type
 * (None when absent). Not raised. NULL on error. */
PyObject *tw_py_error_new(tw_error_kind kind, int32_t status, tw_str message, tw_str body,
                          tw_str provider_type);
/** The exception for a terminal error event (tw_py_error_new of its fields). */
PyObject *tw_py_error_from_event(const tw_event *ev);
/** Raises exc (stolen; NULL = an exception is already set). @return NULL. */
PyObject *tw_py_raise_error(PyObject *exc);
/** Raises the exception for a tw_code (with detail from err when given): MemoryError,
 * ValueError for TW_ERR_INVALID_ARG, else the class of the matching kind. @return NULL. */
PyObject *tw_py_raise_code(tw_code code, const tw_error *err);
/** What tw_py_summary_value reads. */
enum {
    TW_PY_SUM_TEXT = 0,   /* text of choice 0; None when not accumulated */
    TW_PY_SUM_REASONING,  /* reasoning of choice 0; None when not accumulated */
    TW_PY_SUM_FINISH,     /* finish reason of choice 0, normalized; None */
    TW_PY_SUM_FINISH_RAW, /* as the provider spelled it; None */
    TW_PY_SUM_MODEL,
    TW_PY_SUM_ID,
    TW_PY_SUM_USAGE,      /* {input_tokens, output_tokens, total_tokens} or None */
    TW_PY_SUM_TOOL_CALLS  /* [{index, id, name, arguments}] */
};
/** The summary as the dict of its JSON (tw_summary_to_json), summary.c. */
PyObject *tw_py_summary_dict(const tw_summary *s);
/** One value of the summary, the same as the dict's (text and reasoning None when the summary
 * does not keep them: tw_summary_accumulates). */
PyObject *tw_py_summary_value(const tw_summary *s, int what);
/** A dialect / format from its name, or 0 with ValueError naming the expected ones. */
int tw_py_dialect_arg(PyObject *name);
int tw_py_format_arg(PyObject *name);
/** A tw_auth from its name (tw_auth_from_name, aliases included; None = TW_AUTH_DIALECT), or
 * -1 with ValueError / TypeError. */
int tw_py_auth_arg(PyObject *name);
/** The encoder's output so far, emptied: bytes, or in messages mode a list of str (one per
 * message, as the core recorded them). NULL on error. */
PyObject *tw_py_encoder_take(EncoderObject *enc);
/** Raises MemoryError or the tw_code's exception after an encoder failure. */
int tw_py_encoder_encode(EncoderObject *e, const tw_event *ev);

int tw_py_init_errors(PyObject *m);
int tw_py_init_event(PyObject *m);
int tw_py_init_encoder(PyObject *m);
int tw_py_init_format(PyObject *m);
/** json.dumps(v) (NaN refused, UTF-8 kept) as the core takes JSON; a value json cannot write
 * raises ValueError "template: <what> is not JSON-serializable (...)", the cause chained. */
PyObject *tw_py_json_text(PyObject *v, const char *what);
/** [(name, value), ...] of a core header array (name, value, ..., NULL). */
PyObject *tw_py_headers_list(const char *const *h);
int tw_py_init_parsers(PyObject *m);
int tw_py_init_engine(PyObject *m);
int tw_py_init_consumer(PyObject *m);
int tw_py_init_stream(PyObject *m);
int tw_py_init_merge(PyObject *m);
int tw_py_init_tee(PyObject *m);
/** Tee hooks (tee.c), each only when enc->tee: appends what the encoder wrote since the last
 * take (called by tw_py_encoder_take before it empties enc->out); notes the relay's terminal
 * event (NULL = a clean end), recorded with the take that follows; unlinks (an end not seen is
 * recorded as cancelled). */
void tw_py_tee_on_take(EncoderObject *enc);
void tw_py_tee_on_terminal(EncoderObject *enc, const tw_event *ev);
void tw_py_tee_link_free(EncoderObject *enc);

#endif /* TW_PY_H */
