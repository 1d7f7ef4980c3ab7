/*
 * radio_fw.h: the radio side of docs/PROTOCOL.md (version 1) in portable C99.
 *
 * This header is the whole API. The core has no malloc, no stdio, no floating
 * point and no global state: everything lives in one `struct rfw` (about
 * 1.6 KB with the default buffer sizes) that the firmware allocates statically.
 *
 *   static struct rfw radio;
 *   rfw_init(&radio, &identity, &hooks);
 *   each received byte:     rfw_feed(&radio, byte);
 *   each timer tick:        rfw_tick(&radio, uptime_ms);
 *   whenever the UART can take bytes:
 *       n = rfw_tx_peek(&radio, &bytes);  send up to n of them;  rfw_tx_consume(&radio, sent);
 *
 * rfw_feed, rfw_tick and the rfw_tx_* calls must not run at the same time (call
 * them from one context, e.g. the main loop, with the UART interrupt only
 * filling a byte ring). Keep the output drained: a response is queued only if
 * it fits (RFW_TX_CAPACITY holds several largest frames, and telemetry never
 * takes the last RFW_MAX_WIRE bytes), otherwise it is dropped and counted.
 */
#ifndef RADIO_FW_H
#define RADIO_FW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RFW_PROTOCOL_VERSION 1u
#define RFW_MAX_PAYLOAD      250u /* payload bytes in one frame */
#define RFW_MAX_RAW          256u /* version + type + sequence + payload + CRC */
#define RFW_MAX_ENCODED      258u /* a raw frame after COBS */
#define RFW_MAX_WIRE         259u /* ... and its 0x00 delimiter */
#define RFW_MAX_STRING       32u  /* model, serial, firmware strings in Identify */

#ifndef RFW_TX_CAPACITY
#define RFW_TX_CAPACITY 1024u /* output queue; at least 2 * RFW_MAX_WIRE */
#endif

/* Response statuses (PROTOCOL.md 6.2); hooks return one of the first three. */
enum rfw_status {
    RFW_OK = 0x00,
    RFW_OUT_OF_RANGE = 0x01,
    RFW_BUSY = 0x02,
    RFW_UNKNOWN_COMMAND = 0x03,
    RFW_MALFORMED = 0x04,
    RFW_UNSUPPORTED_VERSION = 0x05,
    RFW_HARDWARE_FAULT = 0x06
};

/* What GetState and Telemetry report (PROTOCOL.md 6.2), in protocol units. */
struct rfw_measurements {
    int16_t rssi_deci_dbm;
    int16_t snr_deci_db;
    int16_t temperature_deci_c;
    uint16_t supply_mv;
    int16_t forward_deci_dbm;
    int16_t reflected_deci_dbm;
};

/* How the radio presents itself; the core range-checks against this. The
 * strings must stay valid (they are not copied); longer than 32 bytes, they
 * are cut at a UTF-8 character boundary. */
struct rfw_identity {
    const char *model;
    const char *serial_number;
    const char *firmware_version;
    int16_t power_min_deci_dbm, power_max_deci_dbm;
    uint16_t channel_min, channel_max;
    uint16_t telemetry_hz;     /* rate at start-up, 0 = off */
    uint16_t max_telemetry_hz; /* SetTelemetryRate above this is out of range */
};

/* The radio's hardware. Every hook may be NULL (then the value is taken as
 * is, and sensors read as zero). A setter is called only with an in-range
 * value, writes what it actually set (it may round to its step) and returns
 * RFW_OK, RFW_BUSY or RFW_HARDWARE_FAULT; on anything but RFW_OK the core
 * keeps the old value. */
struct rfw_hooks {
    void *context;
    uint8_t (*set_power)(void *context, int16_t deci_dbm, int16_t *applied);
    uint8_t (*set_channel)(void *context, uint16_t channel, uint16_t *applied);
    void (*read_sensors)(void *context, struct rfw_measurements *out);
};

/* What the core has seen, for a debug console or a test. */
struct rfw_counters {
    uint32_t frames;         /* good frames decoded */
    uint32_t answered;       /* responses queued */
    uint32_t ignored;        /* good frames that are not requests */
    uint32_t invalid_cobs, too_short, oversized, crc_mismatch;
    uint32_t telemetry_sent;
    uint32_t telemetry_dropped; /* no room in the output queue */
    uint32_t responses_dropped; /* no room in the output queue */
};

