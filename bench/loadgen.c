/*
 * loadgen: one load client, three targets, so they are measured the same way.
 *
 *   loadgen roster --socket S --directory D --queries FILE --connections C --pipeline P --duration SEC [--json]
 *   loadgen redis  --socket S --queries FILE ...     SISMEMBER <groupId> <userId> over RESP
 *   loadgen floor  --socket S --queries FILE ...     the roster request frames, to bench/floor-server
 *
 * One thread, epoll, C non-blocking Unix-socket connections with P calls in flight on each:
 * when an answer arrives the next query is sent in its place; everything produced while handling
 * one connection's read goes out in one write(). Queries come from the same file roster-load
 * reads (userId<TAB>groupId<TAB>allow|deny); every answer is compared with the expected decision
 * (roster, redis) and mismatches are counted as `wrong`. Latency is per call, from the write of
 * the request to the read of its answer, in a log-linear histogram with 0.2% resolution.
 *
 * roster mode is built on the C client (clients/c): requests are encoded with protobuf-c once at
 * start, answers are decoded by libroster-client's I/O-free reader (roster_reader_feed/next, a
 * full protobuf-c unpack per answer). `--fast-decode` scans answers by hand instead.
 *
 * The JSON object has the keys of roster-load run --json: checks_per_second, p50_us, p90_us,
 * p99_us, p999_us, max_us, errors, wrong, then more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "roster_client.h"

enum mode { MODE_ROSTER, MODE_REDIS, MODE_FLOOR };

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- histogram */

#define H_BUCKETS (64 * 512)
static uint64_t hist[H_BUCKETS];
static uint64_t hist_count, hist_max;

static inline int h_index(uint64_t v)
{
    if (v < 1024)
        return (int)v;
    int m = 63 - __builtin_clzll(v);
    int shift = m - 9;
    return (shift << 9) + (int)(v >> shift);
}

static uint64_t h_upper(int idx)
{
    if (idx < 1024)
        return (uint64_t)idx;
    int shift = (idx >> 9) - 1;
    uint64_t mantissa = (uint64_t)(idx - (shift << 9));
    return ((mantissa + 1) << shift) - 1;
}

static inline void h_record(uint64_t v)
{
    hist[h_index(v)]++;
    hist_count++;
    if (v > hist_max)
        hist_max = v;
}

static double h_percentile_us(double p)
{
    if (hist_count == 0)
        return 0;
    uint64_t want = (uint64_t)((p / 100.0) * (double)hist_count + 0.5);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < H_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= want) {
            uint64_t v = h_upper(i);
            return (double)(v > hist_max ? hist_max : v) / 1000.0;
        }
    }
    return (double)hist_max / 1000.0;
}

/* ---------------------------------------------------------------- queries */

struct unit {
    uint8_t *bytes; /* roster/floor: RequestFrame payload without call_id; redis: the whole command */
    uint32_t len;
    uint8_t allow;
};

static struct unit *units;
static size_t unit_count, allow_expected;

