// Declarations only (cfuzz.h); libFuzzer's runtime provides the definition.
#include "cfuzz.h"
