/* Unit tests of the I/O-free frame reader. */
#include "roster_client.h"
#include "testutil.h"

static size_t frame(uint8_t *out, const Roster__V1__ResponseFrame *msg)
{
    size_t n = roster__v1__response_frame__pack(msg, out + 4);
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    return n + 4;
}

static roster_reader *response_reader(size_t max)
{
    return roster_reader_create(&roster__v1__response_frame__descriptor, max);
}

/* Three frames: a health answer, an end-of-stream marker, an empty frame. */
static size_t sample_stream(uint8_t *buf)
{
    Roster__V1__HealthResponse health = ROSTER__V1__HEALTH_RESPONSE__INIT;
    health.status = "SERVING";
    health.revision = 300;
    Roster__V1__ResponseFrame a = ROSTER__V1__RESPONSE_FRAME__INIT;
    a.call_id = 1;
    a.result_case = ROSTER__V1__RESPONSE_FRAME__RESULT_HEALTH;
    a.health = &health;
    Roster__V1__ResponseFrame b = ROSTER__V1__RESPONSE_FRAME__INIT;
    b.call_id = 2;
    b.end_of_stream = 1;
    size_t n = frame(buf, &a);
    n += frame(buf + n, &b);
    memset(buf + n, 0, 4);
    return n + 4;
}

