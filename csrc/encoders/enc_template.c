/*
 * enc_template.c - app-shaped formats compiled from a declarative mapping, run in C.
 *
 * A backend's own vocabulary (event names, JSON shapes, constants) is described once as JSON
 * (schema in tw_encoder.h, tw_encoder_new_template) and compiled into a small program per
 * event type: literal bytes and slots. Encoding an event then writes the literals and each
 * slot's value; no per-token work happens outside C.
 *
 * A JSON string in a template that is exactly "{field}" becomes the field's JSON value (a
 * string, a number, null or an object); a string with text around slots interpolates each
 * field as text inside that string; "{{" and "}}" are literal braces.
 *
 * App events (app.c) run the "app" entries: the same programs, with the payload's slots
 * ({payload}, {payload.<key>}) read from the event's compacted payload (parsed only when an
 * entry names a key), or pass through when the spec does not list the name.
 */
#include "encoders/encoder.h"
#include "tw_internal.h"
#include "tw_json.h"
#include "tw_summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TW__IS(k, lit) ((k).len == sizeof(lit) - 1 && memcmp((k).ptr, (lit), (k).len) == 0)

static int str_is(tw_str k, const char *name) {
    size_t n = strlen(name);
    return k.len == n && memcmp(k.ptr, name, n) == 0;
}

/* ---- fields ------------------------------------------------------------------------------ */

enum field {
    F_TYPE,
    F_INDEX,
    F_TEXT,
    F_ID,
    F_NAME,
    F_ARGUMENTS,
    F_REASON,
    F_FINISH_REASON,
    F_INPUT_TOKENS,
    F_OUTPUT_TOKENS,
    F_TOTAL_TOKENS,
    F_KIND,
    F_STATUS,
    F_RAW,
    F_SOURCE,
    F_RECOVERABLE,
    F_SEQ,
    F_TEXT_SO_FAR,
    F_LENGTH,
    F_USAGE,
    F_SUMMARY,
    F_PAYLOAD, /* an app event's payload (null outside app entries) */
    F_PKEY,    /* payload.<key>: arg = the key's index in pkeys */
    F_CONST,   /* constants.<name>: arg = the constant's index */
    F__LAST
};

static const char *const field_names[F__LAST] = {
    [F_TYPE] = "type",
    [F_INDEX] = "index",
    [F_TEXT] = "text",
    [F_ID] = "id",
    [F_NAME] = "name",
    [F_ARGUMENTS] = "arguments",
    [F_REASON] = "reason",
    [F_FINISH_REASON] = "finish_reason",
    [F_INPUT_TOKENS] = "input_tokens",
    [F_OUTPUT_TOKENS] = "output_tokens",
    [F_TOTAL_TOKENS] = "total_tokens",
    [F_KIND] = "kind",
    [F_STATUS] = "status",
    [F_RAW] = "raw",
    [F_SOURCE] = "source",
    [F_RECOVERABLE] = "recoverable",
    [F_SEQ] = "seq",
    [F_TEXT_SO_FAR] = "text_so_far",
    [F_LENGTH] = "length",
    [F_USAGE] = "usage",
    [F_SUMMARY] = "summary",
    [F_PAYLOAD] = "payload",
};

/* ---- the compiled program ------------------------------------------------------------------- */

enum op_kind { OP_LIT, OP_JSON, OP_TEXT };

typedef struct op {
    enum op_kind kind;
    enum field field;
    size_t arg;          /* F_CONST: the constant */
    size_t off, len;     /* OP_LIT: bytes in tpl->lits */
} op;

typedef struct program {
    int present;         /* the spec maps this event type */
    size_t first, count; /* ops[first .. first + count) */
} program;

/* An "app" entry: the app event name it maps (raw JSON key text) and its program (absent:
 * listed as null, dropped). */
typedef struct app_entry {
    char *name;
    size_t len;
    program pr;
} app_entry;

typedef struct tpl_state {
    int ndjson; /* framing: 0 SSE, 1 NDJSON */
    program on[TW_EV__LAST];
    program finish; /* "finish": written once by tw_encoder_finish */
    op *ops;
    size_t n_ops, cap_ops;
    tw_buf lits;
    char **const_names;
    tw_buf *const_json; /* each constant's JSON text */
    size_t n_consts;
    size_t merge_floor; /* ops below this belong to another program: never merged into */
    app_entry *app;     /* the "app" entries other than "*" */
    size_t n_app;
    int star_listed; /* "app" has a "*" entry (its program absent: unlisted names dropped) */
    program star;
    char **pkeys; /* the payload keys slots name ({payload.<key>}) */
    size_t n_pkeys;
    /* while an app event is written */
    const tw__app *cur_app;
    tw_json *pj;
    tw_buf pdoc;
    /* per-stream values */
    uint64_t seq;
    tw_summary *sum;
    tw_buf tmp;
} tpl_state;

