// libudev, from Debian's libudev-dev (pkg-config: libudev).
#include <libudev.h>
