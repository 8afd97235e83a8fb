/* The blocking client against a scripted fake rosterd in a forked child:
 * request contents, out-of-order pipelined answers, status errors, deadlines,
 * connection-level errors. Every child wait is bounded by alarm(). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "roster_client.h"
#include "testutil.h"

#define CHILD_TIMEOUT_S 10

static char socket_path[108];
static int listener = -1;
static pid_t child = -1;

/* ---- the fake server (child side) ------------------------------------------ */

typedef struct fake {
    int fd;
    roster_reader *reader;
} fake;

static void child_fail(const char *what)
{
    fprintf(stderr, "  fake server: %s\n", what);
    _exit(3);
}

/* Blocks for the next request; NULL if the client closed. */
static Roster__V1__RequestFrame *fake_read(fake *f)
{
    for (;;) {
        ProtobufCMessage *m;
        int rc = roster_reader_next(f->reader, &m);
        if (rc == ROSTER_OK)
            return (Roster__V1__RequestFrame *)m;
        if (rc == ROSTER_ERR)
            child_fail(f->reader->errstr);
        uint8_t buf[4096];
        ssize_t n = read(f->fd, buf, sizeof buf);
        if (n == 0)
            return NULL;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            child_fail("read");
        }
        roster_reader_feed(f->reader, buf, (size_t)n);
    }
}

/* Requests already received or readable without waiting (at least one). */
static int fake_read_available(fake *f, Roster__V1__RequestFrame **out, int cap)
{
    int n = 0;
    out[n++] = fake_read(f);
    if (out[0] == NULL)
        child_fail("client closed early");
    for (;;) {
        while (n < cap) {
            ProtobufCMessage *m;
            if (roster_reader_next(f->reader, &m) != ROSTER_OK)
                break;
            out[n++] = (Roster__V1__RequestFrame *)m;
        }
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (n == cap || poll(&p, 1, 20) <= 0)
            return n;
        uint8_t buf[4096];
        ssize_t got = read(f->fd, buf, sizeof buf);
        if (got <= 0)
            return n;
        roster_reader_feed(f->reader, buf, (size_t)got);
    }
}

static void fake_send(fake *f, const Roster__V1__ResponseFrame *resp)
{
    size_t n = roster__v1__response_frame__get_packed_size(resp);
    uint8_t *buf = malloc(n + 4);
    buf[0] = (uint8_t)(n >> 24);
    buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    roster__v1__response_frame__pack(resp, buf + 4);
    for (size_t off = 0; off < n + 4;) {
        ssize_t w = write(f->fd, buf + off, n + 4 - off);
        if (w <= 0)
            child_fail("write");
        off += (size_t)w;
    }
    free(buf);
}

static void send_check(fake *f, uint64_t call_id, int allowed, uint64_t revision)
{
    Roster__V1__CheckResponse check = ROSTER__V1__CHECK_RESPONSE__INIT;
    check.allowed = allowed;
    check.reason = allowed ? ROSTER__V1__REASON__MEMBER : ROSTER__V1__REASON__NOT_MEMBER;
    check.revision = revision;
    Roster__V1__ResponseFrame resp = ROSTER__V1__RESPONSE_FRAME__INIT;
    resp.call_id = call_id;
    resp.result_case = ROSTER__V1__RESPONSE_FRAME__RESULT_CHECK;
    resp.check = &check;
    fake_send(f, &resp);
}

static void send_status(fake *f, uint64_t call_id, Roster__V1__Code code, const char *message)
{
    Roster__V1__Status status = ROSTER__V1__STATUS__INIT;
    status.code = code;
    status.message = (char *)message;
    Roster__V1__ResponseFrame resp = ROSTER__V1__RESPONSE_FRAME__INIT;
    resp.call_id = call_id;
    resp.status = &status;
    fake_send(f, &resp);
}

static void send_health(fake *f, uint64_t call_id, uint64_t revision)
{
    Roster__V1__HealthResponse health = ROSTER__V1__HEALTH_RESPONSE__INIT;
    health.status = "SERVING";
    health.revision = revision;
    Roster__V1__ResponseFrame resp = ROSTER__V1__RESPONSE_FRAME__INIT;
    resp.call_id = call_id;
    resp.result_case = ROSTER__V1__RESPONSE_FRAME__RESULT_HEALTH;
    resp.health = &health;
    fake_send(f, &resp);
}

