// libFuzzer's entry for programs that keep their own main (LLVM 11+).
// SwiftPM links an executable's main as <module>_main, so the fuzz target
// defines that and hands over to libFuzzer here.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
