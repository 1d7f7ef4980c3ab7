/* The board under the radio core: TI Stellaris LM3S6965 (QEMU lm3s6965evb):
 * UART0 (a PL011) at 115200 8N1 with a receive interrupt, and SysTick at
 * 1 kHz for the uptime clock. */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

/* Brings up the clocks, UART0 and SysTick; interrupts are on afterwards. */
void board_init(void);

/* Milliseconds since board_init, from SysTick (wraps after 49.7 days). */
uint32_t board_uptime_ms(void);

/* The next received byte, or -1 when none is waiting. */
int board_uart_read(void);

/* Puts as many of bytes[0 ..< count] into the UART's transmit FIFO as fit;
 * returns how many. */
uint32_t board_uart_write(const uint8_t *bytes, uint32_t count);

/* Bytes the receive ring had to drop because the main loop fell behind. */
uint32_t board_uart_overruns(void);

/* Sleeps until an interrupt if nothing is waiting and the clock has not
 * moved past `seen_ms`. */
void board_idle(uint32_t seen_ms);

#endif
