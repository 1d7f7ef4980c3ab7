/* The reference radio firmware: the C core (Sources/RadioFirmware) on an
 * LM3S6965, with made-up but plausible sensors. The main loop feeds received
 * bytes to the core, ticks its clock every millisecond (telemetry), and
 * moves its output into the UART; it sleeps when there is nothing to do. */
#include "board.h"
#include "radio_fw.h"

#ifndef FIRMWARE_SERIAL
#define FIRMWARE_SERIAL "FW-0001"
#endif
#ifndef FIRMWARE_VERSION
#define FIRMWARE_VERSION "1.0.0-c99"
#endif

static struct rfw radio;

/* The sensors of a radio on a bench, with a little noise: RSSI wanders
 * around -70 dBm, the PA warms with power, forward power is the set power
 * less 0.2 dB of cable, reflected is 21 dB below it. Integers only. */
struct sensors {
    uint32_t noise;
    int32_t rssi;
};

static int32_t jitter(struct sensors *s, int32_t spread)
{
    s->noise = s->noise * 1664525u + 1013904223u; /* an LCG is plenty here */
    return (int32_t)((s->noise >> 16) % (uint32_t)(2 * spread + 1)) - spread;
}

static void read_sensors(void *context, struct rfw_measurements *out)
{
    struct sensors *s = context;
    int32_t power = rfw_power(&radio), channel_offset = (int32_t)(rfw_channel(&radio) % 16u) - 8;
    int32_t forward = power - 2 + jitter(s, 1);
    s->rssi += jitter(s, 5);
    s->rssi = s->rssi < -1100 ? -1100 : (s->rssi > -300 ? -300 : s->rssi);
    out->rssi_deci_dbm = (int16_t)(s->rssi + channel_offset);
    out->snr_deci_db = (int16_t)(s->rssi + channel_offset + 1150 + jitter(s, 10));
    out->temperature_deci_c = (int16_t)(350 + power / 2 + jitter(s, 3));
    out->supply_mv = (uint16_t)(13800 + jitter(s, 40));
    out->forward_deci_dbm = (int16_t)forward;
    out->reflected_deci_dbm = (int16_t)(forward - 210);
}

int main(void)
{
    static struct sensors sensors = {1u, -700};
    static const struct rfw_identity identity = {
        "RS-100 C99 Firmware", FIRMWARE_SERIAL, FIRMWARE_VERSION,
        -100, 300, /* power, 0.1 dBm: the simulator's range */
        1, 1024,   /* channels */
        10, 5000   /* telemetry at start-up, and the most it takes */
    };
    struct rfw_hooks hooks = {0, 0, 0, 0};
    uint32_t seen = 0;

    hooks.context = &sensors;
    hooks.read_sensors = read_sensors; /* set power and channel: no PA or synthesiser to drive here */
    board_init();
    rfw_init(&radio, &identity, &hooks);
    rfw_tick(&radio, board_uptime_ms());

    for (;;) {
        const uint8_t *bytes;
        size_t pending;
        int byte;
        uint32_t now;
        while ((byte = board_uart_read()) >= 0) {
            rfw_feed(&radio, (uint8_t)byte);
            /* Keep the output moving while a long burst comes in. */
            pending = rfw_tx_peek(&radio, &bytes);
            if (pending > 0) {
                rfw_tx_consume(&radio, board_uart_write(bytes, (uint32_t)pending));
            }
        }
        now = board_uptime_ms();
        if (now != seen) {
            seen = now;
            rfw_tick(&radio, now);
        }
        while ((pending = rfw_tx_peek(&radio, &bytes)) > 0) {
            uint32_t sent = board_uart_write(bytes, (uint32_t)pending);
            rfw_tx_consume(&radio, sent);
            if (sent < pending) {
                break; /* FIFO full: come back after the next interrupt */
            }
        }
        if (rfw_tx_pending(&radio) == 0) {
            board_idle(seen);
        }
    }
}
