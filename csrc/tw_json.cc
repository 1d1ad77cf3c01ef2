/*
 * tw_json.cc - the C surface of tw_json.h over simdjson on-demand (Debian libsimdjson-dev 3.0).
 * Built with -fno-exceptions: only simdjson's error-code API is used, and nothing can throw
 * across the extern "C" boundary (allocations use std::nothrow).
 */
#include "tw_json.h"

#include <simdjson.h>

#include <cstdlib>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstring>
#include <new>
#include <type_traits>

using namespace simdjson;
using ondemand::json_type;

static_assert(TW_JSON_PADDING >= SIMDJSON_PADDING, "TW_JSON_PADDING must cover simdjson's");

namespace {

/* A tw_json_val holds, without copying it out (copies of freshly written iterator state stall
 * store forwarding and measured as the decoder's main cost), one of:
 *   K_FIELD: the simdjson_result<field> an object iterator produced (value = first.second),
 *   K_ELEM:  the simdjson_result<value> an array iterator produced (value = first),
 *   K_ROOT:  the document root (simdjson handles it apart: the root object/array checks its
 *            closing bracket, and scalars cannot be values).
 * The results are constructed in place (C++17 guaranteed copy elision). */
enum : uint32_t { K_ROOT = 0, K_FIELD = 1, K_ELEM = 2 };

typedef simdjson_result<ondemand::field> field_result;
typedef simdjson_result<ondemand::value> value_result;
typedef simdjson_result<ondemand::object_iterator> obj_iter_result;
typedef simdjson_result<ondemand::array_iterator> arr_iter_result;

struct val_rep {
    alignas(8) unsigned char buf[40];
    uint32_t kind;
};

static_assert(sizeof(field_result) <= 40 && sizeof(value_result) <= 40, "val_rep too small");
static_assert(sizeof(val_rep) <= sizeof(tw_json_val), "tw_json_val too small");
static_assert(alignof(field_result) <= 8 && alignof(value_result) <= 8, "misaligned");
static_assert(sizeof(obj_iter_result) <= sizeof(((tw_json_iter *)0)->opaque_), "iter too small");
static_assert(sizeof(arr_iter_result) <= sizeof(((tw_json_iter *)0)->opaque_), "iter too small");
/* The C side copies handles bitwise: every member must be trivially copyable/destructible. */
static_assert(std::is_trivially_copyable<ondemand::value>::value, "value must be copyable");
static_assert(std::is_trivially_copyable<ondemand::raw_json_string>::value, "key copyable");
static_assert(std::is_trivially_copyable<ondemand::object_iterator>::value, "iter copyable");
static_assert(std::is_trivially_copyable<ondemand::array_iterator>::value, "iter copyable");
static_assert(std::is_trivially_destructible<field_result>::value, "field destructible");
static_assert(std::is_trivially_destructible<value_result>::value, "value destructible");

/* Parsers that handled one huge event give their memory back on the next small one. */
constexpr size_t SHRINK_ABOVE = (size_t)4 << 20;
constexpr size_t SHRINK_TO = (size_t)64 << 10;

} /* namespace */

struct tw_json {
    ondemand::parser parser;
    ondemand::document doc;
    char *pad;        /* padded copy for callers whose buffer lacks TW_JSON_PADDING */
    size_t pad_cap;
    error_code err;   /* first malformed-JSON error of the current document */
    int have_doc;
    const char *text_end; /* end of the current document's text */
};

static inline val_rep *V(tw_json_val *v) { return reinterpret_cast<val_rep *>(v->opaque_); }

/* The on-demand value behind a non-root handle. */
static inline ondemand::value &VAL(tw_json_val *v) {
    val_rep *r = V(v);
    if (r->kind == K_FIELD) return std::launder(reinterpret_cast<field_result *>(r->buf))->value_unsafe().second;
    return std::launder(reinterpret_cast<value_result *>(r->buf))->value_unsafe();
}

static inline bool is_root(tw_json_val *v) { return V(v)->kind == K_ROOT; }

