/*
 * args.c - the small error and argument helpers every file of both addons uses (tokenwire.node
 * and tokenwire_tools.node).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twn.h"

/* ---- errors -------------------------------------------------------------------------------- */

void twn_throw_last(napi_env env)
{
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return;
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    const char *msg = (info && info->error_message) ? info->error_message : "Node-API call failed";
    napi_throw_error(env, "ERR_TOKENWIRE_NAPI", msg);
}

void twn_throw_code(napi_env env, const char *what, tw_code code, const tw_error *err)
{
    char msg[256];
    const char *detail = (err && err->msg[0]) ? err->msg : tw_strerror(code);
    snprintf(msg, sizeof msg, "tokenwire: %s: %s", what, detail);
    if (code == TW_ERR_INVALID_ARG)
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    else
        napi_throw_error(env, "ERR_TOKENWIRE", msg);
}

char *twn_get_string(napi_env env, napi_value v, size_t *len_out)
{
    size_t len = 0;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: expected a string");
        return NULL;
    }
    char *s = malloc(len + 1);
    if (!s) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    napi_get_value_string_utf8(env, v, s, len + 1, &len);
    if (len_out) *len_out = len;
    return s;
}

int twn_get_bytes(napi_env env, napi_value v, tw_buf *scratch, const char **ptr, size_t *len)
{
    bool is = false;
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok) goto bad;
    if (t == napi_string) {
        size_t n = 0;
        napi_get_value_string_utf8(env, v, NULL, 0, &n);
        scratch->len = 0;
        if (tw_buf_reserve(scratch, n + 1) != TW_OK) {
            napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
            return -1;
        }
        napi_get_value_string_utf8(env, v, scratch->data, n + 1, &n);
        scratch->len = n;
        *ptr = scratch->data;
        *len = n;
        return 0;
    }
    if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
        napi_typedarray_type tt;
        size_t count = 0, off = 0;
        void *data = NULL;
        napi_value ab;
        if (napi_get_typedarray_info(env, v, &tt, &count, &data, &ab, &off) != napi_ok) goto bad;
        size_t esz = 1;
        switch (tt) {
        case napi_int16_array:
        case napi_uint16_array: esz = 2; break;
        case napi_int32_array:
        case napi_uint32_array:
        case napi_float32_array: esz = 4; break;
        case napi_float64_array:
        case napi_bigint64_array:
        case napi_biguint64_array: esz = 8; break;
        default: esz = 1; break;
        }
        *ptr = data;
        *len = count * esz;
        return 0;
    }
    if (napi_is_buffer(env, v, &is) == napi_ok && is) {
        void *data = NULL;
        if (napi_get_buffer_info(env, v, &data, len) != napi_ok) goto bad;
        *ptr = data;
        return 0;
    }
    if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
        void *data = NULL;
        if (napi_get_arraybuffer_info(env, v, &data, len) != napi_ok) goto bad;
        *ptr = data;
        return 0;
    }
bad:
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "tokenwire: expected a Buffer, Uint8Array, ArrayBuffer or string");
    return -1;
}
