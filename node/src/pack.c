/*
 * pack.c - packing of event batches into (string, Float64Array) for node/index.js.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twn.h"

/* ---- packer -------------------------------------------------------------------------------- */

void twn_packer_init(twn_packer *p)
{
    memset(p, 0, sizeof *p);
    tw_buf_init(&p->str);
    p->ascii = 1;
}

void twn_packer_free(twn_packer *p)
{
    free(p->meta);
    tw_buf_free(&p->str);
    memset(p, 0, sizeof *p);
}

void twn_packer_reset(twn_packer *p)
{
    p->n = 0;
    p->str.len = 0;
    p->ascii = 1;
    p->oom = 0;
}

void twn_pack_num(twn_packer *p, double v)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        double *m = realloc(p->meta, cap * sizeof *m);
        if (!m) {
            p->oom = 1;
            return;
        }
        p->meta = m;
        p->cap = cap;
    }
    p->meta[p->n++] = v;
}

/* Length of the valid UTF-8 sequence starting at s (n bytes available), or 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0xC2) return 0;
    if (c < 0xE0) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;
        if (c == 0xED && s[1] >= 0xA0) return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;
        if (c == 0xF4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

void twn_pack_str(twn_packer *p, tw_str s)
{
    if (!s.ptr) {
        twn_pack_num(p, -1);
        return;
    }
    /* Worst case every byte becomes U+FFFD (3 bytes). */
    if (tw_buf_reserve(&p->str, s.len * 3) != TW_OK) {
        p->oom = 1;
        twn_pack_num(p, -1);
        return;
    }
    const unsigned char *in = (const unsigned char *)s.ptr;
    char *out = p->str.data + p->str.len;
    size_t i = 0, units = 0, o = 0;
    while (i < s.len) {
        /* ASCII runs, eight bytes at a time. */
        while (i + 8 <= s.len) {
            uint64_t w;
            memcpy(&w, in + i, 8);
            if (w & 0x8080808080808080ull) break;
            memcpy(out + o, in + i, 8);
            i += 8;
            o += 8;
            units += 8;
        }
        if (i >= s.len) break;
        unsigned c = in[i];
        if (c < 0x80) {
            out[o++] = (char)c;
            i++;
            units++;
            continue;
        }
        p->ascii = 0;
        size_t k = utf8_seq(in + i, s.len - i);
        if (k == 0) {
            out[o++] = (char)0xEF;
            out[o++] = (char)0xBF;
            out[o++] = (char)0xBD;
            i++;
            units++;
            continue;
        }
        memcpy(out + o, in + i, k);
        o += k;
        i += k;
        units += (k == 4) ? 2 : 1;
    }
    p->str.len += o;
    twn_pack_num(p, (double)units);
}

static double i64(int64_t v)
{
    return (double)v;
}

void twn_pack_event(twn_packer *p, const tw_event *ev)
{
    twn_pack_num(p, (double)ev->type);
    twn_pack_num(p, (double)ev->index);
    switch (ev->type) {
    case TW_EV_TEXT:
    case TW_EV_REASONING:
    case TW_EV_PROGRESS:
        twn_pack_str(p, ev->text);
        break;
    case TW_EV_START:
        twn_pack_str(p, ev->id);
        twn_pack_str(p, ev->name);
        break;
    case TW_EV_TOOL_CALL:
        twn_pack_str(p, ev->id);
        twn_pack_str(p, ev->name);
        twn_pack_str(p, ev->arguments);
        break;
    case TW_EV_USAGE:
        twn_pack_num(p, i64(ev->input_tokens));
        twn_pack_num(p, i64(ev->output_tokens));
        twn_pack_num(p, i64(ev->total_tokens));
        break;
    case TW_EV_FINISH:
        twn_pack_str(p, ev->reason);
        break;
    case TW_EV_ERROR:
        twn_pack_num(p, (double)ev->error_kind);
        twn_pack_num(p, (double)ev->status);
        twn_pack_num(p, (double)ev->recoverable);
        twn_pack_str(p, ev->text);
        twn_pack_str(p, ev->name);
        twn_pack_str(p, ev->raw);
        break;
    case TW_EV_RAW:
        twn_pack_str(p, ev->name);
        twn_pack_str(p, ev->text);
        twn_pack_str(p, ev->id);
        twn_pack_num(p, i64(ev->retry));
        break;
    case TW_EV_AGENT_START:
    case TW_EV_AGENT_COMPLETE:
        twn_pack_str(p, ev->source);
        break;
    default:
        /* TW_EV_END and types newer than this addon carry only type and index. */
        break;
    }
}

napi_status twn_packer_string(napi_env env, twn_packer *p, napi_value *out)
{
    if (p->ascii) return napi_create_string_latin1(env, p->str.data ? p->str.data : "",
                                                   p->str.len, out);
    return napi_create_string_utf8(env, p->str.data, p->str.len, out);
}

napi_status twn_packer_meta(napi_env env, twn_packer *p, napi_value *out)
{
    void *data = NULL;
    napi_value ab;
    napi_status st = napi_create_arraybuffer(env, p->n * sizeof(double), &data, &ab);
    if (st != napi_ok) return st;
    if (p->n) memcpy(data, p->meta, p->n * sizeof(double));
    return napi_create_typedarray(env, napi_float64_array, p->n, ab, 0, out);
}
