// <asm/termbits.h> defines struct termios2 but clashes with glibc's
// <termios.h>, so this file includes only kernel headers.
#include <asm/termbits.h>
#include <sys/ioctl.h>
#include "CRadioSystem.h"

int radio_set_custom_baud(int fd, unsigned int baud) {
    struct termios2 tio;
    if (ioctl(fd, TCGETS2, &tio) != 0) return -1;
    tio.c_cflag &= ~CBAUD;
    tio.c_cflag |= BOTHER;
    tio.c_ispeed = baud;
    tio.c_ospeed = baud;
    tio.c_cflag &= ~(CBAUD << IBSHIFT);
    tio.c_cflag |= BOTHER << IBSHIFT;
    return ioctl(fd, TCSETS2, &tio);
}

long radio_get_baud(int fd) {
    struct termios2 tio;
    if (ioctl(fd, TCGETS2, &tio) != 0) return -1;
    return (long)tio.c_ospeed;
}
