/* A minimal test harness shared by the C tests: checks that fail the current
 * test (not the process), a summary line, hex decoding, the vectors file and
 * a seeded PRNG. */
#ifndef ROSTER_TESTUTIL_H
#define ROSTER_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tests_passed, tests_failed, current_failed;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            current_failed = 1;                                                    \
            return;                                                                \
        }                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                          \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
            current_failed = 1;                                                    \
            return;                                                                \
        }                                                                          \
    } while (0)

#define RUN(test)                                                                  \
    do {                                                                           \
        current_failed = 0;                                                        \
        test();                                                                    \
        if (current_failed) {                                                      \
            tests_failed++;                                                        \
            fprintf(stderr, "FAIL %s\n", #test);                                   \
        } else {                                                                   \
            tests_passed++;                                                        \
            printf("ok   %s\n", #test);                                            \
        }                                                                          \
    } while (0)

/* Prints the summary line and returns the process exit status. */
static inline int test_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, tests_passed, tests_failed);
    return tests_failed == 0 && tests_passed > 0 ? 0 : 1;
}

/* Decodes lowercase/uppercase hex into a new buffer; returns its length, or
 * (size_t)-1 for odd length or a bad digit. */
static inline size_t hex_decode(const char *hex, uint8_t **out)
{
    size_t n = strlen(hex);
    *out = NULL;
    if (n % 2)
        return (size_t)-1;
    uint8_t *buf = malloc(n / 2 + 1);
    if (buf == NULL)
        return (size_t)-1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(buf);
            return (size_t)-1;
        }
        buf[i] = (uint8_t)v;
    }
    *out = buf;
    return n / 2;
}

/* One line of proto/testdata/vectors.txt. */
typedef struct vector {
    int valid;
    char name[96];
    char type[64];
    uint8_t *bytes;
    size_t len;
    size_t max_frame_size; /* invalid vectors only */
    char error[32];        /* invalid vectors only */
} vector;

/* Loads every vector; returns the count, or -1 if the file is missing or malformed. */
static inline int load_vectors(const char *path, vector *out, int cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    static char line[16384];
    static char hex[16384];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (n == cap) {
            fprintf(stderr, "more than %d vectors in %s\n", cap, path);
            n = -1;
            break;
        }
        vector *v = &out[n];
        memset(v, 0, sizeof *v);
        char kind[8];
        int fields = sscanf(line, "%7s %95s %63s %16383s %zu %31s", kind, v->name, v->type, hex,
                            &v->max_frame_size, v->error);
        v->valid = strcmp(kind, "ok") == 0;
        if ((v->valid && fields != 4) || (!v->valid && (strcmp(kind, "bad") != 0 || fields != 6)) ||
            (v->len = hex_decode(hex, &v->bytes)) == (size_t)-1) {
            fprintf(stderr, "malformed line in %s: %s", path, line);
            n = -1;
            break;
        }
        n++;
    }
    fclose(f);
    return n;
}

static inline void free_vectors(vector *v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i].bytes);
}

static inline const ProtobufCMessageDescriptor *descriptor_for(const char *type)
{
    if (strcmp(type, "roster.v1.RequestFrame") == 0)
        return &roster__v1__request_frame__descriptor;
    if (strcmp(type, "roster.v1.ResponseFrame") == 0)
        return &roster__v1__response_frame__descriptor;
    return NULL;
}

/* splitmix64: a tiny deterministic PRNG, so every fuzz run is reproducible from its seed. */
static inline uint64_t prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