static tw_code add_op(tpl_state *t, op o) {
    if (t->n_ops == t->cap_ops) {
        size_t cap = t->cap_ops ? t->cap_ops * 2 : 32;
        op *p = realloc(t->ops, cap * sizeof *p);
        if (!p) return TW_ERR_NOMEM;
        t->ops = p;
        t->cap_ops = cap;
    }
    t->ops[t->n_ops++] = o;
    return TW_OK;
}

static tw_code add_lit(tpl_state *t, const char *p, size_t n) {
    op o = {OP_LIT, F_TYPE, 0, t->lits.len, n};
    if (!n) return TW_OK;
    /* Merge with the previous literal when adjacent. */
    if (t->n_ops > t->merge_floor && t->ops[t->n_ops - 1].kind == OP_LIT &&
        t->ops[t->n_ops - 1].off + t->ops[t->n_ops - 1].len == t->lits.len) {
        if (tw_buf_append(&t->lits, p, n)) return TW_ERR_NOMEM;
        t->ops[t->n_ops - 1].len += n;
        return TW_OK;
    }
    if (tw_buf_append(&t->lits, p, n)) return TW_ERR_NOMEM;
    return add_op(t, o);
}

/* Resolves a slot name. @return 0 with *f / *arg, or -1 when unknown. */
static int resolve(tpl_state *t, const char *p, size_t n, enum field *f, size_t *arg) {
    if (n > 8 && !memcmp(p, "payload.", 8)) {
        size_t i;
        char **keys;
        *f = F_PKEY;
        for (i = 0; i < t->n_pkeys; i++)
            if (strlen(t->pkeys[i]) == n - 8 && !memcmp(t->pkeys[i], p + 8, n - 8)) break;
        if (i == t->n_pkeys) {
            /* A key unknown until the payload comes: registered (NOMEM reads as unknown). */
            if (!(keys = realloc(t->pkeys, (t->n_pkeys + 1) * sizeof *keys))) return -1;
            t->pkeys = keys;
            if (!(keys[i] = tw__strndup(p + 8, n - 8))) return -1;
            t->n_pkeys++;
        }
        *arg = i;
        return 0;
    }
    if (n > 10 && !memcmp(p, "constants.", 10)) {
        for (size_t i = 0; i < t->n_consts; i++)
            if (strlen(t->const_names[i]) == n - 10 && !memcmp(t->const_names[i], p + 10, n - 10)) {
                *f = F_CONST;
                *arg = i;
                return 0;
            }
        return -1;
    }
    for (int i = 0; i < F_PKEY; i++)
        if (strlen(field_names[i]) == n && !memcmp(field_names[i], p, n)) {
            *f = (enum field)i;
            *arg = 0;
            return 0;
        }
    return -1;
}

/* Compiles one JSON string of a template (s: its unescaped text). */
static tw_code compile_string(tpl_state *t, tw_str s, tw_error *err) {
    size_t i = 0, lit_start;
    enum field f;
    size_t arg;
    tw_buf piece;
    tw_code rc = TW_OK;
    /* Exactly one slot: the field's own JSON value. */
    if (s.len > 2 && s.ptr[0] == '{' && s.ptr[s.len - 1] == '}' && s.ptr[1] != '{' &&
        !memchr(s.ptr + 1, '{', s.len - 2) && !memchr(s.ptr + 1, '}', s.len - 2)) {
        if (resolve(t, s.ptr + 1, s.len - 2, &f, &arg) != 0) goto unknown;
        return add_op(t, (op){OP_JSON, f, arg, 0, 0});
    }
    tw_buf_init(&piece);
    if ((rc = add_lit(t, "\"", 1))) return rc;
    lit_start = 0;
    while (i < s.len && rc == TW_OK) {
        char c = s.ptr[i];
        if ((c == '{' || c == '}') && i + 1 < s.len && s.ptr[i + 1] == c) {
            /* "{{" / "}}": one literal brace. */
            if ((rc = tw_buf_append(&piece, s.ptr + lit_start, i + 1 - lit_start))) break;
            i += 2;
            lit_start = i;
            continue;
        }
        if (c == '{') {
            const char *close = memchr(s.ptr + i, '}', s.len - i);
            if (!close) break; /* a lone brace is text */
            if (resolve(t, s.ptr + i + 1, (size_t)(close - s.ptr - i - 1), &f, &arg) != 0) {
                tw_buf_free(&piece);
                s.ptr += i;
                s.len = (size_t)(close - s.ptr) + 1;
                goto unknown;
            }
            if ((rc = tw_buf_append(&piece, s.ptr + lit_start, i - lit_start))) break;
            if (piece.len) {
                /* The literal text, escaped as JSON, without its quotes. */
                size_t at = t->tmp.len;
                if ((rc = tw_json_escape(&t->tmp, piece.data, piece.len))) break;
                rc = add_lit(t, t->tmp.data + at + 1, t->tmp.len - at - 2);
                t->tmp.len = at;
                piece.len = 0;
                if (rc) break;
            }
            if ((rc = add_op(t, (op){OP_TEXT, f, arg, 0, 0}))) break;
            i = (size_t)(close - s.ptr) + 1;
            lit_start = i;
            continue;
        }
        i++;
    }
    if (rc == TW_OK && (rc = tw_buf_append(&piece, s.ptr + lit_start, s.len - lit_start)) == 0 &&
        piece.len) {
        size_t at = t->tmp.len;
        if ((rc = tw_json_escape(&t->tmp, piece.data, piece.len)) == TW_OK)
            rc = add_lit(t, t->tmp.data + at + 1, t->tmp.len - at - 2);
        t->tmp.len = at;
    }
    tw_buf_free(&piece);
    return rc ? rc : add_lit(t, "\"", 1);
unknown:
    tw__errf(err, TW_ERR_INVALID_ARG, "template: unknown slot \"%.*s\"",
             (int)(s.len > 60 ? 60 : s.len), s.ptr);
    return TW_ERR_INVALID_ARG;
}

