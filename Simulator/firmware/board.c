/* LM3S6965 support: startup, vector table, UART0, SysTick. Register
 * addresses and bits are from the LM3S6965 data sheet (TI, DS-LM3S6965) and
 * the ARMv7-M architecture reference manual; nothing here needs a vendor
 * library. */
#include "board.h"

#include <stddef.h>

#define REG(address) (*(volatile uint32_t *)(address))

/* System control: clock gating. */
#define SYSCTL_RCGC1 REG(0x400FE104u) /* bit 0: UART0 */
#define SYSCTL_RCGC2 REG(0x400FE108u) /* bit 0: GPIO port A */

/* GPIO port A: PA0 = U0Rx, PA1 = U0Tx as their alternate function. */
#define GPIOA_AFSEL REG(0x40004420u)
#define GPIOA_DEN   REG(0x4000451Cu)

/* UART0, a PL011. */
#define UART0_DR   REG(0x4000C000u)
#define UART0_FR   REG(0x4000C018u)
#define UART0_IBRD REG(0x4000C024u)
#define UART0_FBRD REG(0x4000C028u)
#define UART0_LCRH REG(0x4000C02Cu)
#define UART0_CR   REG(0x4000C030u)
#define UART0_IMSC REG(0x4000C038u)
#define UART0_ICR  REG(0x4000C044u)
#define FR_RXFE   (1u << 4)
#define FR_TXFF   (1u << 5)
#define LCRH_FEN  (1u << 4)
#define LCRH_WLEN8 (3u << 5)
#define CR_UARTEN (1u << 0)
#define CR_TXE    (1u << 8)
#define CR_RXE    (1u << 9)
#define INT_RX    (1u << 4)
#define INT_RT    (1u << 6)
#define UART0_IRQ 5u

/* Cortex-M3 core peripherals. */
#define SYST_CSR   REG(0xE000E010u)
#define SYST_RVR   REG(0xE000E014u)
#define SYST_CVR   REG(0xE000E018u)
#define NVIC_ISER0 REG(0xE000E100u)

/* The reset clock: the 200 MHz PLL output divided by 16 (RCC.SYSDIV = 15),
 * which QEMU models as well. */
#define SYSTEM_CLOCK_HZ 12500000u
#define BAUD 115200u

/* ---- Receive ring: the UART interrupt fills it, the main loop empties it.
 * One writer and one reader, each index written by one side only. ---- */
#define RX_RING_SIZE 512u /* a power of two */
static volatile uint8_t rx_ring[RX_RING_SIZE];
static volatile uint32_t rx_head, rx_tail, rx_overruns;
static volatile uint32_t uptime_ms;

void uart0_handler(void)
{
    while (!(UART0_FR & FR_RXFE)) {
        uint8_t byte = (uint8_t)(UART0_DR & 0xFFu); /* bits 8-11 are line errors */
        uint32_t head = rx_head;
        if (((head + 1u) & (RX_RING_SIZE - 1u)) == rx_tail) {
            rx_overruns++;
        } else {
            rx_ring[head] = byte;
            rx_head = (head + 1u) & (RX_RING_SIZE - 1u);
        }
    }
    UART0_ICR = INT_RX | INT_RT;
}

void systick_handler(void) { uptime_ms++; }

int board_uart_read(void)
{
    uint32_t tail = rx_tail;
    int byte;
    if (tail == rx_head) {
        return -1;
    }
    byte = rx_ring[tail];
    rx_tail = (tail + 1u) & (RX_RING_SIZE - 1u);
    return byte;
}

uint32_t board_uart_write(const uint8_t *bytes, uint32_t count)
{
    uint32_t sent = 0;
    while (sent < count && !(UART0_FR & FR_TXFF)) {
        UART0_DR = bytes[sent++];
    }
    return sent;
}

uint32_t board_uart_overruns(void) { return rx_overruns; }
uint32_t board_uptime_ms(void) { return uptime_ms; }