/* Type errors leave the document usable; everything else means malformed JSON (or misuse). */
static inline bool is_type_error(error_code e) {
    return e == INCORRECT_TYPE || e == NUMBER_OUT_OF_RANGE || e == NO_SUCH_FIELD ||
           e == OUT_OF_BOUNDS || e == INDEX_OUT_OF_BOUNDS;
}

static inline bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static inline void note(tw_json *j, error_code e) {
    if (e != SUCCESS && !is_type_error(e) && j->err == SUCCESS) j->err = e;
}

extern "C" {

tw_json *tw_json_new(void) {
    tw_json *j = new (std::nothrow) tw_json();
    if (!j) return nullptr;
    j->pad = nullptr;
    j->pad_cap = 0;
    j->err = SUCCESS;
    j->have_doc = 0;
    return j;
}

void tw_json_free(tw_json *j) {
    if (!j) return;
    std::free(j->pad);
    delete j;
}

static tw_code set_root(tw_json *j, tw_json_val *root) {
    json_type ty;
    error_code e = j->doc.type().get(ty);
    if (e) {
        note(j, e);
        if (j->err == SUCCESS) j->err = TAPE_ERROR;
        return TW_ERR_JSON;
    }
    if (ty != json_type::object && ty != json_type::array) {
        j->err = SCALAR_DOCUMENT_AS_VALUE;
        return TW_ERR_JSON;
    }
    std::memset(root, 0, sizeof *root);
    V(root)->kind = K_ROOT;
    return TW_OK;
}

tw_code tw_json_parse(tw_json *j, const char *buf, size_t len, size_t capacity,
                      tw_json_val *root) {
    j->err = SUCCESS;
    j->have_doc = 0;
    std::memset(root, 0, sizeof *root);
    if (len == 0) {
        j->err = EMPTY;
        return TW_ERR_JSON;
    }
    /* In place only with the padding, and only when the byte after the text is not '}':
     * simdjson checks bracket balance only when that byte is '}' (its issue #1834), so parsing
     * in place would make the verdict on an unbalanced text depend on the bytes that follow it
     * (which differ with how the stream was cut). That test, like simdjson's, reads the padding:
     * the caller's must be initialised (tw_json.h). The copy is padded with zeros. */
    if (capacity < len || capacity - len < TW_JSON_PADDING || buf[len] == '}') {
        if (len > SIZE_MAX - TW_JSON_PADDING) return TW_ERR_NOMEM;
        size_t need = len + TW_JSON_PADDING;
        if (j->pad_cap < need || (j->pad_cap > SHRINK_ABOVE && need < j->pad_cap / 4)) {
            size_t cap = need < 4096 ? 4096 : need;
            char *p = static_cast<char *>(std::realloc(j->pad, cap));
            if (!p) return TW_ERR_NOMEM;
            j->pad = p;
            j->pad_cap = cap;
        }
        std::memcpy(j->pad, buf, len);
        std::memset(j->pad + len, 0, TW_JSON_PADDING);
        buf = j->pad;
        capacity = need; /* past the zeroed padding, j->pad holds never-written bytes */
    }
    if (j->parser.capacity() > SHRINK_ABOVE && len < j->parser.capacity() / 4) {
        size_t cap = len < SHRINK_TO ? SHRINK_TO : len;
        if (j->parser.allocate(cap, j->parser.max_depth()) != SUCCESS) return TW_ERR_NOMEM;
    }
    auto r = j->parser.iterate(buf, len, capacity);
    if (r.error()) {
        if (r.error() == MEMALLOC) return TW_ERR_NOMEM;
        j->err = r.error();
        return TW_ERR_JSON;
    }
    j->doc = std::move(r.value_unsafe());
    j->text_end = buf + len;
    j->have_doc = 1;
    return set_root(j, root);
}

tw_code tw_json_rewind(tw_json *j, tw_json_val *root) {
    std::memset(root, 0, sizeof *root);
    /* A document abandoned after an error cannot be rewound (its iterator lost the parser). */
    if (!j->have_doc || j->err != SUCCESS || !j->doc.is_alive()) return TW_ERR_JSON;
    j->doc.rewind();
    return set_root(j, root);
}

tw_code tw_json_end(tw_json *j) {
    if (!j->have_doc || j->err != SUCCESS) return TW_ERR_JSON;
    if (!j->doc.is_alive()) {
        j->err = TAPE_ERROR;
        return TW_ERR_JSON;
    }
    auto loc = j->doc.current_location();
    if (loc.error() == OUT_OF_BOUNDS) return TW_OK;
    j->err = TRAILING_CONTENT;
    return TW_ERR_JSON;
}

int tw_json_failed(const tw_json *j) { return j->err != SUCCESS; }

const char *tw_json_error_message(const tw_json *j) {
    return j->err == SUCCESS ? "" : error_message(j->err);
}

tw_json_type tw_json_type_of(tw_json *j, tw_json_val *v) {
    json_type t;
    error_code e = is_root(v) ? j->doc.type().get(t) : VAL(v).type().get(t);
    if (e) {
        note(j, e);
        return TW_JSON_INVALID;
    }
    switch (t) {
    case json_type::object: return TW_JSON_OBJECT;
    case json_type::array: return TW_JSON_ARRAY;
    case json_type::string: return TW_JSON_STRING;
    case json_type::number: return TW_JSON_NUMBER;
    case json_type::boolean: return TW_JSON_BOOL;
    case json_type::null: return TW_JSON_NULL;
    }
    return TW_JSON_INVALID;
}

int tw_json_obj_begin(tw_json *j, tw_json_val *v, tw_json_iter *it) {
    simdjson_result<ondemand::object> o = is_root(v) ? j->doc.get_object() : VAL(v).get_object();
    it->started_ = -1; /* tw_json_obj_next on a failed begin returns 0 */
    if (o.error()) {
        note(j, o.error());
        return 0;
    }
    obj_iter_result *r = new (it->opaque_) obj_iter_result(o.value_unsafe().begin());
    if (r->error()) {
        note(j, r->error());
        return 0;
    }
    it->started_ = 0;
    return 1;
}

/* Length of a raw key: it ends at the first unescaped quote (stage 1 proved it is closed).
 * A byte loop here was the decoder's hottest spot; 16 bytes at a time with SSE2 (baseline on
 * x86-64). Reading past the key is safe: the document is padded by TW_JSON_PADDING initialised
 * bytes and stage 1 proved the closing quote lies inside the text, so the bytes read after it
 * (at most 15, all in the padding at worst) never change the result. */
static inline size_t raw_key_len(const char *p) {
    const char *s = p;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    for (;;) {
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
        unsigned q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, quote));
        unsigned e = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, bslash));
        if (q && (!e || __builtin_ctz(q) < __builtin_ctz(e)))
            return static_cast<size_t>(p - s) + (size_t)__builtin_ctz(q);
        if (!e) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(e) + 2; /* skip the escape and the escaped byte */
    }