/* Compiles a JSON value of a template into ops. */
static tw_code compile_value(tpl_state *t, tw_json *j, tw_json_val *v, int depth, tw_error *err) {
    tw_json_iter it;
    tw_json_val c;
    tw_str k, raw;
    tw_code rc;
    int first = 1;
    if (depth > 32) {
        tw__err(err, TW_ERR_INVALID_ARG, "template: nested too deep");
        return TW_ERR_INVALID_ARG;
    }
    switch (tw_json_type_of(j, v)) {
    case TW_JSON_OBJECT:
        if ((rc = add_lit(t, "{", 1))) return rc;
        if (!tw_json_obj_begin(j, v, &it)) break;
        while (tw_json_obj_next(j, &it, &k, &c)) {
            if ((!first && (rc = add_lit(t, ",", 1))) || (rc = add_lit(t, "\"", 1)) ||
                (rc = add_lit(t, k.ptr, k.len)) || (rc = add_lit(t, "\":", 2)) ||
                (rc = compile_value(t, j, &c, depth + 1, err)))
                return rc;
            first = 0;
        }
        return add_lit(t, "}", 1);
    case TW_JSON_ARRAY:
        if ((rc = add_lit(t, "[", 1))) return rc;
        if (!tw_json_arr_begin(j, v, &it)) break;
        while (tw_json_arr_next(j, &it, &c)) {
            if ((!first && (rc = add_lit(t, ",", 1))) ||
                (rc = compile_value(t, j, &c, depth + 1, err)))
                return rc;
            first = 0;
        }
        return add_lit(t, "]", 1);
    case TW_JSON_STRING:
        if (!tw_json_get_str(j, v, &raw)) break;
        return compile_string(t, raw, err);
    default:
        if (!tw_json_get_raw(j, v, &raw)) break;
        return add_lit(t, raw.ptr, raw.len);
    }
    tw__err(err, TW_ERR_INVALID_ARG, "template: malformed JSON value");
    return TW_ERR_INVALID_ARG;
}

