/* fuzz_decoder_raw.c - libFuzzer target for the raw "sse" and "ndjson" dialects (see
 * fuzz_decoder_common.h): the same input through both. */
#include "fuzz_decoder_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_run(TW_DIALECT_SSE, data, size);
    return fz_run(TW_DIALECT_NDJSON, data, size);
}