static void put_varint(uint8_t **p, uint64_t v)
{
    while (v >= 0x80) {
        *(*p)++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *(*p)++ = (uint8_t)v;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void encode_roster(struct unit *u, const char *directory, char *user, char *group)
{
    Roster__V1__UserRef uref = ROSTER__V1__USER_REF__INIT;
    uref.ref_case = ROSTER__V1__USER_REF__REF_ID;
    uref.id = user;
    Roster__V1__GroupRef gref = ROSTER__V1__GROUP_REF__INIT;
    gref.ref_case = ROSTER__V1__GROUP_REF__REF_ID;
    gref.id = group;
    Roster__V1__CheckRequest check = ROSTER__V1__CHECK_REQUEST__INIT;
    check.directory_id = (char *)directory;
    check.user = &uref;
    check.group = &gref;
    Roster__V1__RequestFrame frame = ROSTER__V1__REQUEST_FRAME__INIT;
    frame.method_case = ROSTER__V1__REQUEST_FRAME__METHOD_CHECK;
    frame.check = &check;
    size_t n = roster__v1__request_frame__get_packed_size(&frame);
    u->bytes = malloc(n);
    if (!u->bytes)
        die("out of memory");
    u->len = (uint32_t)roster__v1__request_frame__pack(&frame, u->bytes);
}

static void encode_redis(struct unit *u, const char *user, const char *group)
{
    size_t ul = strlen(user), gl = strlen(group);
    u->bytes = malloc(64 + ul + gl);
    if (!u->bytes)
        die("out of memory");
    u->len = (uint32_t)sprintf((char *)u->bytes, "*3\r\n$9\r\nSISMEMBER\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", gl, group, ul,
                               user);
}

static void load_queries(const char *path, enum mode mode, const char *directory)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1024;
    units = malloc(cap * sizeof *units);
    char *line = NULL;
    size_t linecap = 0;
    ssize_t n;
    size_t number = 0;
    while ((n = getline(&line, &linecap, f)) >= 0) {
        number++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        char *user = line, *group = strchr(line, '\t');
        char *decision = group ? strchr(group + 1, '\t') : NULL;
        if (!group || !decision)
            die("%s:%zu: expected userId<TAB>groupId<TAB>allow|deny", path, number);
        *group++ = 0;
        *decision++ = 0;
        int allow;
        if (strcmp(decision, "allow") == 0)
            allow = 1;
        else if (strcmp(decision, "deny") == 0)
            allow = 0;
        else
            die("%s:%zu: the decision must be allow or deny", path, number);
        if (unit_count == cap) {
            cap *= 2;
            units = realloc(units, cap * sizeof *units);
            if (!units)
                die("out of memory");
        }
        struct unit *u = &units[unit_count++];
        u->allow = (uint8_t)allow;
        allow_expected += (size_t)allow;
        if (mode == MODE_REDIS)
            encode_redis(u, user, group);
        else
            encode_roster(u, directory, user, group);
    }
    free(line);
    fclose(f);
    if (unit_count == 0)
        die("%s has no queries", path);
}

/* ---------------------------------------------------------------- connections */

struct slot {
    uint64_t call_id;
    uint64_t sent_at;
    uint32_t unit;
    uint32_t round;
    uint8_t busy;
};

struct conn {
    int fd;
    struct slot *slots;   /* roster/floor: by call id; redis: a FIFO ring */
    uint32_t head, tail;  /* redis FIFO */
    int in_flight;
    size_t cursor;
    uint64_t sent;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_cap, out_off;
    roster_reader *reader;
    int done;
};

static enum mode mode;
static int pipeline_depth = 1;
static int fast_decode;
static uint64_t record_from, stop_at, calls_per_conn;
static int stopping;
static uint64_t calls, wrong, errors, answered, allow_answers, first_answer, last_answer;
static char first_error[256];

static void note_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_error(const char *fmt, ...)
{
    errors++;
    if (first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_error, sizeof first_error, fmt, ap);
    va_end(ap);
}

static void out_reserve(struct conn *c, size_t extra)
{
    if (c->out_len + extra <= c->out_cap)
        return;
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (c->out_len + extra <= c->out_cap)
            return;
    }
    while (c->out_len + extra > c->out_cap)
        c->out_cap *= 2;
    c->out = realloc(c->out, c->out_cap);
    if (!c->out)
        die("out of memory");
}

static int can_send(struct conn *c, uint64_t now)
{
    if (stopping)
        return 0;
    if (calls_per_conn)
        return c->sent < calls_per_conn;
    return now < stop_at;
}