/* One entry of "events" (or "finish"): {"event": NAME, "data": TEMPLATE}. */
static tw_code compile_entry(tpl_state *t, tw_json *j, tw_json_val *v, program *pr,
                             tw_error *err) {
    tw_json_iter it;
    tw_json_val c;
    tw_str k, name = {NULL, 0};
    tw_code rc;
    int have_data = 0;
    if (tw_json_is_null(j, v)) return TW_OK; /* explicitly dropped */
    if (!tw_json_obj_begin(j, v, &it)) {
        tw__err(err, TW_ERR_INVALID_ARG, "template: an event entry is an object or null");
        return TW_ERR_INVALID_ARG;
    }
    pr->present = 1;
    pr->first = t->merge_floor = t->n_ops;
    while (tw_json_obj_next(j, &it, &k, &c)) {
        if (TW__IS(k, "event")) {
            if (!tw_json_get_str(j, &c, &name) || !name.len || memchr(name.ptr, '\n', name.len) ||
                memchr(name.ptr, '\r', name.len)) {
                tw__err(err, TW_ERR_INVALID_ARG, "template: \"event\" is a one-line name");
                return TW_ERR_INVALID_ARG;
            }
            if (!t->ndjson && ((rc = add_lit(t, "event: ", 7)) ||
                               (rc = add_lit(t, name.ptr, name.len)) ||
                               (rc = add_lit(t, "\n", 1))))
                return rc;
        } else if (TW__IS(k, "data")) {
            if ((!t->ndjson && (rc = add_lit(t, "data: ", 6))) ||
                (rc = compile_value(t, j, &c, 0, err)))
                return rc;
            have_data = 1;
        } else {
            tw__errf(err, TW_ERR_INVALID_ARG, "template: unknown key \"%.*s\" in an entry",
                     (int)(k.len > 40 ? 40 : k.len), k.ptr);
            return TW_ERR_INVALID_ARG;
        }
    }
    if (!have_data) {
        tw__err(err, TW_ERR_INVALID_ARG, "template: an entry needs \"data\"");
        return TW_ERR_INVALID_ARG;
    }
    if ((rc = add_lit(t, t->ndjson ? "\n" : "\n\n", t->ndjson ? 1 : 2))) return rc;
    pr->count = t->n_ops - pr->first;
    return TW_OK;
}

/* "app": {"<app event name>" | "*": entry | null, ...}. */
static tw_code compile_app(tpl_state *t, tw_json *j, tw_json_val *v, tw_error *err) {
    tw_json_iter it;
    tw_json_val c;
    tw_str k;
    tw_code rc = TW_OK;
    if (!tw_json_obj_begin(j, v, &it)) {
        tw__err(err, TW_ERR_INVALID_ARG, "template: \"app\" is an object");
        return TW_ERR_INVALID_ARG;
    }
    while (rc == TW_OK && tw_json_obj_next(j, &it, &k, &c)) {
        app_entry *a;
        if (TW__IS(k, "*")) {
            t->star_listed = 1;
            rc = compile_entry(t, j, &c, &t->star, err);
            continue;
        }
        if (!(a = realloc(t->app, (t->n_app + 1) * sizeof *a))) return TW_ERR_NOMEM;
        t->app = a;
        a += t->n_app;
        memset(a, 0, sizeof *a);
        if (!(a->name = tw__strndup(k.ptr, k.len))) return TW_ERR_NOMEM;
        a->len = k.len;
        t->n_app++;
        rc = compile_entry(t, j, &c, &a->pr, err);
    }
    return rc;
}

