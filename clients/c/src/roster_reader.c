/*
 * I/O-free frame reader: a 4-byte big-endian length, then that many bytes of
 * one protobuf message (docs/PROTOCOL.md, "Framing").
 *
 * Buffer layout:   [0, pos)          consumed, reclaimed on the next growth
 *                  [pos, partial)    complete frames, validated, not yet returned
 *                  [partial, len)    the incomplete frame at the end, if any
 * frame_end is that frame's end offset once its length prefix is in (0 before),
 * so each prefix is checked exactly once, before its payload is stored.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster_client.h"

#define HEADER_SIZE 4u

static uint32_t read_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void reader_fail(roster_reader *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the error and drops the buffer: the stream cannot be resynchronized. */
static void reader_fail(roster_reader *r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof r->errstr, fmt, ap);
    va_end(ap);
    r->err = err;
    free(r->buf);
    r->buf = NULL;
    r->cap = r->pos = r->len = r->partial = r->frame_end = 0;
}

roster_reader *roster_reader_create(const ProtobufCMessageDescriptor *descriptor, size_t max_frame_size)
{
    if (descriptor == NULL)
        return NULL;
    roster_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->descriptor = descriptor;
    r->max_frame_size = max_frame_size;
    return r;
}

void roster_reader_free(roster_reader *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    free(r);
}

/* Makes room for `extra` more bytes, first by reclaiming consumed space. */
static int reserve(roster_reader *r, size_t extra)
{
    if (r->cap - r->len >= extra)
        return ROSTER_OK;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->partial -= r->pos;
        if (r->frame_end != 0)
            r->frame_end -= r->pos;
        r->pos = 0;
        if (r->cap - r->len >= extra)
            return ROSTER_OK;
    }
    if (extra > SIZE_MAX / 2 - r->len) {
        reader_fail(r, ROSTER_ERR_OOM, "reader buffer would exceed the address space");
        return ROSTER_ERR;
    }
    size_t cap = r->cap < 256 ? 256 : r->cap;
    while (cap - r->len < extra)
        cap *= 2;
    uint8_t *buf = realloc(r->buf, cap);
    if (buf == NULL) {
        reader_fail(r, ROSTER_ERR_OOM, "out of memory growing the reader buffer to %zu bytes", cap);
        return ROSTER_ERR;
    }
    r->buf = buf;
    r->cap = cap;
    return ROSTER_OK;
}

static int append(roster_reader *r, const uint8_t *p, size_t n)
{
    if (n == 0)
        return ROSTER_OK;
    if (reserve(r, n) != ROSTER_OK)
        return ROSTER_ERR;
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    return ROSTER_OK;
}

int roster_reader_feed(roster_reader *r, const void *data, size_t n)
{
    if (r->err)
        return ROSTER_ERR;
    const uint8_t *p = data;
    while (n > 0) {
        if (r->frame_end == 0) {
            size_t take = HEADER_SIZE - (r->len - r->partial);
            if (take > n)
                take = n;
            if (append(r, p, take) != ROSTER_OK)
                return ROSTER_ERR;
            p += take;
            n -= take;
            if (r->len - r->partial < HEADER_SIZE)
                break;
            uint32_t length = read_be32(r->buf + r->partial);
            if (length > r->max_frame_size) {
                reader_fail(r, ROSTER_ERR_FRAME_TOO_LARGE, "frame length %u exceeds the maximum %zu", length,
                            r->max_frame_size);
                return ROSTER_ERR;
            }
            r->frame_end = r->partial + HEADER_SIZE + length;
        }
        /* A zero-length frame completes right here, with no payload byte. */
        size_t take = r->frame_end - r->len;
        if (take > n)
            take = n;
        if (append(r, p, take) != ROSTER_OK)
            return ROSTER_ERR;
        p += take;
        n -= take;
        if (r->len == r->frame_end) {
            r->partial = r->len;
            r->frame_end = 0;
        }
    }
    return ROSTER_OK;
}

int roster_reader_next(roster_reader *r, ProtobufCMessage **msg)
{
    *msg = NULL;
    if (r->err)
        return ROSTER_ERR;
    if (r->pos == r->partial)
        return ROSTER_NEED_MORE;
    uint32_t length = read_be32(r->buf + r->pos);
    ProtobufCMessage *m =
        protobuf_c_message_unpack(r->descriptor, NULL, length, r->buf + r->pos + HEADER_SIZE);
    if (m == NULL) {
        /* protobuf-c reports malformed input and allocation failure alike. */
        reader_fail(r, ROSTER_ERR_DECODE, "%u-byte frame is not a valid %s", length, r->descriptor->name);
        return ROSTER_ERR;
    }
    r->pos += HEADER_SIZE + length;
    if (r->pos == r->len)
        r->pos = r->len = r->partial = 0;
    *msg = m;
    return ROSTER_OK;
}

int roster_reader_eof(roster_reader *r)
{
    if (r->err)
        return ROSTER_ERR;
    size_t held = r->len - r->partial;
    if (held == 0)
        return ROSTER_OK;
    if (r->frame_end == 0)
        reader_fail(r, ROSTER_ERR_TRUNCATED, "stream ended inside a frame after %zu of %u length-prefix bytes", held,
                    HEADER_SIZE);
    else
        reader_fail(r, ROSTER_ERR_TRUNCATED, "stream ended inside a frame after %zu of %zu payload bytes",
                    held - HEADER_SIZE, r->frame_end - r->partial - HEADER_SIZE);
    return ROSTER_ERR;
}

size_t roster_reader_buffered(const roster_reader *r)
{
    return r->len - r->pos;
}

const char *roster_strerror(int err)
{
    switch (err) {
    case ROSTER_ERR_NONE: return "no error";
    case ROSTER_ERR_OOM: return "out of memory";
    case ROSTER_ERR_FRAME_TOO_LARGE: return "frame too large";
    case ROSTER_ERR_DECODE: return "undecodable frame";
    case ROSTER_ERR_TRUNCATED: return "stream ended inside a frame";
    case ROSTER_ERR_ARG: return "invalid argument";
    case ROSTER_ERR_IO: return "I/O error";
    case ROSTER_ERR_EOF: return "connection closed by rosterd";
    case ROSTER_ERR_TIMEOUT: return "deadline exceeded";
    case ROSTER_ERR_PROTOCOL: return "protocol violation by rosterd";
    case ROSTER_ERR_STATUS: return "rosterd returned an error status";
    default: return "unknown error";
    }
}

const char *roster_code_name(int code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&roster__v1__code__descriptor, code);
    return v ? v->name : "UNRECOGNIZED";
}

const char *roster_reason_name(int reason)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&roster__v1__reason__descriptor, reason);
    return v ? v->name : "UNRECOGNIZED";
}