#else
    while (*p != '"') p += (*p == '\\') ? 2 : 1;
    return static_cast<size_t>(p - s);
#endif
}

int tw_json_obj_next(tw_json *j, tw_json_iter *it, tw_str *key, tw_json_val *val) {
    if (it->started_ < 0) return 0;
    ondemand::object_iterator &oi =
        std::launder(static_cast<obj_iter_result *>(static_cast<void *>(it->opaque_)))
            ->value_unsafe();
    if (it->started_) ++oi;
    it->started_ = 1;
    if (!(oi != oi)) return 0; /* operator!= reports whether the iterator is still open */
    field_result *f = new (V(val)->buf) field_result(*oi);
    V(val)->kind = K_FIELD;
    if (f->error()) {
        note(j, f->error());
        return 0;
    }
    const char *k = f->value_unsafe().first.raw();
    key->ptr = k;
    key->len = raw_key_len(k);
    return 1;
}

int tw_json_arr_begin(tw_json *j, tw_json_val *v, tw_json_iter *it) {
    simdjson_result<ondemand::array> a = is_root(v) ? j->doc.get_array() : VAL(v).get_array();
    it->started_ = -1;
    if (a.error()) {
        note(j, a.error());
        return 0;
    }
    arr_iter_result *r = new (it->opaque_) arr_iter_result(a.value_unsafe().begin());
    if (r->error()) {
        note(j, r->error());
        return 0;
    }
    it->started_ = 0;
    return 1;
}