static void send_unit(struct conn *c, int slot_index, uint64_t now)
{
    uint32_t unit = (uint32_t)c->cursor;
    if (++c->cursor == unit_count)
        c->cursor = 0;
    struct unit *u = &units[unit];
    c->sent++;
    c->in_flight++;
    if (mode == MODE_REDIS) {
        struct slot *s = &c->slots[c->tail];
        c->tail = (c->tail + 1) % (uint32_t)pipeline_depth;
        s->unit = unit;
        s->sent_at = now;
        s->busy = 1;
        out_reserve(c, u->len);
        memcpy(c->out + c->out_len, u->bytes, u->len);
        c->out_len += u->len;
        return;
    }
    struct slot *s = &c->slots[slot_index];
    s->round++;
    s->call_id = (uint64_t)s->round * (uint64_t)pipeline_depth + (uint64_t)slot_index + 1;
    s->unit = unit;
    s->sent_at = now;
    s->busy = 1;
    size_t payload = 1 + varint_size(s->call_id) + u->len;
    out_reserve(c, 4 + payload);
    uint8_t *p = c->out + c->out_len;
    *p++ = (uint8_t)(payload >> 24);
    *p++ = (uint8_t)(payload >> 16);
    *p++ = (uint8_t)(payload >> 8);
    *p++ = (uint8_t)payload;
    *p++ = 0x08;
    put_varint(&p, s->call_id);
    memcpy(p, u->bytes, u->len);
    p += u->len;
    c->out_len = (size_t)(p - c->out);
}

static void flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return; /* EPOLLOUT is not armed: with P bounded the socket buffer never fills */
            note_error("write: %s", strerror(errno));
            c->done = 1;
            return;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
}