/* Answers one Health request (the tests' way to prove the connection still works). */
static void serve_health(fake *f, uint64_t revision)
{
    Roster__V1__RequestFrame *req = fake_read(f);
    if (req == NULL || req->method_case != ROSTER__V1__REQUEST_FRAME__METHOD_HEALTH)
        child_fail("expected a health request");
    send_health(f, req->call_id, revision);
    roster__v1__request_frame__free_unpacked(req, NULL);
}

/* Forks a child that accepts one connection and runs `script` on it. */
static void start_fake(void (*script)(fake *))
{
    snprintf(socket_path, sizeof socket_path, "/tmp/roster-c-test-%ld.sock", (long)getpid());
    unlink(socket_path);
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, socket_path);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 1) < 0) {
        perror("bind/listen");
        exit(2);
    }
    fflush(NULL);
    child = fork();
    if (child == 0) {
        alarm(CHILD_TIMEOUT_S);
        fake f = {.fd = accept(listener, NULL, NULL),
                  .reader = roster_reader_create(&roster__v1__request_frame__descriptor, ROSTER_DEFAULT_MAX_FRAME_SIZE)};
        if (f.fd < 0)
            child_fail("accept");
        script(&f);
        close(f.fd);
        roster_reader_free(f.reader);
        _exit(0);
    }
}

