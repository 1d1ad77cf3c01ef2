/*
 * errors.c - the exception classes and the one helper that makes every exception the binding
 * raises for a stream, a parser or the engine.
 *
 * tokenwire.Error is the base; below it one class per error kind of the core, the table built
 * from the core's kind names (tw_error_kind_name over 1 .. TW_KIND__LAST - 1): "timeout" gives
 * TimeoutError, "http" HTTPError, "cancelled" AbortError (so that `except tw.AbortError` and
 * `except asyncio.CancelledError` can never be confused). A kind the core adds later gets a
 * class too ("<Kind>Error") with a generic docstring. Every instance carries kind, status,
 * message, body and provider_type (None when not known); the classes carry kind as a class
 * attribute.
 */
#include "tw_py.h"

/* How the binding names and documents a kind; kinds not listed get the generic rule. */
static const struct {
    const char *kind;
    const char *name; /* NULL: the generic rule (capitalized kind + "Error") */
    const char *doc;
} kind_docs[] = {
    {"http", "HTTPError",
     "The server answered with a non-2xx status: .status is the HTTP status, .body the body, "
     ".message the provider's message (or 'HTTP status N')."},
    {"provider", NULL,
     "The provider sent an error inside a successful (2xx) stream: .message, .status (the "
     "provider's numeric code, if any), .provider_type (e.g. 'overloaded_error'), .body."},
    {"timeout", NULL,
     "A connect, first-byte, idle, event, total or paused timeout fired (see tokenwire.Timeout)."
     " Also a builtins.TimeoutError."},
    {"protocol", NULL,
     "The stream broke its framing or was not an event stream at all (.body has the first "
     "bytes). One malformed or oversized event is not raised: it is a recoverable 'error' "
     "event and the stream goes on."},
    {"cancelled", "AbortError",
     "The stream was cancelled (Stream.cancel(), a cancelled task, a closed merge) and is read "
     "again: synchronous iteration or final() after the cancel. Not asyncio.CancelledError, "
     "which a cancelled task raises as usual."},
    {"transport", NULL,
     "The connection failed or was reset (also: a stream started before fork(), read in the "
     "child)."},
    {"truncated", NULL,
     "The body ended before the dialect's end marker and without a finish reason: the answer "
     "is incomplete (every event received came before this)."},
};

static int set_class_attr(PyObject *cls, const char *name, PyObject *v) {
    int r = PyObject_SetAttrString(cls, name, v);
    return r;
}

static PyObject *make_class(PyObject *m, const char *name, const char *doc, PyObject *bases) {
    char full[64];
    PyObject *cls;
    snprintf(full, sizeof full, "tokenwire.%s", name);
    cls = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
    if (!cls) return NULL;
    if (PyModule_AddObject(m, name, Py_NewRef(cls)) < 0) {
        Py_DECREF(cls); /* the reference AddObject did not take */
        Py_DECREF(cls);
        return NULL;
    }
    return cls;
}

int tw_py_init_errors(PyObject *m) {
    TwState *st = tw_state;
    PyObject *classes = NULL;
    int k;
    st->errors[0] = make_class(m, "Error",
                               "Base class of every tokenwire error. Attributes: kind (the core's "
                               "error kind: 'http', 'provider', 'timeout', ...), status (HTTP "
                               "status or provider code, or None), message, body (the raw body or "
                               "data, or None), provider_type (the provider's error type, or "
                               "None).",
                               NULL);
    if (!st->errors[0]) return -1;
    if (set_class_attr(st->errors[0], "kind", Py_None) < 0 ||
        set_class_attr(st->errors[0], "status", Py_None) < 0 ||
        set_class_attr(st->errors[0], "message", Py_None) < 0 ||
        set_class_attr(st->errors[0], "body", Py_None) < 0 ||
        set_class_attr(st->errors[0], "provider_type", Py_None) < 0)
        return -1;
    classes = PyDict_New();
    if (!classes) return -1;
    for (k = 1; k < TW_KIND__LAST; k++) {
        const char *kind = tw_error_kind_name((tw_error_kind)k), *name = NULL, *doc = NULL;
        char gen_name[48], gen_doc[96];
        PyObject *bases, *cls;
        size_t i;
        for (i = 0; i < sizeof kind_docs / sizeof kind_docs[0]; i++) {
            if (!strcmp(kind_docs[i].kind, kind)) {
                name = kind_docs[i].name;
                doc = kind_docs[i].doc;
                break;
            }
        }
        if (!name) {
            snprintf(gen_name, sizeof gen_name, "%c%sError", kind[0] - ('a' <= kind[0] &&
                     kind[0] <= 'z' ? 32 : 0), kind + 1);
            name = gen_name;
        }
        if (!doc) {
            snprintf(gen_doc, sizeof gen_doc, "An error of kind '%s'.", kind);
            doc = gen_doc;
        }
        /* A timeout is also the builtin TimeoutError (`except TimeoutError` catches it). */
        bases = k == TW_KIND_TIMEOUT ? PyTuple_Pack(2, st->errors[0], PyExc_TimeoutError)
                                     : PyTuple_Pack(1, st->errors[0]);
        if (!bases) goto error;
        cls = make_class(m, name, doc, bases);
        Py_DECREF(bases);
        if (!cls) goto error;
        st->errors[k] = cls;
        if (set_class_attr(cls, "kind", st->kind_names[k]) < 0 ||
            PyDict_SetItem(classes, st->kind_names[k], cls) < 0)
            goto error;
    }
    if (PyModule_AddObject(m, "ERROR_CLASSES", classes) < 0) goto error;
    return 0;
error:
    Py_XDECREF(classes);
    return -1;
}