void board_idle(uint32_t seen_ms)
{
    /* With interrupts masked, an interrupt that arrives between the check
     * and WFI still ends the WFI; it runs once they are unmasked. */
    __asm__ volatile("cpsid i" ::: "memory");
    if (rx_tail == rx_head && uptime_ms == seen_ms) {
        __asm__ volatile("wfi" ::: "memory");
    }
    __asm__ volatile("cpsie i" ::: "memory");
}

void board_init(void)
{
    uint32_t divisor64;
    SYSCTL_RCGC1 |= 1u;
    SYSCTL_RCGC2 |= 1u;
    GPIOA_AFSEL |= 0x3u;
    GPIOA_DEN |= 0x3u;

    UART0_CR = 0;
    /* Baud divisor = clock / (16 * baud), in 1/64ths, rounded. */
    divisor64 = (SYSTEM_CLOCK_HZ * 4u + BAUD / 2u) / BAUD;
    UART0_IBRD = divisor64 >> 6;
    UART0_FBRD = divisor64 & 0x3Fu;
    UART0_LCRH = LCRH_WLEN8 | LCRH_FEN;
    UART0_ICR = 0x7FFu;
    UART0_IMSC = INT_RX | INT_RT;
    UART0_CR = CR_UARTEN | CR_TXE | CR_RXE;
    NVIC_ISER0 = 1u << UART0_IRQ;

    SYST_RVR = SYSTEM_CLOCK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt, enable */
    __asm__ volatile("cpsie i" ::: "memory");
}

/* ---- Startup. ---- */

extern uint32_t _data_start, _data_end, _data_load, _bss_start, _bss_end, _stack_top;
int main(void);
void reset_handler(void);

static void fault_handler(void)
{
    for (;;) {
        __asm__ volatile("bkpt #0");
    }
}

void reset_handler(void)
{
    uint32_t *from = &_data_load, *to = &_data_start;
    while (to < &_data_end) {
        *to++ = *from++;
    }
    for (to = &_bss_start; to < &_bss_end; to++) {
        *to = 0;
    }
    (void)main();
    fault_handler();
}

/* The vector table: initial stack pointer, then the 15 system exceptions,
 * then the device interrupts up to UART0 (IRQ 5). */
struct vector_table {
    uint32_t *stack;
    void (*handlers[15 + 6])(void);
};

__attribute__((section(".vectors"), used)) static const struct vector_table vectors = {
    &_stack_top,
    {
        reset_handler,  /* 1 reset */
        fault_handler,  /* 2 NMI */
        fault_handler,  /* 3 hard fault */
        fault_handler,  /* 4 memory management */
        fault_handler,  /* 5 bus fault */
        fault_handler,  /* 6 usage fault */
        0, 0, 0, 0,     /* 7-10 reserved */
        fault_handler,  /* 11 SVCall */
        fault_handler,  /* 12 debug monitor */
        0,              /* 13 reserved */
        fault_handler,  /* 14 PendSV */
        systick_handler,/* 15 SysTick */
        fault_handler,  /* IRQ 0 GPIO A */
        fault_handler,  /* IRQ 1 GPIO B */
        fault_handler,  /* IRQ 2 GPIO C */
        fault_handler,  /* IRQ 3 GPIO D */
        fault_handler,  /* IRQ 4 GPIO E */
        uart0_handler,  /* IRQ 5 UART0 */
    },
};

/* The compiler may emit calls to these for structure copies and clears. */
void *memcpy(void *restrict to, const void *restrict from, size_t count);
void *memset(void *to, int value, size_t count);

void *memcpy(void *restrict to, const void *restrict from, size_t count)
{
    uint8_t *t = to;
    const uint8_t *f = from;
    while (count--) {
        *t++ = *f++;
    }
    return to;
}

void *memset(void *to, int value, size_t count)
{
    uint8_t *t = to;
    while (count--) {
        *t++ = (uint8_t)value;
    }
    return to;
}
