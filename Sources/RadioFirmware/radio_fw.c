/*
 * radio_fw.c: the radio side of docs/PROTOCOL.md v1 (see radio_fw.h).
 * Portable C99: no malloc, no stdio, no floating point, no library calls.
 */
#include "radio_fw.h"

#if RFW_TX_CAPACITY < 2 * RFW_MAX_WIRE || RFW_TX_CAPACITY > 65535
#error "RFW_TX_CAPACITY must hold two largest frames and fit in 16 bits"
#endif

/* Request types (PROTOCOL.md 4). */
enum {
    TYPE_IDENTIFY = 0x01,
    TYPE_SET_POWER = 0x02,
    TYPE_SET_CHANNEL = 0x03,
    TYPE_GET_STATE = 0x04,
    TYPE_PING = 0x05,
    TYPE_SET_TELEMETRY_RATE = 0x06,
    TYPE_LAST_REQUEST = 0x3F,
    TYPE_TELEMETRY = 0x40,
    RESPONSE_FLAG = 0x80
};

#define HEADER_SIZE 4u /* version, type, sequence */
#define CRC_SIZE 2u
#define TELEMETRY_CATCH_UP 4u

/* ---- CRC-16/CCITT-FALSE (PROTOCOL.md 2.1), bitwise: small, no table. ---- */

uint16_t rfw_crc16(const uint8_t *bytes, size_t count)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    for (i = 0; i < count; i++) {
        unsigned bit;
        crc = (uint16_t)(crc ^ ((uint16_t)bytes[i] << 8));
        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000u) ? (uint16_t)(((unsigned)crc << 1) ^ 0x1021u) : (uint16_t)((unsigned)crc << 1);
        }
    }
    return crc;
}

/* ---- COBS (PROTOCOL.md 3.1), canonical form. ---- */