/* One answer for slot `s` (already removed from flight). */
static void complete(struct conn *c, struct slot *s, int slot_index, int answered_ok, int allowed, uint64_t now)
{
    s->busy = 0;
    c->in_flight--;
    answered++;
    if (answered_ok) {
        if (allowed)
            allow_answers++;
        if (mode != MODE_FLOOR && allowed != units[s->unit].allow)
            wrong++;
    }
    int counted = calls_per_conn ? 1 : (now >= record_from && now < stop_at);
    if (counted) {
        h_record(now - s->sent_at);
        calls++;
        if (!first_answer)
            first_answer = now;
        last_answer = now;
    }
    if (can_send(c, now))
        send_unit(c, slot_index, now);
    else if (c->in_flight == 0)
        c->done = 1;
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* Hand scan of a ResponseFrame: call_id, status code, and check.allowed. 0 if malformed. */
static int scan_response(const uint8_t *p, const uint8_t *end, uint64_t *call_id, uint64_t *code, int *allowed,
                         int *has_check)
{
    *call_id = 0;
    *code = 0;
    *allowed = 0;
    *has_check = 0;
    while (p < end) {
        uint64_t key, v;
        if (!read_varint(&p, end, &key))
            return 0;
        switch (key & 7) {
        case 0:
            if (!read_varint(&p, end, &v))
                return 0;
            if (key >> 3 == 1)
                *call_id = v;
            break;
        case 2: {
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return 0;
            const uint8_t *q = p, *qe = p + v;
            p = qe;
            if (key >> 3 == 2 || key >> 3 == 3) {
                if (key >> 3 == 3)
                    *has_check = 1;
                while (q < qe) {
                    uint64_t k2, v2;
                    if (!read_varint(&q, qe, &k2))
                        return 0;
                    if ((k2 & 7) == 0) {
                        if (!read_varint(&q, qe, &v2))
                            return 0;
                        if (k2 == 0x08 && key >> 3 == 2)
                            *code = v2;
                        if (k2 == 0x08 && key >> 3 == 3)
                            *allowed = v2 != 0;
                    } else if ((k2 & 7) == 2) {
                        if (!read_varint(&q, qe, &v2) || v2 > (uint64_t)(qe - q))
                            return 0;
                        q += v2;
                    } else {
                        return 0;
                    }
                }
            }
            break;
        }
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        default:
            return 0;
        }
    }
    return p == end;
}

static void answer_frame(struct conn *c, uint64_t call_id, int ok, int allowed, uint64_t now)
{
    if (call_id == 0) {
        note_error("connection-level error frame");
        c->done = 1;
        return;
    }
    int idx = (int)((call_id - 1) % (uint64_t)pipeline_depth);
    struct slot *s = &c->slots[idx];
    if (!s->busy || s->call_id != call_id) {
        note_error("answer for call %llu, which is not in flight", (unsigned long long)call_id);
        return;
    }
    complete(c, s, idx, ok, allowed, now);
}

static void handle_roster_bytes(struct conn *c, const uint8_t *data, size_t len, uint64_t now)
{
    if (!fast_decode && mode == MODE_ROSTER) {
        if (roster_reader_feed(c->reader, data, len) != ROSTER_OK) {
            note_error("reader: %s", c->reader->errstr);
            c->done = 1;
            return;
        }
        ProtobufCMessage *m;
        int rc;
        while ((rc = roster_reader_next(c->reader, &m)) == ROSTER_OK) {
            Roster__V1__ResponseFrame *f = (Roster__V1__ResponseFrame *)m;
            int ok = 1, allowed = 0;
            if (f->status && f->status->code != 0) {
                note_error("status %d: %s", f->status->code, f->status->message);
                ok = 0;
            } else if (f->result_case != ROSTER__V1__RESPONSE_FRAME__RESULT_CHECK) {
                note_error("answer without a check result");
                ok = 0;
            } else {
                allowed = f->check->allowed;
            }
            uint64_t id = f->call_id;
            protobuf_c_message_free_unpacked(m, NULL);
            answer_frame(c, id, ok, allowed, now);
            if (c->done)
                return;
        }
        if (rc == ROSTER_ERR) {
            note_error("reader: %s", c->reader->errstr);
            c->done = 1;
        }
        return;
    }
    /* Hand framing and scanning (floor mode, or --fast-decode). */
    if (c->in_len + len > c->in_cap) {
        while (c->in_len + len > c->in_cap)
            c->in_cap *= 2;
        c->in = realloc(c->in, c->in_cap);
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
    size_t pos = 0;
    while (c->in_len - pos >= 4) {
        const uint8_t *h = c->in + pos;
        uint32_t n = ((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) | h[3];
        if (n > ROSTER_DEFAULT_MAX_FRAME_SIZE) {
            note_error("answer frame of %u bytes", n);
            c->done = 1;
            return;
        }
        if (c->in_len - pos - 4 < n)
            break;
        uint64_t id, code;
        int allowed, has_check;
        int ok = scan_response(h + 4, h + 4 + n, &id, &code, &allowed, &has_check);
        if (!ok)
            note_error("malformed answer frame");
        else if (code != 0) {
            note_error("status %llu", (unsigned long long)code);
            ok = 0;
        } else if (!has_check) {
            note_error("answer without a check result");
            ok = 0;
        }
        pos += 4 + n;
        answer_frame(c, id, ok, allowed, now);
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
}

static void handle_redis_bytes(struct conn *c, const uint8_t *data, size_t len, uint64_t now)
{
    if (c->in_len + len > c->in_cap) {
        while (c->in_len + len > c->in_cap)
            c->in_cap *= 2;
        c->in = realloc(c->in, c->in_cap);
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
    size_t pos = 0;
    for (;;) {
        uint8_t *start = c->in + pos;
        uint8_t *nl = memchr(start, '\n', c->in_len - pos);
        if (!nl)
            break;
        size_t line_len = (size_t)(nl - start) + 1;
        if (c->in_flight == 0) {
            note_error("an answer with no command in flight");
            c->done = 1;
            return;
        }
        struct slot *s = &c->slots[c->head];
        c->head = (c->head + 1) % (uint32_t)pipeline_depth;
        int ok = 1, allowed = 0;
        if (start[0] == ':')
            allowed = start[1] == '1';
        else {
            note_error("redis: %.*s", (int)line_len - 2, start);
            ok = 0;
        }
        pos += line_len;
        /* The FIFO slot is refilled at the tail, not in place. */
        complete(c, s, 0, ok, allowed, now);
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
}

static int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        die("socket path too long: %s", path);
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("connect %s: %s", path, strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static const char *arg_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        die("%s needs a value", argv[*i]);
    return argv[++*i];
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: loadgen roster|redis|floor --socket S --queries FILE [--directory D] [--connections C] "
            "[--pipeline P] [--duration SEC] [--warmup SEC] [--requests N] [--fast-decode] [--json] [--label L]");
    if (strcmp(argv[1], "roster") == 0)
        mode = MODE_ROSTER;
    else if (strcmp(argv[1], "redis") == 0)
        mode = MODE_REDIS;
    else if (strcmp(argv[1], "floor") == 0)
        mode = MODE_FLOOR;
    else
        die("unknown mode %s (roster, redis or floor)", argv[1]);
    const char *sock = NULL, *queries = NULL, *directory = "", *label = NULL;
    int connections = 1, json = 0;
    double duration = 10, warmup = 1, drain = 5;
    uint64_t requests = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--socket"))
            sock = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--queries"))
            queries = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--directory"))
            directory = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--connections"))
            connections = atoi(arg_value(argc, argv, &i));
        else if (!strcmp(a, "--pipeline"))
            pipeline_depth = atoi(arg_value(argc, argv, &i));
        else if (!strcmp(a, "--duration"))
            duration = atof(arg_value(argc, argv, &i));
        else if (!strcmp(a, "--warmup"))
            warmup = atof(arg_value(argc, argv, &i));
        else if (!strcmp(a, "--drain"))
            drain = atof(arg_value(argc, argv, &i));
        else if (!strcmp(a, "--requests"))
            requests = strtoull(arg_value(argc, argv, &i), NULL, 10);
        else if (!strcmp(a, "--label"))
            label = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--fast-decode"))
            fast_decode = 1;
        else if (!strcmp(a, "--json"))
            json = 1;
        else
            die("unknown option %s", a);
    }
    if (!sock || !queries)
        die("--socket and --queries are required");
    if (mode == MODE_ROSTER && !directory[0])
        die("roster mode needs --directory");
    if (connections < 1 || pipeline_depth < 1)
        die("--connections and --pipeline must be at least 1");
    load_queries(queries, mode, mode == MODE_FLOOR && !directory[0] ? "floor" : directory);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *conns = calloc((size_t)connections, sizeof *conns);
    size_t stride = unit_count / (size_t)connections;
    if (stride == 0)
        stride = 1;
    for (int i = 0; i < connections; i++) {
        struct conn *c = &conns[i];
        c->fd = connect_unix(sock);
        c->slots = calloc((size_t)pipeline_depth, sizeof *c->slots);
        c->cursor = ((size_t)i * stride) % unit_count;
        c->in_cap = c->out_cap = 65536;
        c->in = malloc(c->in_cap);
        c->out = malloc(c->out_cap);
        if (mode == MODE_ROSTER && !fast_decode)
            c->reader = roster_reader_create(&roster__v1__response_frame__descriptor, ROSTER_DEFAULT_MAX_FRAME_SIZE);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    uint64_t start = now_ns();
    if (requests) {
        calls_per_conn = (requests + (uint64_t)connections - 1) / (uint64_t)connections;
        warmup = 0;
    }
    record_from = start + (uint64_t)(warmup * 1e9);
    stop_at = requests ? UINT64_MAX : record_from + (uint64_t)(duration * 1e9);
    for (int i = 0; i < connections; i++) {
        for (int s = 0; s < pipeline_depth && can_send(&conns[i], start); s++)
            send_unit(&conns[i], s, start);
        flush_out(&conns[i]);
    }
    int live = connections;
    struct epoll_event events[256];
    uint8_t buf[65536];
    uint64_t drain_deadline = 0;
    while (live > 0) {
        int timeout = 100;
        int n = epoll_wait(ep, events, 256, timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        uint64_t now = now_ns();
        for (int e = 0; e < n; e++) {
            struct conn *c = events[e].data.ptr;
            if (c->done)
                continue;
            ssize_t got = read(c->fd, buf, sizeof buf);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                note_error("the server closed the connection with %d calls in flight", c->in_flight);
                errors += c->in_flight > 0 ? (uint64_t)c->in_flight - 1 : 0;
                c->in_flight = 0;
                c->done = 1;
            } else if (got > 0) {
                if (mode == MODE_REDIS)
                    handle_redis_bytes(c, buf, (size_t)got, now);
                else
                    handle_roster_bytes(c, buf, (size_t)got, now);
                flush_out(c);
            }
            if (c->done) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                live--;
            }
        }
        if (!stopping && !calls_per_conn && now >= stop_at) {
            stopping = 1;
            drain_deadline = now + (uint64_t)(drain * 1e9);
        }
        if (stopping) {
            for (int i = 0; i < connections; i++) {
                struct conn *c = &conns[i];
                if (!c->done && (c->in_flight == 0 || now >= drain_deadline)) {
                    if (c->in_flight)
                        note_error("%d calls not answered within the drain time", c->in_flight);
                    errors += c->in_flight > 1 ? (uint64_t)c->in_flight - 1 : 0;
                    c->done = 1;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    live--;
                }
            }
        }
    }
    uint64_t end = now_ns();
    double seconds;
    if (calls_per_conn)
        seconds = (double)(last_answer - start) / 1e9;
    else
        seconds = (double)((end < stop_at ? end : stop_at) - record_from) / 1e9;
    if (seconds <= 0)
        seconds = 1e-9;
    const char *client = mode == MODE_REDIS  ? "loadgen redis (C, epoll, RESP)"
                         : mode == MODE_FLOOR ? "loadgen floor (C, epoll)"
                         : fast_decode       ? "loadgen roster (C, epoll, hand-scanned answers)"
                                             : "loadgen roster (C, epoll, libroster-client reader)";
    double cps = (double)calls / seconds;
    if (json) {
        printf("{\"checks_per_second\":%.1f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,"
               "\"max_us\":%.2f,\"errors\":%llu,\"wrong\":%llu,\"calls_per_second\":%.1f,\"checks\":%llu,"
               "\"answered_checks\":%llu,\"allow_answers\":%llu,\"seconds\":%.3f,\"connections\":%d,\"pipeline\":%d,"
               "\"batch\":1,\"queries\":%zu,\"expected_allow\":%zu,\"client\":\"%s\"",
               cps, h_percentile_us(50), h_percentile_us(90), h_percentile_us(99), h_percentile_us(99.9),
               (double)hist_max / 1000.0, (unsigned long long)errors, (unsigned long long)wrong, cps,
               (unsigned long long)calls, (unsigned long long)answered, (unsigned long long)allow_answers, seconds,
               connections, pipeline_depth, unit_count, allow_expected, client);
        if (label)
            printf(",\"label\":\"%s\"", label);
        if (first_error[0]) {
            printf(",\"first_errors\":[\"");
            for (const char *p = first_error; *p; p++)
                if (*p == '"' || *p == '\\')
                    printf("\\%c", *p);
                else if ((unsigned char)*p >= 0x20)
                    putchar(*p);
            printf("\"]");
        }
        printf("}\n");
    } else {
        printf("%s: %d connections x %d in flight, %.1f s measured\n", client, connections, pipeline_depth, seconds);
        printf("  throughput  %.0f calls/s\n", cps);
        printf("  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", h_percentile_us(50),
               h_percentile_us(90), h_percentile_us(99), h_percentile_us(99.9), (double)hist_max / 1000.0);
        printf("  answers     %llu checked: %llu wrong, %llu errors\n", (unsigned long long)answered,
               (unsigned long long)wrong, (unsigned long long)errors);
        if (first_error[0])
            printf("  error: %s\n", first_error);
    }
    return (errors || wrong) ? 3 : 0;
}