static tw_code compile(tpl_state *t, const char *spec, size_t len, tw_error *err) {
    tw_buf doc;
    tw_json *j = tw_json_new();
    tw_json_val root, v, ev, c;
    tw_json_iter it, eit;
    tw_str k, s;
    tw_code rc = TW_OK;
    tw_buf_init(&doc);
    if (!j || tw_buf_append(&doc, spec, len) || tw_buf_reserve(&doc, 0)) {
        tw_json_free(j);
        tw_buf_free(&doc);
        return TW_ERR_NOMEM;
    }
    /* Pass 1: framing and constants (slots refer to constants wherever they stand). */
    if (tw_json_parse(j, doc.data, doc.len, doc.cap, &root) != TW_OK) {
        tw__errf(err, TW_ERR_INVALID_ARG, "template: malformed JSON (%s)",
                 tw_json_error_message(j));
        rc = TW_ERR_INVALID_ARG;
        goto done;
    }
    if (!tw_json_obj_begin(j, &root, &it)) {
        tw__err(err, TW_ERR_INVALID_ARG,
                "template: the spec must be one JSON object (this is another value or malformed "
                "JSON)");
        rc = TW_ERR_INVALID_ARG;
        goto done;
    }
    while (rc == TW_OK && tw_json_obj_next(j, &it, &k, &v)) {
        if (TW__IS(k, "framing")) {
            if (!tw_json_get_str(j, &v, &s) || !(TW__IS(s, "sse") || TW__IS(s, "ndjson"))) {
                tw__err(err, TW_ERR_INVALID_ARG, "template: framing is \"sse\" or \"ndjson\"");
                rc = TW_ERR_INVALID_ARG;
            } else {
                t->ndjson = TW__IS(s, "ndjson");
            }
        } else if (TW__IS(k, "constants") && !tw_json_obj_begin(j, &v, &eit)) {
            tw__err(err, TW_ERR_INVALID_ARG, "template: \"constants\" is an object");
            rc = TW_ERR_INVALID_ARG;
        } else if (TW__IS(k, "constants")) {
            while (rc == TW_OK && tw_json_obj_next(j, &eit, &k, &c)) {
                tw_str raw;
                char **names = realloc(t->const_names, (t->n_consts + 1) * sizeof *names);
                tw_buf *vals = names ? realloc(t->const_json, (t->n_consts + 1) * sizeof *vals)
                                     : NULL;
                if (names) t->const_names = names;
                if (vals) t->const_json = vals;
                if (!names || !vals) {
                    rc = TW_ERR_NOMEM;
                    break;
                }
                tw_buf_init(&vals[t->n_consts]);
                names[t->n_consts] = tw__strndup(k.ptr, k.len);
                if (!names[t->n_consts]) {
                    rc = TW_ERR_NOMEM;
                    break;
                }
                t->n_consts++;
                if (!tw_json_get_raw(j, &c, &raw)) {
                    rc = TW_ERR_INVALID_ARG;
                    tw__err(err, rc, "template: malformed constant");
                    break;
                }
                /* Whitespace inside is fine in JSON, but not across SSE lines: minify. */
                if (tw_buf_reserve(&vals[t->n_consts - 1], raw.len)) {
                    rc = TW_ERR_NOMEM;
                    break;
                }
                vals[t->n_consts - 1].len =
                    tw_json_minify(raw.ptr, raw.len, vals[t->n_consts - 1].data);
            }
        } else if (!TW__IS(k, "events") && !TW__IS(k, "finish") && !TW__IS(k, "constants") &&
                   !TW__IS(k, "app")) {
            tw__errf(err, TW_ERR_INVALID_ARG, "template: unknown key \"%.*s\"",
                     (int)(k.len > 40 ? 40 : k.len), k.ptr);
            rc = TW_ERR_INVALID_ARG;
        } else {
            tw_str skip;
            tw_json_get_raw(j, &v, &skip);
        }
    }
    if (rc) goto done;
    /* Pass 2: the entries. */
    if (tw_json_rewind(j, &root) != TW_OK || !tw_json_obj_begin(j, &root, &it)) {
        /* Pass 1 stopped early: the document is cut short or malformed past its start. */
        tw__errf(err, TW_ERR_INVALID_ARG, "template: malformed JSON (%s)",
                 tw_json_error_message(j));
        rc = TW_ERR_INVALID_ARG;
        goto done;
    }
    while (rc == TW_OK && tw_json_obj_next(j, &it, &k, &v)) {
        if (TW__IS(k, "events")) {
            if (!tw_json_obj_begin(j, &v, &eit)) {
                tw__err(err, TW_ERR_INVALID_ARG, "template: \"events\" is an object");
                rc = TW_ERR_INVALID_ARG;
                break;
            }
            while (rc == TW_OK && tw_json_obj_next(j, &eit, &k, &ev)) {
                int type = 0;
                for (int ty = 1; ty < TW_EV__LAST; ty++)
                    if (str_is(k, tw_event_type_name((tw_event_type)ty))) type = ty;
                if (!type) {
                    tw__errf(err, TW_ERR_INVALID_ARG, "template: unknown event type \"%.*s\"",
                             (int)(k.len > 40 ? 40 : k.len), k.ptr);
                    rc = TW_ERR_INVALID_ARG;
                    break;
                }
                rc = compile_entry(t, j, &ev, &t->on[type], err);
            }
        } else if (TW__IS(k, "finish")) {
            rc = compile_entry(t, j, &v, &t->finish, err);
        } else if (TW__IS(k, "app")) {
            rc = compile_app(t, j, &v, err);
        } else {
            tw_str skip;
            tw_json_get_raw(j, &v, &skip);
        }
    }
done:
    if (rc == TW_OK && tw_json_end(j) != TW_OK) {
        tw__err(err, TW_ERR_INVALID_ARG, "template: malformed JSON");
        rc = TW_ERR_INVALID_ARG;
    }
    if (rc == TW_ERR_NOMEM) tw__err(err, rc, "out of memory compiling a template");
    tw_json_free(j);
    tw_buf_free(&doc);
    return rc;
}

/* ---- running it --------------------------------------------------------------------------- */

static tw_code put_num(tw_buf *out, int64_t v, int null_below_zero) {
    if (null_below_zero && v < 0) return TW__PUT(out, "null");
    return tw__put_i64(out, v);
}

/* The value of the top-level key pkeys[k] of the app event's payload (compact JSON, a slice
 * of t->pdoc). @return 1 found, 0 absent (or the payload is no object), -1 NOMEM. */