static int drain(roster_reader *r, uint64_t *ids, int cap)
{
    int n = 0;
    ProtobufCMessage *m;
    while (roster_reader_next(r, &m) == ROSTER_OK) {
        if (n < cap)
            ids[n] = ((Roster__V1__ResponseFrame *)m)->call_id;
        n++;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return n;
}

static void test_every_split_point(void)
{
    uint8_t buf[256];
    size_t len = sample_stream(buf);
    for (size_t cut = 0; cut <= len; cut++) {
        roster_reader *r = response_reader(ROSTER_DEFAULT_MAX_FRAME_SIZE);
        uint64_t ids[3] = {9, 9, 9};
        CHECK(roster_reader_feed(r, buf, cut) == ROSTER_OK);
        int got = drain(r, ids, 3);
        CHECK(roster_reader_feed(r, buf + cut, len - cut) == ROSTER_OK);
        got += drain(r, ids + got, 3 - got);
        CHECKF(got == 3 && ids[0] == 1 && ids[1] == 2 && ids[2] == 0, "cut %zu: got %d", cut, got);
        CHECK(roster_reader_eof(r) == ROSTER_OK);
        roster_reader_free(r);
    }
}

static void test_byte_at_a_time_holds_one_partial_frame(void)
{
    uint8_t buf[256];
    size_t len = sample_stream(buf);
    roster_reader *r = response_reader(ROSTER_DEFAULT_MAX_FRAME_SIZE);
    uint64_t ids[3];
    int got = 0;
    for (size_t i = 0; i < len; i++) {
        CHECK(roster_reader_feed(r, buf + i, 1) == ROSTER_OK);
        got += drain(r, ids + got, 3 - got);
        CHECK(roster_reader_buffered(r) <= len);
    }
    CHECK(got == 3 && roster_reader_buffered(r) == 0);
    roster_reader_free(r);
}

static void test_zero_length_frames(void)
{
    roster_reader *r = response_reader(ROSTER_DEFAULT_MAX_FRAME_SIZE);
    uint8_t zeros[12] = {0};
    CHECK(roster_reader_feed(r, zeros, sizeof zeros) == ROSTER_OK);
    ProtobufCMessage *m;
    for (int i = 0; i < 3; i++) {
        CHECK(roster_reader_next(r, &m) == ROSTER_OK);
        CHECK(((Roster__V1__ResponseFrame *)m)->call_id == 0);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    CHECK(roster_reader_next(r, &m) == ROSTER_NEED_MORE && m == NULL);
    roster_reader_free(r);
}

static void test_oversized_length_rejected_from_header(void)
{
    roster_reader *r = response_reader(ROSTER_DEFAULT_MAX_FRAME_SIZE);
    const uint8_t header[4] = {0x00, 0x40, 0x00, 0x01};
    CHECK(roster_reader_feed(r, header, 2) == ROSTER_OK);
    CHECK(roster_reader_feed(r, header + 2, 2) == ROSTER_ERR);
    CHECK(r->err == ROSTER_ERR_FRAME_TOO_LARGE);
    CHECKF(strstr(r->errstr, "4194305") && strstr(r->errstr, "4194304"), "%s", r->errstr);
    CHECK(roster_reader_buffered(r) == 0);
    roster_reader_free(r);
}

static void test_oversized_payload_never_buffered(void)
{
    roster_reader *r = response_reader(1024);
    size_t n = 4 + (1u << 20);
    uint8_t *big = calloc(1, n);
    CHECK(big != NULL);
    big[2] = 0x08; /* length 2048 */
    int rc = roster_reader_feed(r, big, n);
    free(big);
    CHECK(rc == ROSTER_ERR && r->err == ROSTER_ERR_FRAME_TOO_LARGE);
    CHECK(roster_reader_buffered(r) == 0 && r->cap == 0);
    roster_reader_free(r);
}

static void test_exact_maximum_accepted(void)
{
    uint8_t buf[64];
    Roster__V1__ResponseFrame f = ROSTER__V1__RESPONSE_FRAME__INIT;
    f.call_id = 300;
    size_t len = frame(buf, &f);
    roster_reader *ok = response_reader(len - 4);
    roster_reader *tight = response_reader(len - 5);
    CHECK(roster_reader_feed(ok, buf, len) == ROSTER_OK);
    uint64_t id;
    CHECK(drain(ok, &id, 1) == 1 && id == 300);
    CHECK(roster_reader_feed(tight, buf, len) == ROSTER_ERR && tight->err == ROSTER_ERR_FRAME_TOO_LARGE);
    roster_reader_free(ok);
    roster_reader_free(tight);
}

static void test_errors_are_sticky(void)
{
    roster_reader *r = response_reader(ROSTER_DEFAULT_MAX_FRAME_SIZE);
    const uint8_t garbage[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
    ProtobufCMessage *m;
    CHECK(roster_reader_feed(r, garbage, sizeof garbage) == ROSTER_OK);
    CHECK(roster_reader_next(r, &m) == ROSTER_ERR && r->err == ROSTER_ERR_DECODE);
    CHECKF(strstr(r->errstr, "3-byte frame is not a valid roster.v1.ResponseFrame") != NULL, "%s", r->errstr);
    const uint8_t empty[4] = {0};
    CHECK(roster_reader_feed(r, empty, 4) == ROSTER_ERR);
    CHECK(roster_reader_next(r, &m) == ROSTER_ERR && m == NULL);
    CHECK(roster_reader_eof(r) == ROSTER_ERR);
    roster_reader_free(r);
}

static void test_truncation_reported_at_eof(void)
{
    roster_reader *r = response_reader(ROSTER_DEFAULT_MAX_FRAME_SIZE);
    const uint8_t part[] = {0, 0};
    CHECK(roster_reader_feed(r, part, 2) == ROSTER_OK);
    CHECK(roster_reader_eof(r) == ROSTER_ERR && r->err == ROSTER_ERR_TRUNCATED);
    CHECKF(strstr(r->errstr, "2 of 4 length-prefix bytes") != NULL, "%s", r->errstr);
    roster_reader_free(r);

    r = response_reader(ROSTER_DEFAULT_MAX_FRAME_SIZE);
    const uint8_t payload[] = {0, 0, 0, 5, 0x08};
    CHECK(roster_reader_feed(r, payload, sizeof payload) == ROSTER_OK);
    CHECK(roster_reader_eof(r) == ROSTER_ERR);
    CHECKF(strstr(r->errstr, "1 of 5 payload bytes") != NULL, "%s", r->errstr);
    roster_reader_free(r);
}

static void test_interleaved_feed_and_next_keeps_order(void)
{
    /* 2000 frames fed in 7-byte chunks, read as they complete: exercises compaction. */
    enum { N = 2000 };
    uint8_t *stream = malloc(N * 16);
    CHECK(stream != NULL);
    size_t len = 0;
    for (uint64_t i = 1; i <= N; i++) {
        Roster__V1__ResponseFrame f = ROSTER__V1__RESPONSE_FRAME__INIT;
        f.call_id = i * 1000003;
        len += frame(stream + len, &f);
    }
    roster_reader *r = response_reader(ROSTER_DEFAULT_MAX_FRAME_SIZE);
    uint64_t expected = 1, id;
    int ordered = 1;
    for (size_t off = 0; off < len; off += 7) {
        size_t n = len - off < 7 ? len - off : 7;
        if (roster_reader_feed(r, stream + off, n) != ROSTER_OK)
            break;
        while (drain(r, &id, 1) == 1) {
            ordered &= id == expected * 1000003;
            expected++;
        }
    }
    free(stream);
    CHECK(ordered && expected == N + 1);
    CHECK(r->cap <= 256);
    roster_reader_free(r);
}

static void test_names(void)
{
    CHECK(strcmp(roster_code_name(ROSTER__V1__CODE__NOT_FOUND), "NOT_FOUND") == 0);
    CHECK(strcmp(roster_code_name(16), "UNAUTHENTICATED") == 0);
    CHECK(strcmp(roster_code_name(99), "UNRECOGNIZED") == 0);
    CHECK(strcmp(roster_reason_name(ROSTER__V1__REASON__USER_SUSPENDED), "USER_SUSPENDED") == 0);
    CHECK(strcmp(roster_strerror(ROSTER_ERR_FRAME_TOO_LARGE), "frame too large") == 0);
    CHECK(strcmp(roster_strerror(12345), "unknown error") == 0);
    CHECK(roster_reader_create(NULL, 10) == NULL);
}

int main(void)
{
    RUN(test_every_split_point);
    RUN(test_byte_at_a_time_holds_one_partial_frame);
    RUN(test_zero_length_frames);
    RUN(test_oversized_length_rejected_from_header);
    RUN(test_oversized_payload_never_buffered);
    RUN(test_exact_maximum_accepted);
    RUN(test_errors_are_sticky);
    RUN(test_truncation_reported_at_eof);
    RUN(test_interleaved_feed_and_next_keeps_order);
    RUN(test_names);
    return test_summary("test_reader");
}