int tw_json_arr_next(tw_json *j, tw_json_iter *it, tw_json_val *val) {
    if (it->started_ < 0) return 0;
    ondemand::array_iterator &ai =
        std::launder(static_cast<arr_iter_result *>(static_cast<void *>(it->opaque_)))
            ->value_unsafe();
    if (it->started_) ++ai;
    it->started_ = 1;
    if (!(ai != ai)) return 0;
    value_result *r = new (V(val)->buf) value_result(*ai);
    V(val)->kind = K_ELEM;
    if (r->error()) {
        note(j, r->error());
        return 0;
    }
    return 1;
}

/* Whether [p, p+n) holds a backslash. The strings of a stream are short: 16 bytes at a time
 * inline beats a call to memchr. Reads up to 15 bytes past p+n, inside the document's padding
 * (p+n is a string's closing quote, at least 64 initialised padding bytes before the end of
 * the buffer); the mask drops them. */
static inline bool has_backslash(const char *p, size_t n) {
#if defined(__SSE2__)
    const __m128i bs = _mm_set1_epi8('\\');
    for (size_t i = 0; i < n; i += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + i)), bs));
        if (n - i < 16) m &= (1u << (n - i)) - 1;
        if (m) return true;
    }
    return false;
#else
    return std::memchr(p, '\\', n) != nullptr;
#endif
}

/* On a type mismatch, simdjson does not say whether the token was a valid value of another
 * type or garbage ("tru", "NaN"): check the token itself, so that garbage in a member we read
 * makes the payload invalid. */
static void check_token(tw_json *j, std::string_view tok) {
    size_t n = tok.size();
    while (n > 0 && is_ws(tok[n - 1])) n--;
    if (n == 0) {
        note(j, TAPE_ERROR);
        return;
    }
    char c = tok[0];
    if (c == '"' || c == '{' || c == '[') return; /* checked when read or skipped */
    std::string_view t(tok.data(), n);
    if (t == "true" || t == "false" || t == "null") return;
    if (c == '-' || (c >= '0' && c <= '9')) {
        for (size_t i = 1; i < n; i++) {
            char d = t[i];
            if (!((d >= '0' && d <= '9') || d == '.' || d == 'e' || d == 'E' || d == '+' ||
                  d == '-')) {
                note(j, NUMBER_ERROR);
                return;
            }
        }
        return;
    }
    note(j, T_ATOM_ERROR);
}

int tw_json_get_str(tw_json *j, tw_json_val *v, tw_str *out) {
    out->ptr = nullptr;
    out->len = 0;
    if (is_root(v)) return 0;
    ondemand::value &val = VAL(v);
    /* Fast path: a string token without backslash is returned as a slice of the text. The token
     * runs from the opening quote to the next structural character, so after trimming trailing
     * whitespace it ends with the closing quote. */
    std::string_view tok = val.raw_json_token();
    if (tok.empty() || tok[0] != '"') {
        check_token(j, tok);
        return 0;
    }
    size_t n = tok.size();
    while (n > 1 && is_ws(tok[n - 1])) n--;
    if (n >= 2 && tok[n - 1] == '"' && !has_backslash(tok.data() + 1, n - 2)) {
        ondemand::raw_json_string raw;
        error_code e = val.get_raw_json_string().get(raw);
        if (e) {
            note(j, e);
            return 0;
        }
        out->ptr = tok.data() + 1;
        out->len = n - 2;
        return 1;
    }
    std::string_view s;
    error_code e = val.get_string().get(s);
    if (e) {
        note(j, e);
        return 0;
    }
    out->ptr = s.data();
    out->len = s.size();
    return 1;
}

