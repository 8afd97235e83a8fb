/* Bounded, seeded fuzzing of the reader and of protobuf-c's decoder behind it:
 * random byte streams fed in random chunks, and mutated copies of the valid
 * vectors. Nothing may crash, leak or trip a sanitizer, and the reader's
 * invariants must hold after every call. Reproduce a failure from its seed. */
#include "roster_client.h"
#include "testutil.h"

#define RANDOM_STREAMS 100000
#define MUTATIONS_PER_VECTOR 5000
#define MAX_VECTORS 128

static const size_t limits[] = {0, 1, 5, 64, 4096, ROSTER_DEFAULT_MAX_FRAME_SIZE};

/* Feeds `data` in random chunks, draining after each; returns frames decoded,
 * or -1 if an invariant broke (reported on stderr). */
static int feed_randomly(roster_reader *r, const uint8_t *data, size_t len, uint64_t *state, uint64_t seed)
{
    int frames = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t step = 1 + prng_next(state) % 64;
        if (step > len - pos)
            step = len - pos;
        int fed = roster_reader_feed(r, data + pos, step);
        pos += step;
        ProtobufCMessage *m;
        int rc;
        while ((rc = roster_reader_next(r, &m)) == ROSTER_OK) {
            frames++;
            protobuf_c_message_free_unpacked(m, NULL);
        }
        if ((fed == ROSTER_ERR || rc == ROSTER_ERR) && (r->err == ROSTER_ERR_NONE || roster_reader_buffered(r) != 0)) {
            fprintf(stderr, "  seed %llu: error without err set, or buffer kept\n", (unsigned long long)seed);
            return -1;
        }
        if (r->err)
            return frames;
        /* Only the incomplete frame at the end may be held after draining. */
        if (roster_reader_buffered(r) > r->max_frame_size + 4) {
            fprintf(stderr, "  seed %llu: %zu bytes held over a %zu limit\n", (unsigned long long)seed,
                    roster_reader_buffered(r), r->max_frame_size);
            return -1;
        }
    }
    roster_reader_eof(r);
    return frames;
}

static void test_random_streams(void)
{
    uint8_t data[600];
    long frames = 0;
    for (uint64_t seed = 0; seed < RANDOM_STREAMS; seed++) {
        uint64_t state = seed;
        size_t len = prng_next(&state) % sizeof data;
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)prng_next(&state);
        /* Small length prefixes make complete frames likely, so the decoder runs too. */
        if (len >= 4 && seed % 2 == 0) {
            data[0] = data[1] = data[2] = 0;
            data[3] %= 16;
        }
        size_t limit = limits[prng_next(&state) % (sizeof limits / sizeof limits[0])];
        const ProtobufCMessageDescriptor *d =
            seed % 3 ? &roster__v1__response_frame__descriptor : &roster__v1__request_frame__descriptor;
        roster_reader *r = roster_reader_create(d, limit);
        CHECK(r != NULL);
        int got = feed_randomly(r, data, len, &state, seed);
        roster_reader_free(r);
        CHECK(got >= 0);
        frames += got;
    }
    printf("     %d random streams, %ld frames decoded\n", RANDOM_STREAMS, frames);
}

static void test_mutated_vectors(void)
{
    static vector vectors[MAX_VECTORS];
    int n = load_vectors(VECTORS_TXT, vectors, MAX_VECTORS);
    CHECK(n > 0);
    long decoded = 0, rejected = 0;
    uint8_t buf[1024];
    for (int i = 0; i < n; i++) {
        const vector *v = &vectors[i];
        if (!v->valid || v->len <= 4 || v->len > sizeof buf)
            continue;
        for (uint64_t k = 0; k < MUTATIONS_PER_VECTOR; k++) {
            uint64_t seed = ((uint64_t)i << 32) | k, state = seed;
            memcpy(buf, v->bytes, v->len);
            /* Flip 1..4 payload bytes; the length prefix stays valid so the decoder sees them. */
            int flips = 1 + (int)(prng_next(&state) % 4);
            for (int f = 0; f < flips; f++)
                buf[4 + prng_next(&state) % (v->len - 4)] ^= (uint8_t)(1 + prng_next(&state) % 255);
            roster_reader *r = roster_reader_create(descriptor_for(v->type), ROSTER_DEFAULT_MAX_FRAME_SIZE);
            int got = feed_randomly(r, buf, v->len, &state, seed);
            roster_reader_free(r);
            if (got < 0)
                free_vectors(vectors, n);
            CHECK(got >= 0);
            if (got == 1)
                decoded++;
            else
                rejected++;
        }
    }
    free_vectors(vectors, n);
    printf("     mutated vectors: %ld decoded, %ld rejected\n", decoded, rejected);
    CHECK(decoded > 0 && rejected > 0);
}

int main(void)
{
    RUN(test_random_streams);
    RUN(test_mutated_vectors);
    return test_summary("test_fuzz");
}