static int payload_key(tpl_state *t, size_t k, tw_str *raw) {
    const char *name = t->pkeys[k];
    size_t n = strlen(name);
    tw_json_val root, v;
    tw_json_iter it;
    tw_str key;
    if (!t->pj && !(t->pj = tw_json_new())) return -1;
    t->pdoc.len = 0;
    if (tw_buf_append(&t->pdoc, t->cur_app->json.ptr, t->cur_app->json.len) ||
        tw_buf_reserve(&t->pdoc, 0))
        return -1;
    if (tw_json_parse(t->pj, t->pdoc.data, t->pdoc.len, t->pdoc.cap, &root) != TW_OK ||
        !tw_json_obj_begin(t->pj, &root, &it))
        return 0;
    while (tw_json_obj_next(t->pj, &it, &key, &v)) {
        int hit = key.len == n && memcmp(key.ptr, name, n) == 0;
        if (!tw_json_get_raw(t->pj, &v, raw)) return 0;
        if (hit) return 1;
    }
    return 0;
}

/* Writes field f of ev; as_text: inside a string (escaped, no quotes). */
static tw_code put_field(tw_encoder *e, tpl_state *t, const op *o, const tw_event *ev,
                         tw_buf *out) {
    tw_str s = {NULL, 0};
    int is_str = 1;
    int64_t num = 0, in = -1, outt = -1, total = -1;
    size_t at;
    tw_code rc;
    (void)e;
    switch (o->field) {
    case F_TYPE:
        s.ptr = t->cur_app ? "app" : tw_event_type_name(ev->type);
        s.len = strlen(s.ptr);
        break;
    case F_INDEX: is_str = 0; num = ev->index; break;
    case F_TEXT: s = ev->text; break;
    case F_ID: s = ev->id; break;
    case F_NAME: s = t->cur_app ? t->cur_app->name : ev->name; break;
    case F_PAYLOAD:
    case F_PKEY: {
        tw_str raw = {NULL, 0};
        int found = 0;
        if (t->cur_app && o->field == F_PAYLOAD) {
            raw = t->cur_app->json;
            found = 1;
        } else if (t->cur_app && (found = payload_key(t, o->arg, &raw)) < 0) {
            return TW_ERR_NOMEM;
        }
        if (!found) return o->kind == OP_JSON ? TW__PUT(out, "null") : TW_OK;
        if (o->kind == OP_JSON) return tw__put(out, raw.ptr, raw.len);
        /* As text (as a constant is): a string without its quotes (escaped already), any
         * other value as its JSON text, escaped. */
        if (raw.len >= 2 && raw.ptr[0] == '"') return tw__put(out, raw.ptr + 1, raw.len - 2);
        s = raw;
        break;
    }
    case F_ARGUMENTS: s = ev->arguments; break;
    case F_REASON: s = ev->reason; break;
    case F_FINISH_REASON: {
        const char *f = tw_finish_name(tw_summary_finish(t->sum, 0));
        if (f) s = (tw_str){f, strlen(f)};
        break;
    }
    case F_INPUT_TOKENS: is_str = 0; num = ev->input_tokens; break;
    case F_OUTPUT_TOKENS: is_str = 0; num = ev->output_tokens; break;
    case F_TOTAL_TOKENS: is_str = 0; num = ev->total_tokens; break;
    case F_KIND:
        if (ev->type == TW_EV_ERROR) {
            const char *k = tw_error_kind_name(ev->error_kind);
            s = (tw_str){k, strlen(k)};
        }
        break;
    case F_STATUS: is_str = 0; num = ev->status; break;
    case F_RAW: s = ev->raw; break;
    case F_SOURCE: s = ev->source; break;
    case F_RECOVERABLE:
        return o->kind == OP_TEXT ? TW__PUT(out, "") : ev->recoverable ? TW__PUT(out, "true")
                                                                       : TW__PUT(out, "false");
    case F_SEQ: is_str = 0; num = (int64_t)t->seq; break;
    case F_TEXT_SO_FAR: s = tw_summary_text(t->sum, 0); break;
    case F_LENGTH: is_str = 0; num = (int64_t)tw_summary_text_bytes(t->sum, 0); break;
    case F_USAGE:
        if (o->kind == OP_TEXT) return TW_OK;
        if (!tw_summary_usage(t->sum, &in, &outt, &total)) return TW__PUT(out, "null");
        if ((rc = TW__PUT(out, "{\"input_tokens\":")) || (rc = put_num(out, in, 1)) ||
            (rc = TW__PUT(out, ",\"output_tokens\":")) || (rc = put_num(out, outt, 1)) ||
            (rc = TW__PUT(out, ",\"total_tokens\":")) || (rc = put_num(out, total, 1)))
            return rc;
        return TW__PUT(out, "}");
    case F_SUMMARY:
        return o->kind == OP_TEXT ? TW_OK : tw_summary_to_json(t->sum, out);
    case F_CONST: {
        const tw_buf *c = &t->const_json[o->arg];
        if (o->kind == OP_JSON) return tw__put(out, c->data, c->len);
        /* As text: a string constant without its quotes (already escaped), anything else
         * as its JSON text escaped (it sits inside a string: {"id":7} needs its quotes
         * escaped). */
        if (c->len >= 2 && c->data[0] == '"') return tw__put(out, c->data + 1, c->len - 2);
        s = (tw_str){c->data, c->len};
        break;
    }
    default: break;
    }
    if (!is_str) {
        /* Token counts and other absent numbers are null (-1 means "not given"). */
        int nullable = o->field == F_INPUT_TOKENS || o->field == F_OUTPUT_TOKENS ||
                       o->field == F_TOTAL_TOKENS;
        if (o->kind == OP_TEXT && nullable && num < 0) return TW_OK;
        return put_num(out, num, nullable);
    }
    if (o->kind == OP_JSON) {
        if (!s.ptr && o->field != F_TEXT && o->field != F_TEXT_SO_FAR) return TW__PUT(out, "null");
        return tw_json_escape(out, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
    }
    if (!s.len) return TW_OK;
    at = out->len;
    if ((rc = tw_json_escape(out, s.ptr, s.len))) return rc;
    /* Drop the quotes: the text goes inside a string of the template. */
    memmove(out->data + at, out->data + at + 1, out->len - at - 2);
    out->len -= 2;
    return TW_OK;
}

static tw_code run(tw_encoder *e, tpl_state *t, const program *pr, const tw_event *ev,
                   tw_buf *out) {
    tw_code rc = TW_OK;
    for (size_t i = pr->first; i < pr->first + pr->count && rc == TW_OK; i++) {
        const op *o = &t->ops[i];
        rc = o->kind == OP_LIT ? tw__put(out, t->lits.data + o->off, o->len)
                               : put_field(e, t, o, ev, out);
    }
    if (rc == TW_OK) t->seq++;
    return rc;
}

tw_code tw__template_encode(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    tpl_state *t = e->state;
    if (tw_summary_add(t->sum, ev) != TW_OK) return TW_ERR_NOMEM;
    if (!t->on[ev->type].present) return TW_OK;
    return run(e, t, &t->on[ev->type], ev, out);
}

tw_code tw__template_app(tw_encoder *e, const tw__app *a, tw_buf *out) {
    tpl_state *t = e->state;
    const program *pr = NULL;
    tw_event none;
    tw_code rc;
    for (size_t i = 0; i < t->n_app && !pr; i++)
        if (t->app[i].len == a->name.len && !memcmp(t->app[i].name, a->name.ptr, a->name.len))
            pr = &t->app[i].pr;
    if (!pr && t->star_listed) pr = &t->star;
    if (!pr) {
        /* Unlisted and no "*": passed through in the template's framing. */
        rc = t->ndjson ? tw__app_ndjson(a, out) : tw__app_sse(a, out);
        if (rc == TW_OK) t->seq++;
        return rc;
    }
    if (!pr->present) return TW_OK; /* mapped to null: dropped */
    tw_event_init(&none);
    none.type = TW_EV_RAW;
    t->cur_app = a;
    rc = run(e, t, pr, &none, out);
    t->cur_app = NULL;
    return rc;
}

tw_code tw__template_close(tw_encoder *e, const tw__app *final, tw_buf *out) {
    tpl_state *t = e->state;
    tw_event none;
    if (final) return tw__template_app(e, final, out);
    if (!t->finish.present) return TW_OK;
    tw_event_init(&none);
    none.type = TW_EV_END;
    return run(e, t, &t->finish, &none, out);
}

void tw__template_free(tw_encoder *e) {
    tpl_state *t = e->state;
    if (!t) return;
    free(t->ops);
    tw_buf_free(&t->lits);
    for (size_t i = 0; i < t->n_consts; i++) {
        free(t->const_names[i]);
        tw_buf_free(&t->const_json[i]);
    }
    free(t->const_names);
    free(t->const_json);
    tw_summary_free(t->sum);
    tw_buf_free(&t->tmp);
    for (size_t i = 0; i < t->n_app; i++) free(t->app[i].name);
    free(t->app);
    for (size_t i = 0; i < t->n_pkeys; i++) free(t->pkeys[i]);
    free(t->pkeys);
    tw_json_free(t->pj);
    tw_buf_free(&t->pdoc);
    free(t);
    e->state = NULL;
}

/* A fresh copy of src's compiled program for dst (tw_encoder_new_like): the program is copied,
 * the per-stream values (seq, summary) start anew. On failure dst->state is what
 * tw__template_free releases. */
tw_code tw__template_copy(tw_encoder *dst, const tw_encoder *src) {
    const tpl_state *s = src->state;
    tpl_state *t = calloc(1, sizeof *t);
    if (!t) return TW_ERR_NOMEM;
    dst->state = t;
    dst->sse = src->sse;
    t->ndjson = s->ndjson;
    memcpy(t->on, s->on, sizeof t->on);
    t->finish = s->finish;
    t->merge_floor = s->merge_floor;
    if (!(t->sum = tw_summary_new(1, 0))) return TW_ERR_NOMEM;
    if (s->n_ops) {
        if (!(t->ops = malloc(s->n_ops * sizeof *t->ops))) return TW_ERR_NOMEM;
        memcpy(t->ops, s->ops, s->n_ops * sizeof *t->ops);
        t->n_ops = t->cap_ops = s->n_ops;
    }
    if (tw_buf_append(&t->lits, s->lits.data, s->lits.len)) return TW_ERR_NOMEM;
    t->star_listed = s->star_listed;
    t->star = s->star;
    if (s->n_app) {
        if (!(t->app = calloc(s->n_app, sizeof *t->app))) return TW_ERR_NOMEM;
        for (size_t i = 0; i < s->n_app; i++) {
            t->n_app = i + 1; /* counted first: freed with the rest on failure */
            t->app[i] = s->app[i];
            if (!(t->app[i].name = tw__strndup(s->app[i].name, s->app[i].len)))
                return TW_ERR_NOMEM;
        }
    }
    if (s->n_pkeys) {
        if (!(t->pkeys = calloc(s->n_pkeys, sizeof *t->pkeys))) return TW_ERR_NOMEM;
        for (size_t i = 0; i < s->n_pkeys; i++) {
            t->n_pkeys = i + 1;
            if (!(t->pkeys[i] = tw__strndup(s->pkeys[i], strlen(s->pkeys[i]))))
                return TW_ERR_NOMEM;
        }
    }
    if (s->n_consts) {
        t->const_names = calloc(s->n_consts, sizeof *t->const_names);
        t->const_json = calloc(s->n_consts, sizeof *t->const_json);
        if (!t->const_names || !t->const_json) return TW_ERR_NOMEM;
        for (size_t i = 0; i < s->n_consts; i++) {
            tw_buf_init(&t->const_json[i]);
            t->n_consts = i + 1; /* counted first: freed with the rest on failure */
            t->const_names[i] = tw__strndup(s->const_names[i], strlen(s->const_names[i]));
            if (!t->const_names[i] ||
                tw_buf_append(&t->const_json[i], s->const_json[i].data, s->const_json[i].len))
                return TW_ERR_NOMEM;
        }
    }
    return TW_OK;
}

tw_code tw__template_set_constant(tw_encoder *e, tw_str name, tw_str json, tw_error *err) {
    tpl_state *t = e->state;
    tw_buf v;
    const char *why = NULL;
    tw_code rc;
    for (size_t i = 0; i < t->n_consts; i++) {
        if (strlen(t->const_names[i]) != name.len || memcmp(t->const_names[i], name.ptr, name.len))
            continue;
        /* Compacted: a value goes on one SSE data line like the spec's own. */
        tw_buf_init(&v);
        rc = tw__json_compact(&v, json.ptr, json.len, &why);
        if (rc) {
            tw_buf_free(&v);
            if (rc == TW_ERR_JSON)
                tw__errf(err, TW_ERR_INVALID_ARG, "template: constant \"%.*s\" is not one JSON "
                         "value (%s)", (int)(name.len > 40 ? 40 : name.len), name.ptr,
                         why ? why : "malformed");
            else
                tw__err(err, rc, "out of memory setting a constant");
            return rc == TW_ERR_JSON ? TW_ERR_INVALID_ARG : rc;
        }
        tw_buf_free(&t->const_json[i]);
        t->const_json[i] = v;
        return TW_OK;
    }
    tw__errf(err, TW_ERR_INVALID_ARG, "template: unknown constant \"%.*s\" (a constant is "
             "declared under \"constants\" in the spec)", (int)(name.len > 40 ? 40 : name.len),
             name.ptr);
    return TW_ERR_INVALID_ARG;
}

tw_code tw__template_compile(tw_encoder *e, const char *spec, size_t len, tw_error *err) {
    tpl_state *t = calloc(1, sizeof *t);
    tw_code rc;
    if (!t) return TW_ERR_NOMEM;
    e->state = t;
    t->sum = tw_summary_new(1, 0);
    if (!t->sum) return TW_ERR_NOMEM;
    rc = compile(t, spec, len, err);
    e->sse = !t->ndjson;
    return rc;
}
