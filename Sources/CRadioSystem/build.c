#include "CRadioSystem.h"

// build_info.h (not in git) defines RADIO_GIT_COMMIT; the Makefile writes it
// when the commit changes, so that only this file is compiled again.
#if __has_include("build_info.h")
#include "build_info.h"
#endif
#ifndef RADIO_GIT_COMMIT
#define RADIO_GIT_COMMIT "unknown"
#endif

const char *radio_build_commit(void) { return RADIO_GIT_COMMIT; }