/*==============================================================================================
 * The helper
 *============================================================================================*/

static int set_attr(PyObject *o, PyObject *name, PyObject *v) {
    int r;
    if (!v) return -1;
    r = PyObject_SetAttr(o, name, v);
    Py_DECREF(v);
    return r;
}

static PyObject *opt_str(tw_str s) {
    if (!s.ptr) return Py_NewRef(Py_None);
    return tw_py_str(s);
}

PyObject *tw_py_error_new(tw_error_kind kind, int32_t status, tw_str message, tw_str body,
                          tw_str provider_type) {
    TwState *st = tw_state;
    PyObject *type, *exc = NULL, *msg;
    if ((int)kind < 0 || kind >= TW_KIND__LAST) kind = TW_KIND_NONE;
    type = st->errors[kind];
    if (message.len) {
        msg = tw_py_str(message);
    } else if (kind == TW_KIND_HTTP && status) {
        msg = PyUnicode_FromFormat("HTTP status %d", (int)status);
    } else {
        msg = PyUnicode_FromString(kind ? tw_error_kind_name(kind) : "error");
    }
    if (!msg) return NULL;
    exc = PyObject_CallOneArg(type, msg);
    if (!exc) goto error;
    if (set_attr(exc, st->str_kind, Py_NewRef(kind ? st->kind_names[kind] : Py_None)) < 0 ||
        set_attr(exc, st->str_status, status ? PyLong_FromLong(status) : Py_NewRef(Py_None)) <
            0 ||
        set_attr(exc, st->str_message_attr, Py_NewRef(msg)) < 0 ||
        set_attr(exc, st->str_body, opt_str(body)) < 0 ||
        set_attr(exc, st->str_provider_type, opt_str(provider_type)) < 0)
        goto error;
    Py_DECREF(msg);
    return exc;
error:
    Py_XDECREF(exc);
    Py_DECREF(msg);
    return NULL;
}

PyObject *tw_py_error_from_event(const tw_event *ev) {
    return tw_py_error_new(ev->error_kind, ev->status, ev->text, ev->raw, ev->name);
}

PyObject *tw_py_raise_error(PyObject *exc) {
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

PyObject *tw_py_raise_code(tw_code code, const tw_error *err) {
    const char *msg = (err && err->msg[0]) ? err->msg : tw_strerror(code);
    tw_str m = {msg, strlen(msg)}, none = {NULL, 0};
    /* The kind a failing code stands for is the core's (tw_code_error_kind): the same class
     * as an error event of that kind. Of the codes of no kind, an argument error is a
     * ValueError and a state error (closed, busy, forked) the base tokenwire.Error. */
    int kind = tw_code_error_kind(code);
    if (code == TW_ERR_NOMEM) return PyErr_NoMemory();
    if (code == TW_ERR_INVALID_ARG) {
        PyErr_SetString(PyExc_ValueError, msg);
        return NULL;
    }
    if (kind < 0 || kind >= TW_KIND__LAST) kind = TW_KIND_NONE;
    return tw_py_raise_error(
        tw_py_error_new((tw_error_kind)kind, err ? (int32_t)err->http_status : 0, m, none, none));
}
