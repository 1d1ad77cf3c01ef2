/* fuzz_decoder_openai_responses.c - libFuzzer target for the openai_responses dialect decoder (see fuzz_decoder_common.h). */
#include "fuzz_decoder_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_run(TW_DIALECT_OPENAI_RESPONSES, data, size);
}