/* The frame decoder (PROTOCOL.md 3.2): fed one byte at a time. */
struct rfw_decoder {
    uint8_t buffer[RFW_MAX_ENCODED]; /* encoded bytes, then the raw frame in place */
    uint16_t count;
    uint16_t frame_length; /* raw bytes of the last good frame */
    uint8_t discarding; /* an oversized run: ignore up to the next 0x00 */
};

enum rfw_decode_result {
    RFW_DECODE_MORE = 0,       /* nothing to report yet */
    RFW_DECODE_FRAME = 1,      /* a good raw frame: rfw_decoder_frame() */
    RFW_DECODE_INVALID_COBS = -1,
    RFW_DECODE_TOO_SHORT = -2,
    RFW_DECODE_OVERSIZED = -3,
    RFW_DECODE_CRC_MISMATCH = -4
};

/* The whole radio. Treat the fields as private. */
struct rfw {
    struct rfw_decoder decoder;
    struct rfw_identity identity;
    struct rfw_hooks hooks;
    struct rfw_counters counters;
    int16_t power;
    uint16_t channel;
    uint16_t telemetry_hz;
    uint16_t telemetry_sequence;
    uint8_t mode;          /* 0 = rx, 1 = tx */
    uint8_t clock_started;
    uint32_t last_tick_ms;
    uint32_t telemetry_credit; /* frames owed, in 1/1000ths */
    uint8_t response[RFW_MAX_RAW];
    uint8_t tx[RFW_TX_CAPACITY];
    uint16_t tx_head, tx_count;
};

/* Starts the radio at its lowest power and channel and its start-up rate. */
void rfw_init(struct rfw *radio, const struct rfw_identity *identity, const struct rfw_hooks *hooks);

/* One byte from the host. A byte that completes a request queues its answer. */
void rfw_feed(struct rfw *radio, uint8_t byte);
void rfw_feed_bytes(struct rfw *radio, const uint8_t *bytes, size_t count);

/* The clock: uptime in milliseconds (wrapping is fine), best called every
 * millisecond and at most 10 ms apart. Queues the telemetry frames due since
 * the last call; after a longer gap, at most 4 (or 10 ms' worth). */
void rfw_tick(struct rfw *radio, uint32_t uptime_ms);

/* The queued output: a pointer to the next contiguous run and its length
 * (0 when there is nothing to send), and how much of it was sent. */
size_t rfw_tx_peek(const struct rfw *radio, const uint8_t **bytes);
void rfw_tx_consume(struct rfw *radio, size_t count);
size_t rfw_tx_pending(const struct rfw *radio);

/* State, for the hardware's own display or a test. */
int16_t rfw_power(const struct rfw *radio);
uint16_t rfw_channel(const struct rfw *radio);
uint16_t rfw_telemetry_rate(const struct rfw *radio);
void rfw_set_mode(struct rfw *radio, uint8_t transmitting);
const struct rfw_counters *rfw_get_counters(const struct rfw *radio);

/* The building blocks, exposed for tests and fuzzing. */
uint16_t rfw_crc16(const uint8_t *bytes, size_t count);
/* COBS-encodes raw (count <= RFW_MAX_RAW) into out (room for count + 2);
 * returns the encoded length, without a delimiter. */
size_t rfw_cobs_encode(const uint8_t *raw, size_t count, uint8_t *out);
/* Decodes buffer[0 ..< count] in place; returns the raw length, or -1 when a
 * block runs past the end or a code byte is 0x00. */
int rfw_cobs_decode(uint8_t *buffer, size_t count);
void rfw_decoder_reset(struct rfw_decoder *decoder);
enum rfw_decode_result rfw_decoder_push(struct rfw_decoder *decoder, uint8_t byte);
/* After RFW_DECODE_FRAME: the raw frame (CRC included) until the next push. */
const uint8_t *rfw_decoder_frame(const struct rfw_decoder *decoder, size_t *count);

#ifdef __cplusplus
}
#endif

#endif /* RADIO_FW_H */
