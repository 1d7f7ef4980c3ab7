// libedit's readline interface (BSD licence), from Debian's libedit-dev
// (pkg-config: libedit): line editing and history for `radio-cli shell`.
#include <stdio.h>
#include <editline/readline.h>