int tw_json_get_i64(tw_json *j, tw_json_val *v, int64_t *out) {
    if (is_root(v)) return 0;
    ondemand::value &val = VAL(v);
    /* Fast path for the small non-negative integers of streams (indexes, token counts): read
     * the digits of the token directly. The value is left unconsumed, which on-demand allows
     * for a scalar: the enclosing iterator skips it. */
    std::string_view tok = val.raw_json_token();
    size_t nd = 0;
    uint64_t x = 0;
    while (nd < tok.size() && nd < 18 && tok[nd] >= '0' && tok[nd] <= '9')
        x = x * 10 + (uint64_t)(tok[nd++] - '0');
    if (nd > 0 && (nd == 1 || tok[0] != '0') &&
        (nd == tok.size() || is_ws(tok[nd]) || tok[nd] == ',' || tok[nd] == '}' ||
         tok[nd] == ']')) {
        *out = (int64_t)x;
        return 1;
    }
    int64_t i;
    error_code e = val.get_int64().get(i);
    if (!e) {
        *out = i;
        return 1;
    }
    if (e == INCORRECT_TYPE || e == NUMBER_OUT_OF_RANGE || e == NUMBER_ERROR) {
        /* 12.0, 1e3 or an integer beyond int64: accept integral values that fit. */
        double d;
        error_code e2 = val.get_double().get(d);
        if (!e2) {
            if (d >= -9.2233720368547758e18 && d < 9.2233720368547758e18 && d == (double)(int64_t)d) {
                *out = (int64_t)d;
                return 1;
            }
            return 0;
        }
        if (e2 == INCORRECT_TYPE) {
            check_token(j, val.raw_json_token());
            return 0;
        }
        note(j, e2);
        return 0;
    }
    note(j, e);
    return 0;
}

int tw_json_get_bool(tw_json *j, tw_json_val *v, int *out) {
    if (is_root(v)) return 0;
    bool b;
    error_code e = VAL(v).get_bool().get(b);
    if (e) {
        if (e == INCORRECT_TYPE) check_token(j, VAL(v).raw_json_token());
        else note(j, e);
        return 0;
    }
    *out = b ? 1 : 0;
    return 1;
}

int tw_json_is_null(tw_json *j, tw_json_val *v) {
    if (is_root(v)) return 0;
    bool b;
    error_code e = VAL(v).is_null().get(b);
    if (e) {
        note(j, e);
        return 0;
    }
    if (!b) check_token(j, VAL(v).raw_json_token());
    return b ? 1 : 0;
}

static int trimmed(std::string_view sv, tw_str *out) {
    size_t n = sv.size();
    while (n > 0 && is_ws(sv[n - 1])) n--;
    out->ptr = sv.data();
    out->len = n;
    return n > 0;
}

int tw_json_get_raw(tw_json *j, tw_json_val *v, tw_str *out) {
    out->ptr = nullptr;
    out->len = 0;
    if (is_root(v)) return 0;
    ondemand::value &val = VAL(v);
    json_type t;
    error_code e = val.type().get(t);
    if (e) {
        note(j, e);
        return 0;
    }
    std::string_view sv;
    if (t == json_type::object) {
        ondemand::object o;
        if (!(e = val.get_object().get(o))) e = o.raw_json().get(sv);
    } else if (t == json_type::array) {
        ondemand::array a;
        if (!(e = val.get_array().get(a))) e = a.raw_json().get(sv);
    } else {
        /* A scalar is one token; left unconsumed, the enclosing iterator skips it. */
        return trimmed(val.raw_json_token(), out);
    }
    if (e) {
        note(j, e);
        return 0;
    }
    return trimmed(sv, out);
}

const char *tw_json_val_ptr(tw_json *j, tw_json_val *v) {
    if (is_root(v)) {
        std::string_view sv;
        if (j->doc.raw_json_token().get(sv)) return nullptr;
        return sv.data();
    }
    return VAL(v).raw_json_token().data();
}

const char *tw_json_cursor(tw_json *j) {
    if (!j->have_doc) return nullptr;
    const char *p;
    if (!j->doc.current_location().get(p)) return p;
    return j->text_end;
}

size_t tw_json_minify(const char *src, size_t len, char *dst) {
    size_t n = 0;
    if (len == 0) return 0;
    if (minify(src, len, dst, n) != SUCCESS) return (size_t)-1;
    return n;
}

int tw_json_valid_utf8(const char *buf, size_t len) { return validate_utf8(buf, len) ? 1 : 0; }

} /* extern "C" */