/* Waits for the child; returns 1 if its script succeeded. */
static int finish_fake(void)
{
    int status = 0;
    waitpid(child, &status, 0);
    close(listener);
    unlink(socket_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "  fake server failed (status 0x%x)\n", status);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static roster_client *connect_fake(void)
{
    roster_client *c = roster_connect(socket_path, 2000);
    if (c != NULL && c->err)
        fprintf(stderr, "  connect: %s\n", c->errstr);
    return c;
}

/* ---- tests ------------------------------------------------------------------ */

static void script_check(fake *f)
{
    Roster__V1__RequestFrame *req = fake_read(f);
    if (req == NULL || req->method_case != ROSTER__V1__REQUEST_FRAME__METHOD_CHECK || req->call_id == 0 ||
        req->timeout_ms == 0 || req->timeout_ms > 1500 || strcmp(req->check->directory_id, "dir") != 0 ||
        req->check->user->ref_case != ROSTER__V1__USER_REF__REF_USER_NAME ||
        strcmp(req->check->user->user_name, "alice") != 0 ||
        req->check->group->ref_case != ROSTER__V1__GROUP_REF__REF_ID || strcmp(req->check->group->id, "g1") != 0 ||
        req->check->min_revision != 9)
        child_fail("unexpected check request");
    send_check(f, req->call_id, 1, 9);
    roster__v1__request_frame__free_unpacked(req, NULL);
}

static void test_check(void)
{
    start_fake(script_check);
    roster_client *c = connect_fake();
    roster_check_result res;
    int rc = roster_check(c, "dir", (roster_ref){ROSTER_REF_USER_NAME, "alice"}, (roster_ref){ROSTER_REF_ID, "g1"},
                          9, 1500, &res);
    roster_free(c);
    CHECK(finish_fake());
    CHECK(rc == ROSTER_OK && res.allowed && res.reason == ROSTER__V1__REASON__MEMBER && res.revision == 9);
}

static void script_status_then_health(fake *f)
{
    Roster__V1__RequestFrame *req = fake_read(f);
    if (req == NULL)
        child_fail("no request");
    send_status(f, req->call_id, ROSTER__V1__CODE__NOT_FOUND, "directory \"nope\" not found");
    roster__v1__request_frame__free_unpacked(req, NULL);
    serve_health(f, 77);
}

static void test_status_error_is_not_fatal(void)
{
    start_fake(script_status_then_health);
    roster_client *c = connect_fake();
    roster_check_result res;
    int rc = roster_check(c, "nope", (roster_ref){ROSTER_REF_ID, "u"}, (roster_ref){ROSTER_REF_ID, "g"}, 0, 1000, &res);
    int err = c->err, code = c->status_code, fatal = roster_error_is_fatal(c);
    int mentions = strstr(c->errstr, "NOT_FOUND: directory \"nope\" not found") != NULL;
    char status[16];
    uint64_t revision;
    int rc2 = roster_health(c, 1000, status, sizeof status, &revision);
    roster_free(c);
    CHECK(finish_fake());
    CHECK(rc == ROSTER_ERR && err == ROSTER_ERR_STATUS && code == ROSTER__V1__CODE__NOT_FOUND && !fatal && mentions);
    CHECK(res.status_code == ROSTER__V1__CODE__NOT_FOUND);
    CHECK(rc2 == ROSTER_OK && strcmp(status, "SERVING") == 0 && revision == 77);
}

#define PIPELINED 1000

static void script_pipelined(fake *f)
{
    Roster__V1__RequestFrame *batch[PIPELINED];
    int answered = 0, received = 0, max_outstanding = 0;
    while (answered < PIPELINED) {
        int n = fake_read_available(f, batch, PIPELINED);
        received += n;
        if (received - answered > max_outstanding)
            max_outstanding = received - answered;
        for (int i = n - 1; i >= 0; i--) { /* answer out of order */
            Roster__V1__RequestFrame *req = batch[i];
            if (strcmp(req->check->user->user_name, "bad") == 0)
                send_status(f, req->call_id, ROSTER__V1__CODE__FAILED_PRECONDITION, "ambiguous");
            else
                send_check(f, req->call_id, strncmp(req->check->user->user_name, "member", 6) == 0,
                           req->check->min_revision);
            roster__v1__request_frame__free_unpacked(req, NULL);
        }
        answered += n;
    }
    /* Report the most calls the client had in flight as the next health reply's revision. */
    Roster__V1__RequestFrame *req = fake_read(f);
    if (req == NULL)
        child_fail("no health request after the pipeline");
    send_health(f, req->call_id, (uint64_t)max_outstanding);
    roster__v1__request_frame__free_unpacked(req, NULL);
}

static void test_pipelined_checks_matched_by_call_id(void)
{
    static roster_check_item items[PIPELINED];
    static roster_check_result results[PIPELINED];
    static char names[PIPELINED][16];
    for (int i = 0; i < PIPELINED; i++) {
        snprintf(names[i], sizeof names[i], i == 500 ? "bad" : i % 3 ? "other%d" : "member%d", i);
        items[i] = (roster_check_item){{ROSTER_REF_USER_NAME, names[i]}, {ROSTER_REF_DISPLAY_NAME, "g"}};
    }
    start_fake(script_pipelined);
    roster_client *c = connect_fake();
    int rc = roster_check_pipelined(c, "dir", items, PIPELINED, 5, 5000, results);
    char status[16];
    uint64_t max_outstanding = 0;
    int rc2 = roster_health(c, 1000, status, sizeof status, &max_outstanding);
    roster_free(c);
    CHECK(finish_fake());
    CHECK(rc == ROSTER_OK && rc2 == ROSTER_OK);
    for (int i = 0; i < PIPELINED; i++) {
        if (i == 500) {
            CHECK(results[i].status_code == ROSTER__V1__CODE__FAILED_PRECONDITION);
            CHECK(strcmp(results[i].message, "ambiguous") == 0);
        } else {
            CHECKF(results[i].status_code == 0 && results[i].allowed == (i % 3 == 0) && results[i].revision == 5,
                   "item %d", i);
        }
    }
    CHECKF(max_outstanding > 1 && max_outstanding <= ROSTER_PIPELINE_WINDOW, "max outstanding %llu",
           (unsigned long long)max_outstanding);
}

static void script_late_answer(fake *f)
{
    Roster__V1__RequestFrame *slow = fake_read(f);
    if (slow == NULL)
        child_fail("no request");
    Roster__V1__RequestFrame *health = fake_read(f); /* sent once the client gave up on `slow` */
    if (health == NULL)
        child_fail("no health request");
    send_check(f, slow->call_id, 1, 1);
    send_health(f, health->call_id, 3);
    roster__v1__request_frame__free_unpacked(slow, NULL);
    roster__v1__request_frame__free_unpacked(health, NULL);
}

static void test_timeout_then_late_answer_is_dropped(void)
{
    start_fake(script_late_answer);
    roster_client *c = connect_fake();
    roster_check_result res;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = roster_check(c, "d", (roster_ref){ROSTER_REF_ID, "u"}, (roster_ref){ROSTER_REF_ID, "g"}, 0, 100, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long elapsed_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    int err = c->err, fatal = roster_error_is_fatal(c);
    char status[16];
    uint64_t revision = 0;
    int rc2 = roster_health(c, 2000, status, sizeof status, &revision);
    roster_free(c);
    CHECK(finish_fake());
    CHECK(rc == ROSTER_ERR && err == ROSTER_ERR_TIMEOUT && !fatal);
    CHECKF(elapsed_ms >= 90 && elapsed_ms < 2000, "%ld ms", elapsed_ms);
    CHECK(rc2 == ROSTER_OK && revision == 3);
}

static void script_connection_error(fake *f)
{
    Roster__V1__RequestFrame *req = fake_read(f);
    roster__v1__request_frame__free_unpacked(req, NULL);
    send_status(f, 0, ROSTER__V1__CODE__RESOURCE_EXHAUSTED, "too many calls in flight");
}

static void test_connection_level_error_is_fatal(void)
{
    start_fake(script_connection_error);
    roster_client *c = connect_fake();
    char status[16];
    uint64_t revision;
    int rc = roster_health(c, 1000, status, sizeof status, &revision);
    int err = c->err, code = c->status_code, fatal = roster_error_is_fatal(c);
    int mentions = strstr(c->errstr, "too many calls in flight") != NULL;
    int rc2 = roster_health(c, 1000, status, sizeof status, &revision);
    int err2 = c->err;
    roster_free(c);
    CHECK(finish_fake());
    CHECK(rc == ROSTER_ERR && err == ROSTER_ERR_STATUS && code == ROSTER__V1__CODE__RESOURCE_EXHAUSTED);
    CHECK(fatal && mentions);
    CHECK(rc2 == ROSTER_ERR && err2 == ROSTER_ERR_STATUS);
}

static void script_truncated(fake *f)
{
    Roster__V1__RequestFrame *req = fake_read(f);
    roster__v1__request_frame__free_unpacked(req, NULL);
    const uint8_t partial[] = {0, 0, 0, 9, 0x08};
    if (write(f->fd, partial, sizeof partial) != sizeof partial)
        child_fail("write");
}

static void test_eof_mid_frame(void)
{
    start_fake(script_truncated);
    roster_client *c = connect_fake();
    char status[16];
    uint64_t revision;
    int rc = roster_health(c, 1000, status, sizeof status, &revision);
    int ok = rc == ROSTER_ERR && c->err == ROSTER_ERR_EOF && roster_error_is_fatal(c) &&
             strstr(c->errstr, "1 of 9 payload bytes") != NULL;
    if (!ok)
        fprintf(stderr, "  errstr: %s\n", c->errstr);
    roster_free(c);
    CHECK(finish_fake());
    CHECK(ok);
}

static void script_batch(fake *f)
{
    Roster__V1__RequestFrame *req = fake_read(f);
    if (req == NULL || req->method_case != ROSTER__V1__REQUEST_FRAME__METHOD_BATCH_CHECK ||
        req->batch_check->n_checks != 3 || req->batch_check->min_revision != 4 ||
        req->batch_check->checks[1]->user->ref_case != ROSTER__V1__USER_REF__REF_EXTERNAL_ID ||
        req->batch_check->checks[2]->group->ref_case != ROSTER__V1__GROUP_REF__REF_DISPLAY_NAME)
        child_fail("unexpected batch request");
    Roster__V1__CheckResult r0 = ROSTER__V1__CHECK_RESULT__INIT, r1 = ROSTER__V1__CHECK_RESULT__INIT,
                            r2 = ROSTER__V1__CHECK_RESULT__INIT;
    r0.allowed = 1;
    r0.reason = ROSTER__V1__REASON__MEMBER;
    r1.reason = ROSTER__V1__REASON__USER_SUSPENDED;
    Roster__V1__Status err = ROSTER__V1__STATUS__INIT;
    err.code = ROSTER__V1__CODE__FAILED_PRECONDITION;
    err.message = "display name \"dup\" matches 2 groups";
    r2.error = &err;
    Roster__V1__CheckResult *results[] = {&r0, &r1, &r2};
    Roster__V1__BatchCheckResponse batch = ROSTER__V1__BATCH_CHECK_RESPONSE__INIT;
    batch.n_results = 3;
    batch.results = results;
    batch.revision = 12;
    Roster__V1__ResponseFrame resp = ROSTER__V1__RESPONSE_FRAME__INIT;
    resp.call_id = req->call_id;
    resp.result_case = ROSTER__V1__RESPONSE_FRAME__RESULT_BATCH_CHECK;
    resp.batch_check = &batch;
    fake_send(f, &resp);
    roster__v1__request_frame__free_unpacked(req, NULL);
}

static void test_batch_check(void)
{
    roster_check_item items[3] = {
        {{ROSTER_REF_USER_NAME, "alice"}, {ROSTER_REF_ID, "g1"}},
        {{ROSTER_REF_EXTERNAL_ID, "00u1"}, {ROSTER_REF_EXTERNAL_ID, "00g1"}},
        {{ROSTER_REF_ID, "u3"}, {ROSTER_REF_DISPLAY_NAME, "dup"}},
    };
    roster_check_result results[3];
    uint64_t revision;
    start_fake(script_batch);
    roster_client *c = connect_fake();
    int rc = roster_batch_check(c, "dir", items, 3, 4, 1000, results, &revision);
    roster_free(c);
    CHECK(finish_fake());
    CHECK(rc == ROSTER_OK && revision == 12);
    CHECK(results[0].allowed && results[0].reason == ROSTER__V1__REASON__MEMBER && results[0].status_code == 0);
    CHECK(!results[1].allowed && results[1].reason == ROSTER__V1__REASON__USER_SUSPENDED);
    CHECK(results[2].status_code == ROSTER__V1__CODE__FAILED_PRECONDITION && strstr(results[2].message, "dup"));
}

static void script_health_only(fake *f)
{
    serve_health(f, 1);
}

static void test_bad_references_are_refused_before_sending(void)
{
    start_fake(script_health_only);
    roster_client *c = connect_fake();
    roster_check_result res;
    int rc1 = roster_check(c, "d", (roster_ref){ROSTER_REF_DISPLAY_NAME, "x"}, (roster_ref){ROSTER_REF_ID, "g"}, 0,
                           1000, &res);
    int err1 = c->err;
    roster_check_item items[2] = {{{ROSTER_REF_ID, "u"}, {ROSTER_REF_ID, "g"}},
                                  {{ROSTER_REF_ID, "u"}, {ROSTER_REF_USER_NAME, "not-a-group-ref"}}};
    roster_check_result results[2];
    int rc2 = roster_check_pipelined(c, "d", items, 2, 0, 1000, results);
    int item_named = strstr(c->errstr, "(item 1)") != NULL;
    roster_check_item null_value = {{ROSTER_REF_ID, NULL}, {ROSTER_REF_ID, "g"}};
    uint64_t revision;
    int rc3 = roster_batch_check(c, "d", &null_value, 1, 0, 1000, results, &revision);
    char status[16];
    int rc4 = roster_health(c, 1000, status, sizeof status, &revision);
    roster_free(c);
    CHECK(finish_fake());
    CHECK(rc1 == ROSTER_ERR && err1 == ROSTER_ERR_ARG);
    CHECK(rc2 == ROSTER_ERR && item_named);
    CHECK(rc3 == ROSTER_ERR);
    CHECK(rc4 == ROSTER_OK && revision == 1);
}

static void test_connect_to_missing_socket(void)
{
    roster_client *c = roster_connect("/tmp/roster-c-test-no-such.sock", 500);
    CHECK(c != NULL);
    int ok = c->err == ROSTER_ERR_IO && strstr(c->errstr, "cannot connect to rosterd") != NULL;
    char status[16];
    uint64_t revision;
    int rc = roster_health(c, 100, status, sizeof status, &revision);
    roster_free(c);
    CHECK(ok && rc == ROSTER_ERR);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_check);
    RUN(test_status_error_is_not_fatal);
    RUN(test_pipelined_checks_matched_by_call_id);
    RUN(test_timeout_then_late_answer_is_dropped);
    RUN(test_connection_level_error_is_fatal);
    RUN(test_eof_mid_frame);
    RUN(test_batch_check);
    RUN(test_bad_references_are_refused_before_sending);
    RUN(test_connect_to_missing_socket);
    return test_summary("test_client");
}
