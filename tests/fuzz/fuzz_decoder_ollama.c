/* fuzz_decoder_ollama.c - libFuzzer target for the ollama dialect decoder (see fuzz_decoder_common.h). */
#include "fuzz_decoder_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_run(TW_DIALECT_OLLAMA, data, size);
}