size_t rfw_cobs_encode(const uint8_t *raw, size_t count, uint8_t *out)
{
    size_t code_at = 0, written = 1, i;
    uint8_t code = 1;
    for (i = 0; i < count; i++) {
        if (raw[i] == 0) {
            out[code_at] = code;
            code_at = written++;
            code = 1;
        } else {
            out[written++] = raw[i];
            code++;
            /* A full block; start another only if more raw bytes follow. */
            if (code == 0xFF && i + 1 < count) {
                out[code_at] = code;
                code_at = written++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return written;
}

/* In place: a raw frame is never longer than its encoding. */
int rfw_cobs_decode(uint8_t *buffer, size_t count)
{
    size_t read = 0, write = 0;
    while (read < count) {
        uint8_t code = buffer[read++];
        size_t data = (size_t)code - 1u, k;
        if (code == 0 || data > count - read) {
            return -1;
        }
        for (k = 0; k < data; k++) {
            buffer[write++] = buffer[read++];
        }
        if (code != 0xFF && read < count) {
            buffer[write++] = 0; /* write < read: nothing unread is overwritten */
        }
    }
    return (int)write;
}

/* ---- The frame decoder (PROTOCOL.md 3.2). ---- */

void rfw_decoder_reset(struct rfw_decoder *decoder)
{
    decoder->count = 0;
    decoder->frame_length = 0;
    decoder->discarding = 0;
}

enum rfw_decode_result rfw_decoder_push(struct rfw_decoder *decoder, uint8_t byte)
{
    int raw;
    size_t length;
    uint16_t crc;
    if (byte != 0) {
        if (decoder->discarding) {
            return RFW_DECODE_MORE;
        }
        if (decoder->count >= RFW_MAX_ENCODED) {
            decoder->discarding = 1;
            decoder->count = 0;
            return RFW_DECODE_MORE;
        }
        decoder->buffer[decoder->count++] = byte;
        return RFW_DECODE_MORE;
    }
    if (decoder->discarding) {
        decoder->discarding = 0;
        return RFW_DECODE_OVERSIZED;
    }
    if (decoder->count == 0) {
        return RFW_DECODE_MORE; /* extra delimiters are allowed */
    }
    raw = rfw_cobs_decode(decoder->buffer, decoder->count);
    decoder->count = 0;
    if (raw < 0) {
        return RFW_DECODE_INVALID_COBS;
    }
    length = (size_t)raw;
    if (length < HEADER_SIZE + CRC_SIZE) {
        return RFW_DECODE_TOO_SHORT;
    }
    if (length > RFW_MAX_RAW) {
        return RFW_DECODE_OVERSIZED;
    }
    crc = (uint16_t)(decoder->buffer[length - 2] | (decoder->buffer[length - 1] << 8));
    if (rfw_crc16(decoder->buffer, length - CRC_SIZE) != crc) {
        return RFW_DECODE_CRC_MISMATCH;
    }
    decoder->frame_length = (uint16_t)length;
    return RFW_DECODE_FRAME;
}

const uint8_t *rfw_decoder_frame(const struct rfw_decoder *decoder, size_t *count)
{
    *count = decoder->frame_length;
    return decoder->buffer;
}

/* ---- The output queue: a byte ring. ---- */

static size_t tx_free(const struct rfw *radio) { return RFW_TX_CAPACITY - radio->tx_count; }

static void tx_put(struct rfw *radio, uint8_t byte)
{
    size_t at = (size_t)radio->tx_head + radio->tx_count;
    if (at >= RFW_TX_CAPACITY) {
        at -= RFW_TX_CAPACITY;
    }
    radio->tx[at] = byte;
    radio->tx_count++;
}

/* COBS-encodes raw straight into the ring, with its delimiter. The caller has
 * checked that raw count + 3 bytes are free. */
static void tx_put_frame(struct rfw *radio, const uint8_t *raw, size_t count)
{
    uint8_t block[RFW_MAX_ENCODED];
    size_t encoded = rfw_cobs_encode(raw, count, block), i;
    for (i = 0; i < encoded; i++) {
        tx_put(radio, block[i]);
    }
    tx_put(radio, 0);
}

size_t rfw_tx_peek(const struct rfw *radio, const uint8_t **bytes)
{
    size_t run = RFW_TX_CAPACITY - radio->tx_head;
    *bytes = radio->tx + radio->tx_head;
    return radio->tx_count < run ? radio->tx_count : run;
}

void rfw_tx_consume(struct rfw *radio, size_t count)
{
    size_t head;
    if (count > radio->tx_count) {
        count = radio->tx_count;
    }
    head = (size_t)radio->tx_head + count;
    if (head >= RFW_TX_CAPACITY) {
        head -= RFW_TX_CAPACITY;
    }
    radio->tx_head = (uint16_t)head;
    radio->tx_count = (uint16_t)(radio->tx_count - count);
    if (radio->tx_count == 0) {
        radio->tx_head = 0; /* keep the next frame contiguous */
    }
}

size_t rfw_tx_pending(const struct rfw *radio) { return radio->tx_count; }

/* ---- Little-endian payload writing into radio->response. ---- */

static size_t put_u8(uint8_t *p, size_t at, uint8_t v)
{
    p[at] = v;
    return at + 1;
}
static size_t put_u16(uint8_t *p, size_t at, uint16_t v)
{
    p[at] = (uint8_t)(v & 0xFFu);
    p[at + 1] = (uint8_t)(v >> 8);
    return at + 2;
}
static size_t put_i16(uint8_t *p, size_t at, int16_t v) { return put_u16(p, at, (uint16_t)v); }
static size_t put_u32(uint8_t *p, size_t at, uint32_t v)
{
    at = put_u16(p, at, (uint16_t)(v & 0xFFFFu));
    return put_u16(p, at, (uint16_t)(v >> 16));
}

/* A str field: cut at a UTF-8 character boundary at or below 32 bytes. */
static size_t put_string(uint8_t *p, size_t at, const char *s)
{
    size_t length = 0, i;
    if (s != 0) {
        while (s[length] != '\0' && length <= RFW_MAX_STRING) {
            length++;
        }
    }
    if (length > RFW_MAX_STRING) {
        length = RFW_MAX_STRING;
        /* Back off continuation bytes (10xxxxxx) so no character is split. */
        while (length > 0 && ((uint8_t)s[length] & 0xC0u) == 0x80u) {
            length--;
        }
    }
    at = put_u8(p, at, (uint8_t)length);
    for (i = 0; i < length; i++) {
        p[at++] = (uint8_t)s[i];
    }
    return at;
}

static size_t put_measurements(uint8_t *p, size_t at, const struct rfw_measurements *m)
{
    at = put_i16(p, at, m->rssi_deci_dbm);
    at = put_i16(p, at, m->snr_deci_db);
    at = put_i16(p, at, m->temperature_deci_c);
    at = put_u16(p, at, m->supply_mv);
    at = put_i16(p, at, m->forward_deci_dbm);
    return put_i16(p, at, m->reflected_deci_dbm);
}

static void read_sensors(struct rfw *radio, struct rfw_measurements *m)
{
    m->rssi_deci_dbm = 0;
    m->snr_deci_db = 0;
    m->temperature_deci_c = 0;
    m->supply_mv = 0;
    m->forward_deci_dbm = 0;
    m->reflected_deci_dbm = 0;
    if (radio->hooks.read_sensors != 0) {
        radio->hooks.read_sensors(radio->hooks.context, m);
    }
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Seals radio->response (header written, payload up to `end`) with its CRC
 * and queues it: responses may use the whole queue, telemetry must leave
 * room for one largest response. Returns 0 when it did not fit. */
static int queue_frame(struct rfw *radio, size_t end, size_t reserve)
{
    uint16_t crc = rfw_crc16(radio->response, end);
    end = put_u16(radio->response, end, crc);
    if (tx_free(radio) < end + 3u + reserve) {
        return 0;
    }
    tx_put_frame(radio, radio->response, end);
    return 1;
}

static size_t response_header(struct rfw *radio, uint8_t type, uint16_t sequence, uint8_t status)
{
    size_t at = put_u8(radio->response, 0, RFW_PROTOCOL_VERSION);
    at = put_u8(radio->response, at, (uint8_t)(type | RESPONSE_FLAG));
    at = put_u16(radio->response, at, sequence);
    return put_u8(radio->response, at, status);
}

/* The payload length each request must have; -1: any up to 249 (Ping). */
static int expected_length(uint8_t type)
{
    switch (type) {
    case TYPE_IDENTIFY:
    case TYPE_GET_STATE: return 0;
    case TYPE_SET_POWER:
    case TYPE_SET_CHANNEL:
    case TYPE_SET_TELEMETRY_RATE: return 2;
    default: return -1;
    }
}

static uint8_t hook_status(uint8_t status)
{
    /* A hook may only say done, busy or failed; anything else is a fault. */
    return (status == RFW_OK || status == RFW_BUSY) ? status : (uint8_t)RFW_HARDWARE_FAULT;
}

/* Builds the answer to a good request frame in radio->response; returns the
 * payload end, with the status byte at offset 4. */
static size_t answer(struct rfw *radio, const uint8_t *frame, size_t length)
{
    uint8_t type = frame[1];
    uint16_t sequence = get_u16(frame + 2);
    const uint8_t *payload = frame + HEADER_SIZE;
    size_t payload_length = length - HEADER_SIZE - CRC_SIZE;
    const struct rfw_identity *id = &radio->identity;
    size_t at, i;
    int expected;

    if (frame[0] != RFW_PROTOCOL_VERSION) {
        return response_header(radio, type, sequence, RFW_UNSUPPORTED_VERSION);
    }
    if (type > TYPE_SET_TELEMETRY_RATE) {
        return response_header(radio, type, sequence, RFW_UNKNOWN_COMMAND);
    }
    expected = expected_length(type);
    if ((expected >= 0 && payload_length != (size_t)expected) ||
        (expected < 0 && payload_length > RFW_MAX_PAYLOAD - 1u)) {
        return response_header(radio, type, sequence, RFW_MALFORMED);
    }

    switch (type) {
    case TYPE_IDENTIFY:
        at = response_header(radio, type, sequence, RFW_OK);
        at = put_u8(radio->response, at, RFW_PROTOCOL_VERSION);
        at = put_i16(radio->response, at, id->power_min_deci_dbm);
        at = put_i16(radio->response, at, id->power_max_deci_dbm);
        at = put_u16(radio->response, at, id->channel_min);
        at = put_u16(radio->response, at, id->channel_max);
        at = put_string(radio->response, at, id->model);
        at = put_string(radio->response, at, id->serial_number);
        return put_string(radio->response, at, id->firmware_version);

    case TYPE_SET_POWER: {
        int16_t wanted = (int16_t)get_u16(payload), applied = wanted;
        uint8_t status = RFW_OK;
        if (wanted < id->power_min_deci_dbm || wanted > id->power_max_deci_dbm) {
            return response_header(radio, type, sequence, RFW_OUT_OF_RANGE);
        }
        if (radio->hooks.set_power != 0) {
            status = hook_status(radio->hooks.set_power(radio->hooks.context, wanted, &applied));
        }
        if (status != RFW_OK) {
            return response_header(radio, type, sequence, status);
        }
        radio->power = applied;
        at = response_header(radio, type, sequence, RFW_OK);
        return put_i16(radio->response, at, applied);
    }

    case TYPE_SET_CHANNEL: {
        uint16_t wanted = get_u16(payload), applied = wanted;
        uint8_t status = RFW_OK;
        if (wanted < id->channel_min || wanted > id->channel_max) {
            return response_header(radio, type, sequence, RFW_OUT_OF_RANGE);
        }
        if (radio->hooks.set_channel != 0) {
            status = hook_status(radio->hooks.set_channel(radio->hooks.context, wanted, &applied));
        }
        if (status != RFW_OK) {
            return response_header(radio, type, sequence, status);
        }
        radio->channel = applied;
        at = response_header(radio, type, sequence, RFW_OK);
        return put_u16(radio->response, at, applied);
    }

    case TYPE_GET_STATE: {
        struct rfw_measurements m;
        read_sensors(radio, &m);
        at = response_header(radio, type, sequence, RFW_OK);
        at = put_i16(radio->response, at, radio->power);
        at = put_u16(radio->response, at, radio->channel);
        at = put_u8(radio->response, at, radio->mode);
        at = put_u16(radio->response, at, radio->telemetry_hz);
        return put_measurements(radio->response, at, &m);
    }

    case TYPE_PING:
        at = response_header(radio, type, sequence, RFW_OK);
        for (i = 0; i < payload_length; i++) {
            radio->response[at++] = payload[i];
        }
        return at;

    default: { /* TYPE_SET_TELEMETRY_RATE */
        uint16_t hz = get_u16(payload);
        if (hz > id->max_telemetry_hz) {
            return response_header(radio, type, sequence, RFW_OUT_OF_RANGE);
        }
        radio->telemetry_hz = hz;
        radio->telemetry_credit = 0;
        at = response_header(radio, type, sequence, RFW_OK);
        return put_u16(radio->response, at, hz);
    }
    }
}

/* ---- The radio. ---- */

void rfw_init(struct rfw *radio, const struct rfw_identity *identity, const struct rfw_hooks *hooks)
{
    static const struct rfw_counters zero_counters = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    rfw_decoder_reset(&radio->decoder);
    radio->identity = *identity;
    if (hooks != 0) {
        radio->hooks = *hooks;
    } else {
        radio->hooks.context = 0;
        radio->hooks.set_power = 0;
        radio->hooks.set_channel = 0;
        radio->hooks.read_sensors = 0;
    }
    radio->counters = zero_counters;
    radio->power = identity->power_min_deci_dbm;
    radio->channel = identity->channel_min;
    radio->telemetry_hz = identity->telemetry_hz <= identity->max_telemetry_hz ? identity->telemetry_hz
                                                                               : identity->max_telemetry_hz;
    radio->telemetry_sequence = 0;
    radio->mode = 0;
    radio->clock_started = 0;
    radio->last_tick_ms = 0;
    radio->telemetry_credit = 0;
    radio->tx_head = 0;
    radio->tx_count = 0;
}

void rfw_feed(struct rfw *radio, uint8_t byte)
{
    const uint8_t *frame;
    size_t length, end;
    switch (rfw_decoder_push(&radio->decoder, byte)) {
    case RFW_DECODE_MORE: return;
    case RFW_DECODE_INVALID_COBS: radio->counters.invalid_cobs++; return;
    case RFW_DECODE_TOO_SHORT: radio->counters.too_short++; return;
    case RFW_DECODE_OVERSIZED: radio->counters.oversized++; return;
    case RFW_DECODE_CRC_MISMATCH: radio->counters.crc_mismatch++; return;
    case RFW_DECODE_FRAME: break;
    }
    radio->counters.frames++;
    frame = rfw_decoder_frame(&radio->decoder, &length);
    /* Only requests are answered (PROTOCOL.md 7); the rest are ignored. */
    if (frame[1] == 0 || frame[1] > TYPE_LAST_REQUEST) {
        radio->counters.ignored++;
        return;
    }
    end = answer(radio, frame, length);
    if (queue_frame(radio, end, 0)) {
        radio->counters.answered++;
    } else {
        radio->counters.responses_dropped++;
    }
}

void rfw_feed_bytes(struct rfw *radio, const uint8_t *bytes, size_t count)
{
    size_t i;
    for (i = 0; i < count; i++) {
        rfw_feed(radio, bytes[i]);
    }
}

static void send_telemetry(struct rfw *radio, uint32_t uptime_ms)
{
    struct rfw_measurements m;
    size_t at;
    read_sensors(radio, &m);
    at = put_u8(radio->response, 0, RFW_PROTOCOL_VERSION);
    at = put_u8(radio->response, at, TYPE_TELEMETRY);
    at = put_u16(radio->response, at, radio->telemetry_sequence);
    at = put_u32(radio->response, at, uptime_ms);
    at = put_measurements(radio->response, at, &m);
    /* The counter counts frames made, so a dropped one shows as a jump. */
    radio->telemetry_sequence = (uint16_t)(radio->telemetry_sequence + 1u);
    if (queue_frame(radio, at, RFW_MAX_WIRE)) {
        radio->counters.telemetry_sent++;
    } else {
        radio->counters.telemetry_dropped++;
    }
}

void rfw_tick(struct rfw *radio, uint32_t uptime_ms)
{
    uint32_t elapsed, limit;
    if (!radio->clock_started) {
        radio->clock_started = 1;
        radio->last_tick_ms = uptime_ms;
        return;
    }
    elapsed = uptime_ms - radio->last_tick_ms; /* modulo 2^32: wrapping is fine */
    radio->last_tick_ms = uptime_ms;
    if (radio->telemetry_hz == 0) {
        radio->telemetry_credit = 0;
        return;
    }
    /* Each millisecond earns rate/1000 frames. A gap earns at most 10 ms'
     * worth or 4 frames, whichever is more: ticks up to 10 ms apart keep the
     * full rate, and a stalled main loop does not come back with a burst. */
    limit = (uint32_t)radio->telemetry_hz * 10u;
    if (limit < 1000u * TELEMETRY_CATCH_UP) {
        limit = 1000u * TELEMETRY_CATCH_UP;
    }
    if (elapsed > 60000u) {
        elapsed = 60000u; /* 60000 * 65535 still fits in 32 bits */
    }
    radio->telemetry_credit += elapsed * radio->telemetry_hz;
    if (radio->telemetry_credit > limit) {
        radio->telemetry_credit = limit;
    }
    while (radio->telemetry_credit >= 1000u) {
        radio->telemetry_credit -= 1000u;
        send_telemetry(radio, uptime_ms);
    }
}

int16_t rfw_power(const struct rfw *radio) { return radio->power; }
uint16_t rfw_channel(const struct rfw *radio) { return radio->channel; }
uint16_t rfw_telemetry_rate(const struct rfw *radio) { return radio->telemetry_hz; }
void rfw_set_mode(struct rfw *radio, uint8_t transmitting) { radio->mode = transmitting ? 1u : 0u; }
const struct rfw_counters *rfw_get_counters(const struct rfw *radio) { return &radio->counters; }
