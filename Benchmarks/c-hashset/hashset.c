// Reference lookups for the Roster membership-index benchmark (docs/BENCHMARKS.md).
//
// Builds, from the same deterministic data as Benchmarks/Sources/RosterBenchSupport/Dataset.swift
// (byte-identical ids, the same memberships, the same query stream), two open-addressing hash sets:
//   - strings: "userId\tgroupId" (73 bytes, each malloc'd), slots of {64-bit hash, pointer},
//     MurmurHash64A, linear probing, load <= 1/2;
//   - integers: (userKey << 32 | groupKey) in a flat uint64_t table, multiplicative hash, linear
//     probing, load <= 1/2;
// then answers `queries` random (user, group) lookups (even ones members, odd ones random groups)
// in timed batches of 1,000 and prints the median, p90, p99 and mean of the per-lookup time.
//
//   usage: hashset [users=100000] [groups=100000] [per_user=10] [queries=1000000] [passes=5]
//
// users=100000 gives the 1M pairs of the reference figure (the first 100k users of the
// Swift dataset); users=1000000 gives the same 10M pairs as the Swift index.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEED 0x5EEDull
#define QUERY_SEED 0xC0FFEEull
#define BATCH 1000

// ---- SplitMix64, as in Dataset.swift ----
static inline uint64_t sm_finalize(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline uint64_t sm_mix(uint64_t x) { return sm_finalize(x + 0x9E3779B97F4A7C15ull); }
static inline uint64_t sm_next(uint64_t *state) {
    *state += 0x9E3779B97F4A7C15ull;
    return sm_finalize(*state);
}

// 36 characters, 8-4-4-4-12 lowercase hex; `out` gets no terminator.
static void uuid(uint64_t kind, uint64_t ordinal, char *out) {
    static const char hex[] = "0123456789abcdef";
    uint64_t base = SEED ^ (kind << 56) ^ (ordinal * 2);
    uint64_t words[2] = {sm_mix(base), sm_mix(base ^ 1)};
    int o = 0;
    for (int i = 0; i < 2; i++) {
        for (int nibble = 0; nibble < 16; nibble++) {
            int position = i * 16 + nibble;
            if (position == 8 || position == 12 || position == 16 || position == 20) out[o++] = '-';
            out[o++] = hex[(words[i] >> (60 - nibble * 4)) & 0xF];
        }
    }
}

static void groups_of(uint64_t u, int groups, int per_user, int *out) {
    uint64_t state = SEED ^ 0xA5A500000000ull ^ (u * 0x9E3779B9ull);
    int n = 0;
    while (n < per_user) {
        int g = (int)(sm_next(&state) % (uint64_t)groups);
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= out[i] == g;
        if (!dup) out[n++] = g;
    }
}

// ---- hashing ----
static inline uint64_t murmur64a(const void *key, size_t len) {
    const uint64_t m = 0xc6a4a7935bd1e995ull;
    const int r = 47;
    uint64_t h = 0x8445d61a4e774912ull ^ (len * m);
    const unsigned char *p = key;
    const unsigned char *end = p + (len / 8) * 8;
    while (p != end) {
        uint64_t k;
        memcpy(&k, p, 8);
        p += 8;
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    switch (len & 7) {
    case 7: h ^= (uint64_t)p[6] << 48; /* fallthrough */
    case 6: h ^= (uint64_t)p[5] << 40; /* fallthrough */
    case 5: h ^= (uint64_t)p[4] << 32; /* fallthrough */
    case 4: h ^= (uint64_t)p[3] << 24; /* fallthrough */
    case 3: h ^= (uint64_t)p[2] << 16; /* fallthrough */
    case 2: h ^= (uint64_t)p[1] << 8; /* fallthrough */
    case 1: h ^= (uint64_t)p[0]; h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

static inline uint64_t int_hash(uint64_t k) { return sm_finalize(k); }

// ---- string set ----
typedef struct { uint64_t hash; const char *key; } slot_t;
typedef struct { slot_t *slots; uint64_t mask; size_t count; } strset_t;

#define PAIR_LEN 73 // 36 + '\t' + 36

static void strset_insert(strset_t *set, const char *key) {
    uint64_t h = murmur64a(key, PAIR_LEN);
    for (uint64_t i = h & set->mask;; i = (i + 1) & set->mask) {
        slot_t *s = &set->slots[i];
        if (!s->key) { s->hash = h; s->key = key; set->count++; return; }
        if (s->hash == h && memcmp(s->key, key, PAIR_LEN) == 0) return;
    }
}

static inline int strset_contains(const strset_t *set, const char *key) {
    uint64_t h = murmur64a(key, PAIR_LEN);
    for (uint64_t i = h & set->mask;; i = (i + 1) & set->mask) {
        const slot_t *s = &set->slots[i];
        if (!s->key) return 0;
        if (s->hash == h && memcmp(s->key, key, PAIR_LEN) == 0) return 1;
    }
}

// ---- integer set (0 = empty; keys are never 0) ----
typedef struct { uint64_t *slots; uint64_t mask; size_t count; } intset_t;

static void intset_insert(intset_t *set, uint64_t key) {
    for (uint64_t i = int_hash(key) & set->mask;; i = (i + 1) & set->mask) {
        if (set->slots[i] == 0) { set->slots[i] = key; set->count++; return; }
        if (set->slots[i] == key) return;
    }
}

static inline int intset_contains(const intset_t *set, uint64_t key) {
    for (uint64_t i = int_hash(key) & set->mask;; i = (i + 1) & set->mask) {
        uint64_t k = set->slots[i];
        if (k == key) return 1;
        if (k == 0) return 0;
    }
}

// ---- measurement ----
static inline uint64_t nanos(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * 4096;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, double *samples, size_t n, double mean, long hits) {
    qsort(samples, n, sizeof(double), cmp_double);
    printf("%-34s p50 %7.1f ns  p90 %7.1f ns  p99 %7.1f ns  mean %7.1f ns  (batches %zu, hits %ld)\n", name,
           samples[n / 2], samples[(size_t)(n * 0.90)], samples[(size_t)(n * 0.99)], mean, n, hits);
}

static uint64_t next_pow2(uint64_t x) {
    uint64_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

int main(int argc, char **argv) {
    int users = argc > 1 ? atoi(argv[1]) : 100000;
    int groups = argc > 2 ? atoi(argv[2]) : 100000;
    int per_user = argc > 3 ? atoi(argv[3]) : 10;
    size_t nq = argc > 4 ? (size_t)atol(argv[4]) : 1000000;
    int passes = argc > 5 ? atoi(argv[5]) : 5;
    size_t pairs = (size_t)users * per_user;

    char *group_ids = malloc((size_t)groups * 36);
    for (int g = 0; g < groups; g++) uuid(2, g, group_ids + (size_t)g * 36);

    long rss0 = rss_bytes();
    uint64_t t0 = nanos();
    strset_t ss = {0};
    uint64_t cap = next_pow2(pairs * 2);
    ss.slots = calloc(cap, sizeof(slot_t));
    ss.mask = cap - 1;
    int own[64];
    char uid[36];
    for (int u = 0; u < users; u++) {
        uuid(1, u, uid);
        groups_of(u, groups, per_user, own);
        for (int k = 0; k < per_user; k++) {
            char *key = malloc(PAIR_LEN + 1);
            memcpy(key, uid, 36);
            key[36] = '\t';
            memcpy(key + 37, group_ids + (size_t)own[k] * 36, 36);
            key[PAIR_LEN] = 0;
            strset_insert(&ss, key);
        }
    }
    long rss1 = rss_bytes();
    intset_t is = {0};
    is.slots = calloc(cap, sizeof(uint64_t));
    is.mask = cap - 1;
    for (int u = 0; u < users; u++) {
        groups_of(u, groups, per_user, own);
        for (int k = 0; k < per_user; k++) intset_insert(&is, ((uint64_t)(u + 1) << 32) | (uint64_t)(own[k] + 1));
    }
    long rss2 = rss_bytes();
    printf("built %d users x %d groups/user = %zu pairs (%d groups) in %.1f s\n", users, per_user, ss.count, groups,
           (nanos() - t0) / 1e9);
    printf("string set: %.1f MiB RSS, %.1f bytes/pair; integer set: %.1f MiB RSS, %.1f bytes/pair\n",
           (rss1 - rss0) / 1048576.0, (double)(rss1 - rss0) / (double)pairs, (rss2 - rss1) / 1048576.0,
           (double)(rss2 - rss1) / (double)pairs);

    // The query stream of Queries.swift: fresh query strings, allocated after the set.
    char **qs = malloc(nq * sizeof(char *));
    uint64_t *qi = malloc(nq * sizeof(uint64_t));
    uint64_t state = SEED ^ QUERY_SEED;
    for (size_t q = 0; q < nq; q++) {
        int u = (int)(sm_next(&state) % (uint64_t)users);
        groups_of(u, groups, per_user, own);
        int g = (q % 2 == 0) ? own[sm_next(&state) % (uint64_t)per_user] : (int)(sm_next(&state) % (uint64_t)groups);
        char *key = malloc(PAIR_LEN + 1);
        uuid(1, u, key);
        key[36] = '\t';
        memcpy(key + 37, group_ids + (size_t)g * 36, 36);
        key[PAIR_LEN] = 0;
        qs[q] = key;
        qi[q] = ((uint64_t)(u + 1) << 32) | (uint64_t)(g + 1);
    }

    size_t batches = (nq / BATCH) * passes;
    double *samples = malloc(batches * sizeof(double));

    long hits = 0;
    for (size_t q = 0; q < nq; q++) hits += strset_contains(&ss, qs[q]);
    printf("members among the queries: %ld of %zu\n", hits, nq);

    // Consecutive lookups are independent (the CPU may overlap their misses), as in the Swift probe.
    for (int set = 0; set < 2; set++) {
        // One untimed warm pass, then `passes` timed passes.
        for (size_t q = 0; q < nq; q++) hits += set == 0 ? strset_contains(&ss, qs[q]) : intset_contains(&is, qi[q]);
        hits = 0;
        size_t n = 0;
        uint64_t start = nanos();
        for (int p = 0; p < passes; p++) {
            for (size_t b = 0; b + BATCH <= nq; b += BATCH) {
                uint64_t t = nanos();
                if (set == 0) {
                    for (size_t q = b; q < b + BATCH; q++) hits += strset_contains(&ss, qs[q]);
                } else {
                    for (size_t q = b; q < b + BATCH; q++) hits += intset_contains(&is, qi[q]);
                }
                samples[n++] = (double)(nanos() - t) / BATCH;
            }
        }
        report(set == 0 ? "C string set \"userId\\tgroupId\":" : "C integer set (u32 << 32 | u32):", samples, n,
               (double)(nanos() - start) / (double)(n * BATCH), hits);
    }
    return 0;
}
