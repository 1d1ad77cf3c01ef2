/*
 * summary.c - a tw_summary (the core's one definition of what a stream said: csrc/tw_summary.h)
 * as Python values. The dict is the core's JSON (tw_summary_to_json) loaded with json.loads;
 * the single values read the same accessors that JSON is written from, so that both agree.
 */
#include "tw_py.h"

PyObject *tw_py_summary_dict(const tw_summary *s) {
    tw_buf b;
    tw_code c;
    PyObject *text, *d;
    tw_buf_init(&b);
    c = tw_summary_to_json(s, &b);
    if (c != TW_OK) {
        tw_buf_free(&b);
        return tw_py_raise_code(c, NULL);
    }
    text = PyUnicode_DecodeUTF8(b.data, (Py_ssize_t)b.len, "strict");
    tw_buf_free(&b);
    if (!text) return NULL;
    d = PyObject_CallOneArg(tw_state->json_loads, text);
    Py_DECREF(text);
    return d;
}

static PyObject *str_or_none(tw_str v) {
    if (!v.ptr) Py_RETURN_NONE;
    return tw_py_str(v);
}

PyObject *tw_py_summary_value(const tw_summary *s, int what) {
    switch (what) {
    case TW_PY_SUM_TEXT:
        /* Not kept (tw_summary_accumulates) is None, never "": that would say "empty". */
        if (!tw_summary_accumulates(s)) Py_RETURN_NONE;
        return tw_py_str(tw_summary_text(s, 0));
    case TW_PY_SUM_REASONING:
        if (!tw_summary_accumulates(s)) Py_RETURN_NONE;
        return tw_py_str(tw_summary_reasoning(s, 0));
    case TW_PY_SUM_FINISH: {
        const char *f = tw_finish_name(tw_summary_finish(s, 0));
        if (!f) Py_RETURN_NONE;
        return PyUnicode_InternFromString(f);
    }
    case TW_PY_SUM_FINISH_RAW:
        return str_or_none(tw_summary_finish_raw(s, 0));
    case TW_PY_SUM_MODEL:
        return str_or_none(tw_summary_model(s));
    case TW_PY_SUM_ID:
        return str_or_none(tw_summary_id(s));
    case TW_PY_SUM_USAGE: {
        int64_t in, out, total;
        if (!tw_summary_usage(s, &in, &out, &total)) Py_RETURN_NONE;
        return Py_BuildValue("{sNsNsN}", "input_tokens",
                             in < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(in),
                             "output_tokens",
                             out < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(out),
                             "total_tokens",
                             total < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(total));
    }
    case TW_PY_SUM_TOOL_CALLS: {
        size_t i, n = tw_summary_tool_calls(s);
        PyObject *list = PyList_New((Py_ssize_t)n);
        for (i = 0; list && i < n; i++) {
            tw_tool_call c;
            PyObject *d;
            tw_summary_tool_call(s, i, &c);
            d = Py_BuildValue("{sisNsNsN}", "index", (int)c.index, "id", str_or_none(c.id),
                              "name", str_or_none(c.name), "arguments", tw_py_str(c.arguments));
            if (!d) Py_CLEAR(list);
            else PyList_SET_ITEM(list, (Py_ssize_t)i, d);
        }
        return list;
    }
    default:
        PyErr_SetString(PyExc_SystemError, "bad summary field");
        return NULL;
    }
}
