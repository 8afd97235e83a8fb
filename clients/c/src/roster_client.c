/*
 * Blocking Unix-socket client on top of the I/O-free reader. The socket is
 * non-blocking and every wait goes through poll() with the call's remaining
 * time, so no call blocks past its deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "roster_client.h"

#define HEADER_SIZE 4u
#define READ_CHUNK 65536

/* ---- errors -------------------------------------------------------------- */

static void set_err(roster_client *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(roster_client *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    c->err = err;
}

/* An error after which the byte stream cannot be trusted: close the socket. */
static void close_connection(roster_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

int roster_error_is_fatal(const roster_client *c)
{
    return c->err != ROSTER_ERR_NONE && c->fd < 0;
}

/* Clears a non-fatal error left by the previous call; refuses a dead connection. */
static int begin_call(roster_client *c)
{
    if (c->fd < 0) {
        if (c->err == ROSTER_ERR_NONE)
            set_err(c, ROSTER_ERR_EOF, "the connection is closed");
        return ROSTER_ERR;
    }
    c->err = ROSTER_ERR_NONE;
    c->errstr[0] = '\0';
    c->status_code = 0;
    return ROSTER_OK;
}

/* ---- time ---------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 for no deadline, else an absolute monotonic time in ms. */
static int64_t deadline_after(int timeout_ms)
{
    return timeout_ms > 0 ? now_ms() + timeout_ms : 0;
}

/* poll() timeout: -1 when there is no deadline. */
static int poll_timeout(int64_t deadline)
{
    if (deadline == 0)
        return -1;
    int64_t left = deadline - now_ms();
    return left <= 0 ? 0 : (left > 0x7fffffff ? 0x7fffffff : (int)left);
}

/* The timeout_ms to send for a call: what is left of the deadline, at least 1. */
static uint32_t wire_timeout(int64_t deadline)
{
    if (deadline == 0)
        return 0;
    int64_t left = deadline - now_ms();
    return left < 1 ? 1 : (uint32_t)left;
}

/* ---- connection ------------------------------------------------------------ */

roster_client *roster_connect(const char *socket_path, int timeout_ms)
{
    roster_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = -1;
    c->next_call_id = 1;
    c->reader = roster_reader_create(&roster__v1__response_frame__descriptor, ROSTER_DEFAULT_MAX_FRAME_SIZE);
    if (c->reader == NULL) {
        free(c);
        return NULL;
    }

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (socket_path == NULL || strlen(socket_path) >= sizeof addr.sun_path) {
        set_err(c, ROSTER_ERR_ARG, "socket path must be 1..%zu bytes", sizeof addr.sun_path - 1);
        return c;
    }
    strcpy(addr.sun_path, socket_path);

    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        set_err(c, ROSTER_ERR_IO, "socket: %s", strerror(errno));
        return c;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        set_err(c, ROSTER_ERR_IO, "fcntl: %s", strerror(errno));
        close(fd);
        return c;
    }
    int64_t deadline = deadline_after(timeout_ms);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        if (errno != EINPROGRESS) {
            set_err(c, ROSTER_ERR_IO, "cannot connect to rosterd at %s: %s", socket_path, strerror(errno));
            close(fd);
            return c;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int ready;
        do {
            ready = poll(&pfd, 1, poll_timeout(deadline));
        } while (ready < 0 && errno == EINTR);
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (ready == 0) {
            set_err(c, ROSTER_ERR_TIMEOUT, "connecting to rosterd at %s took over %d ms", socket_path, timeout_ms);
            close(fd);
            return c;
        }
        if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0 || so_error != 0) {
            set_err(c, ROSTER_ERR_IO, "cannot connect to rosterd at %s: %s", socket_path,
                    strerror(so_error ? so_error : errno));
            close(fd);
            return c;
        }
    }
    c->fd = fd;
    return c;
}

void roster_free(roster_client *c)
{
    if (c == NULL)
        return;
    close_connection(c);
    roster_reader_free(c->reader);
    free(c);
}

/* ---- bytes out ------------------------------------------------------------- */

static int send_all(roster_client *c, const uint8_t *buf, size_t len, int64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
            int ready = poll(&pfd, 1, poll_timeout(deadline));
            if (ready > 0 || (ready < 0 && errno == EINTR))
                continue;
            if (ready == 0) {
                if (off == 0) {
                    set_err(c, ROSTER_ERR_TIMEOUT, "deadline exceeded before the request could be sent");
                } else {
                    /* Part of a frame is out: the stream is no longer framed. */
                    set_err(c, ROSTER_ERR_TIMEOUT, "deadline exceeded mid-frame; connection closed");
                    close_connection(c);
                }
                return ROSTER_ERR;
            }
        }
        set_err(c, ROSTER_ERR_IO, "writing to rosterd: %s", strerror(errno));
        close_connection(c);
        return ROSTER_ERR;
    }
    return ROSTER_OK;
}

/* Appends one length-prefixed RequestFrame to *buf (grown as needed). */
static int pack_frame(roster_client *c, const Roster__V1__RequestFrame *req, uint8_t **buf, size_t *len, size_t *cap)
{
    size_t size = roster__v1__request_frame__get_packed_size(req);
    if (size > ROSTER_DEFAULT_MAX_FRAME_SIZE) {
        set_err(c, ROSTER_ERR_ARG, "request of %zu bytes exceeds the %u-byte frame limit; split it", size,
                ROSTER_DEFAULT_MAX_FRAME_SIZE);
        return ROSTER_ERR;
    }
    if (*cap - *len < HEADER_SIZE + size) {
        size_t want = *len + HEADER_SIZE + size;
        size_t grown = *cap * 2 > want ? *cap * 2 : want;
        uint8_t *p = realloc(*buf, grown);
        if (p == NULL) {
            set_err(c, ROSTER_ERR_OOM, "out of memory packing a %zu-byte request", size);
            return ROSTER_ERR;
        }
        *buf = p;
        *cap = grown;
    }
    uint8_t *out = *buf + *len;
    out[0] = (uint8_t)(size >> 24);
    out[1] = (uint8_t)(size >> 16);
    out[2] = (uint8_t)(size >> 8);
    out[3] = (uint8_t)size;
    roster__v1__request_frame__pack(req, out + HEADER_SIZE);
    *len += HEADER_SIZE + size;
    return ROSTER_OK;
}

/* ---- bytes in -------------------------------------------------------------- */

/* The next response frame of any call. Connection-level frames (call id 0)
 * become a fatal ROSTER_ERR_STATUS: the server closes after sending one. */
static int read_frame(roster_client *c, int64_t deadline, Roster__V1__ResponseFrame **out)
{
    uint8_t chunk[READ_CHUNK];
    for (;;) {
        ProtobufCMessage *m;
        int rc = roster_reader_next(c->reader, &m);
        if (rc == ROSTER_OK) {
            Roster__V1__ResponseFrame *frame = (Roster__V1__ResponseFrame *)m;
            if (frame->call_id != 0) {
                *out = frame;
                return ROSTER_OK;
            }
            int code = frame->status ? (int)frame->status->code : 0;
            set_err(c, ROSTER_ERR_STATUS, "rosterd closed the connection: %s: %s", roster_code_name(code),
                    frame->status ? frame->status->message : "");
            c->status_code = code;
            roster__v1__response_frame__free_unpacked(frame, NULL);
            close_connection(c);
            return ROSTER_ERR;
        }
        if (rc == ROSTER_ERR) {
            set_err(c, c->reader->err == ROSTER_ERR_OOM ? ROSTER_ERR_OOM : ROSTER_ERR_PROTOCOL, "from rosterd: %s",
                    c->reader->errstr);
            close_connection(c);
            return ROSTER_ERR;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int ready = poll(&pfd, 1, poll_timeout(deadline));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            set_err(c, ROSTER_ERR_TIMEOUT, "deadline exceeded waiting for rosterd");
            return ROSTER_ERR;
        }
        if (ready < 0) {
            set_err(c, ROSTER_ERR_IO, "poll: %s", strerror(errno));
            close_connection(c);
            return ROSTER_ERR;
        }
        ssize_t n = read(c->fd, chunk, sizeof chunk);
        if (n > 0) {
            if (roster_reader_feed(c->reader, chunk, (size_t)n) != ROSTER_OK)
                continue; /* reported by roster_reader_next above */
        } else if (n == 0) {
            if (roster_reader_eof(c->reader) != ROSTER_OK)
                set_err(c, ROSTER_ERR_EOF, "rosterd closed the connection: %s", c->reader->errstr);
            else
                set_err(c, ROSTER_ERR_EOF, "rosterd closed the connection");
            close_connection(c);
            return ROSTER_ERR;
        } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            set_err(c, ROSTER_ERR_IO, "reading from rosterd: %s", strerror(errno));
            close_connection(c);
            return ROSTER_ERR;
        }
    }
}

/* The response to call_id. Frames of other calls can only be late answers of
 * calls that timed out (this client has no other call in flight): dropped. */
static int wait_for(roster_client *c, uint64_t call_id, int64_t deadline, Roster__V1__ResponseFrame **out)
{
    for (;;) {
        Roster__V1__ResponseFrame *frame;
        if (read_frame(c, deadline, &frame) != ROSTER_OK)
            return ROSTER_ERR;
        if (frame->call_id == call_id) {
            *out = frame;
            return ROSTER_OK;
        }
        roster__v1__response_frame__free_unpacked(frame, NULL);
    }
}

static int frame_status(const Roster__V1__ResponseFrame *frame)
{
    return frame->status ? (int)frame->status->code : ROSTER__V1__CODE__OK;
}

/* ---- generic call ---------------------------------------------------------- */

static int call(roster_client *c, Roster__V1__RequestFrame *req, int timeout_ms, Roster__V1__ResponseFrame **resp)
{
    *resp = NULL;
    if (req->method_case == ROSTER__V1__REQUEST_FRAME__METHOD__NOT_SET ||
        req->method_case == ROSTER__V1__REQUEST_FRAME__METHOD_WATCH) {
        set_err(c, ROSTER_ERR_ARG, "roster_call needs a unary method (not Watch) set in the request");
        return ROSTER_ERR;
    }
    if (timeout_ms < 0) {
        set_err(c, ROSTER_ERR_ARG, "timeout_ms must be >= 0 (0: no deadline), got %d", timeout_ms);
        return ROSTER_ERR;
    }
    int64_t deadline = deadline_after(timeout_ms);
    req->call_id = c->next_call_id++;
    req->timeout_ms = (uint32_t)timeout_ms;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = pack_frame(c, req, &buf, &len, &cap);
    if (rc == ROSTER_OK)
        rc = send_all(c, buf, len, deadline);
    free(buf);
    if (rc != ROSTER_OK)
        return ROSTER_ERR;
    Roster__V1__ResponseFrame *frame;
    if (wait_for(c, req->call_id, deadline, &frame) != ROSTER_OK)
        return ROSTER_ERR;
    int code = frame_status(frame);
    if (code != ROSTER__V1__CODE__OK) {
        set_err(c, ROSTER_ERR_STATUS, "%s: %s", roster_code_name(code), frame->status->message);
        c->status_code = code;
        roster__v1__response_frame__free_unpacked(frame, NULL);
        return ROSTER_ERR;
    }
    /* Results use the same field numbers as the methods. */
    if ((int)frame->result_case != (int)req->method_case) {
        set_err(c, ROSTER_ERR_PROTOCOL, "rosterd answered method %d with result %d", (int)req->method_case,
                (int)frame->result_case);
        roster__v1__response_frame__free_unpacked(frame, NULL);
        return ROSTER_ERR;
    }
    *resp = frame;
    return ROSTER_OK;
}

int roster_call(roster_client *c, Roster__V1__RequestFrame *request, int timeout_ms,
                Roster__V1__ResponseFrame **response)
{
    *response = NULL;
    if (begin_call(c) != ROSTER_OK)
        return ROSTER_ERR;
    return call(c, request, timeout_ms, response);
}

/* ---- references ------------------------------------------------------------ */

static int user_ref(roster_client *c, roster_ref ref, Roster__V1__UserRef *out)
{
    roster__v1__user_ref__init(out);
    char *value = (char *)ref.value; /* protobuf-c's fields are not const; packing only reads them */
    if (value == NULL) {
        set_err(c, ROSTER_ERR_ARG, "user reference has no value");
        return ROSTER_ERR;
    }
    switch (ref.kind) {
    case ROSTER_REF_ID: out->ref_case = ROSTER__V1__USER_REF__REF_ID; out->id = value; return ROSTER_OK;
    case ROSTER_REF_USER_NAME: out->ref_case = ROSTER__V1__USER_REF__REF_USER_NAME; out->user_name = value; return ROSTER_OK;
    case ROSTER_REF_EXTERNAL_ID: out->ref_case = ROSTER__V1__USER_REF__REF_EXTERNAL_ID; out->external_id = value; return ROSTER_OK;
    case ROSTER_REF_DISPLAY_NAME: break;
    }
    set_err(c, ROSTER_ERR_ARG, "a user is named by ROSTER_REF_ID, _USER_NAME or _EXTERNAL_ID (got kind %d)", (int)ref.kind);
    return ROSTER_ERR;
}

static int group_ref(roster_client *c, roster_ref ref, Roster__V1__GroupRef *out)
{
    roster__v1__group_ref__init(out);
    char *value = (char *)ref.value;
    if (value == NULL) {
        set_err(c, ROSTER_ERR_ARG, "group reference has no value");
        return ROSTER_ERR;
    }
    switch (ref.kind) {
    case ROSTER_REF_ID: out->ref_case = ROSTER__V1__GROUP_REF__REF_ID; out->id = value; return ROSTER_OK;
    case ROSTER_REF_EXTERNAL_ID: out->ref_case = ROSTER__V1__GROUP_REF__REF_EXTERNAL_ID; out->external_id = value; return ROSTER_OK;
    case ROSTER_REF_DISPLAY_NAME: out->ref_case = ROSTER__V1__GROUP_REF__REF_DISPLAY_NAME; out->display_name = value; return ROSTER_OK;
    case ROSTER_REF_USER_NAME: break;
    }
    set_err(c, ROSTER_ERR_ARG, "a group is named by ROSTER_REF_ID, _EXTERNAL_ID or _DISPLAY_NAME (got kind %d)", (int)ref.kind);
    return ROSTER_ERR;
}

static void copy_status(roster_check_result *out, int code, const char *message)
{
    out->status_code = code;
    snprintf(out->message, sizeof out->message, "%s", message ? message : "");
}

/* ---- methods --------------------------------------------------------------- */

int roster_check(roster_client *c, const char *directory_id, roster_ref user, roster_ref group,
                 uint64_t min_revision, int timeout_ms, roster_check_result *out)
{
    memset(out, 0, sizeof *out);
    if (begin_call(c) != ROSTER_OK)
        return ROSTER_ERR;
    Roster__V1__UserRef u;
    Roster__V1__GroupRef g;
    if (user_ref(c, user, &u) != ROSTER_OK || group_ref(c, group, &g) != ROSTER_OK)
        return ROSTER_ERR;
    Roster__V1__CheckRequest check = ROSTER__V1__CHECK_REQUEST__INIT;
    check.directory_id = (char *)(directory_id ? directory_id : "");
    check.user = &u;
    check.group = &g;
    check.min_revision = min_revision;
    Roster__V1__RequestFrame req = ROSTER__V1__REQUEST_FRAME__INIT;
    req.method_case = ROSTER__V1__REQUEST_FRAME__METHOD_CHECK;
    req.check = &check;

    Roster__V1__ResponseFrame *resp;
    if (call(c, &req, timeout_ms, &resp) != ROSTER_OK) {
        if (c->err == ROSTER_ERR_STATUS)
            copy_status(out, c->status_code, c->errstr);
        return ROSTER_ERR;
    }
    out->allowed = resp->check->allowed;
    out->reason = (int)resp->check->reason;
    out->revision = resp->check->revision;
    roster__v1__response_frame__free_unpacked(resp, NULL);
    return ROSTER_OK;
}

int roster_check_pipelined(roster_client *c, const char *directory_id, const roster_check_item *items,
                           size_t n, uint64_t min_revision, int timeout_ms, roster_check_result *results)
{
    if (begin_call(c) != ROSTER_OK)
        return ROSTER_ERR;
    if (timeout_ms < 0) {
        set_err(c, ROSTER_ERR_ARG, "timeout_ms must be >= 0 (0: no deadline), got %d", timeout_ms);
        return ROSTER_ERR;
    }
    /* Validate every reference before sending anything. */
    for (size_t i = 0; i < n; i++) {
        Roster__V1__UserRef u;
        Roster__V1__GroupRef g;
        if (user_ref(c, items[i].user, &u) != ROSTER_OK || group_ref(c, items[i].group, &g) != ROSTER_OK) {
            size_t used = strlen(c->errstr);
            snprintf(c->errstr + used, sizeof c->errstr - used, " (item %zu)", i);
            return ROSTER_ERR;
        }
    }
    if (n == 0)
        return ROSTER_OK;
    memset(results, 0, n * sizeof *results);
    char *answered = calloc(n, 1);
    if (answered == NULL) {
        set_err(c, ROSTER_ERR_OOM, "out of memory tracking %zu calls", n);
        return ROSTER_ERR;
    }
    int64_t deadline = deadline_after(timeout_ms);
    /* Call ids first_id .. first_id+n-1 stand for items 0 .. n-1. */
    uint64_t first_id = c->next_call_id;
    c->next_call_id += n;
    size_t sent = 0, done = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = ROSTER_OK;
    while (done < n && rc == ROSTER_OK) {
        size_t len = 0;
        while (sent < n && sent - done < ROSTER_PIPELINE_WINDOW && rc == ROSTER_OK) {
            Roster__V1__UserRef u;
            Roster__V1__GroupRef g;
            user_ref(c, items[sent].user, &u); /* validated above */
            group_ref(c, items[sent].group, &g);
            Roster__V1__CheckRequest check = ROSTER__V1__CHECK_REQUEST__INIT;
            check.directory_id = (char *)(directory_id ? directory_id : "");
            check.user = &u;
            check.group = &g;
            check.min_revision = min_revision;
            Roster__V1__RequestFrame req = ROSTER__V1__REQUEST_FRAME__INIT;
            req.call_id = first_id + sent;
            req.timeout_ms = wire_timeout(deadline);
            req.method_case = ROSTER__V1__REQUEST_FRAME__METHOD_CHECK;
            req.check = &check;
            rc = pack_frame(c, &req, &buf, &len, &cap);
            sent++;
        }
        if (rc == ROSTER_OK && len > 0)
            rc = send_all(c, buf, len, deadline);
        if (rc != ROSTER_OK)
            break;
        Roster__V1__ResponseFrame *frame;
        rc = read_frame(c, deadline, &frame);
        if (rc != ROSTER_OK)
            break;
        if (frame->call_id >= first_id && frame->call_id < first_id + sent && !answered[frame->call_id - first_id]) {
            size_t i = (size_t)(frame->call_id - first_id);
            int code = frame_status(frame);
            if (code != ROSTER__V1__CODE__OK) {
                copy_status(&results[i], code, frame->status->message);
            } else if (frame->result_case == ROSTER__V1__RESPONSE_FRAME__RESULT_CHECK) {
                results[i].allowed = frame->check->allowed;
                results[i].reason = (int)frame->check->reason;
                results[i].revision = frame->check->revision;
            } else {
                set_err(c, ROSTER_ERR_PROTOCOL, "rosterd answered a check with result %d", (int)frame->result_case);
                rc = ROSTER_ERR;
            }
            answered[i] = 1;
            done++;
        }
        roster__v1__response_frame__free_unpacked(frame, NULL);
    }
    free(buf);
    free(answered);
    return rc;
}

int roster_batch_check(roster_client *c, const char *directory_id, const roster_check_item *items, size_t n,
                       uint64_t min_revision, int timeout_ms, roster_check_result *results, uint64_t *revision)
{
    *revision = 0;
    if (begin_call(c) != ROSTER_OK)
        return ROSTER_ERR;
    memset(results, 0, n * sizeof *results);
    Roster__V1__CheckItem *checks = calloc(n ? n : 1, sizeof *checks);
    Roster__V1__CheckItem **check_ptrs = calloc(n ? n : 1, sizeof *check_ptrs);
    Roster__V1__UserRef *users = calloc(n ? n : 1, sizeof *users);
    Roster__V1__GroupRef *groups = calloc(n ? n : 1, sizeof *groups);
    int rc = ROSTER_OK;
    if (checks == NULL || check_ptrs == NULL || users == NULL || groups == NULL) {
        set_err(c, ROSTER_ERR_OOM, "out of memory building a %zu-item batch", n);
        rc = ROSTER_ERR;
    }
    for (size_t i = 0; i < n && rc == ROSTER_OK; i++) {
        if (user_ref(c, items[i].user, &users[i]) != ROSTER_OK || group_ref(c, items[i].group, &groups[i]) != ROSTER_OK) {
            size_t used = strlen(c->errstr);
            snprintf(c->errstr + used, sizeof c->errstr - used, " (item %zu)", i);
            rc = ROSTER_ERR;
            break;
        }
        roster__v1__check_item__init(&checks[i]);
        checks[i].user = &users[i];
        checks[i].group = &groups[i];
        check_ptrs[i] = &checks[i];
    }
    Roster__V1__ResponseFrame *resp = NULL;
    if (rc == ROSTER_OK) {
        Roster__V1__BatchCheckRequest batch = ROSTER__V1__BATCH_CHECK_REQUEST__INIT;
        batch.directory_id = (char *)(directory_id ? directory_id : "");
        batch.n_checks = n;
        batch.checks = check_ptrs;
        batch.min_revision = min_revision;
        Roster__V1__RequestFrame req = ROSTER__V1__REQUEST_FRAME__INIT;
        req.method_case = ROSTER__V1__REQUEST_FRAME__METHOD_BATCH_CHECK;
        req.batch_check = &batch;
        rc = call(c, &req, timeout_ms, &resp);
    }
    if (rc == ROSTER_OK && resp->batch_check->n_results != n) {
        set_err(c, ROSTER_ERR_PROTOCOL, "rosterd answered %zu checks with %zu results", n,
                resp->batch_check->n_results);
        rc = ROSTER_ERR;
    }
    if (rc == ROSTER_OK) {
        *revision = resp->batch_check->revision;
        for (size_t i = 0; i < n; i++) {
            const Roster__V1__CheckResult *r = resp->batch_check->results[i];
            results[i].allowed = r->allowed;
            results[i].reason = (int)r->reason;
            results[i].revision = resp->batch_check->revision;
            if (r->error != NULL && r->error->code != ROSTER__V1__CODE__OK)
                copy_status(&results[i], (int)r->error->code, r->error->message);
        }
    }
    if (resp != NULL)
        roster__v1__response_frame__free_unpacked(resp, NULL);
    free(checks);
    free(check_ptrs);
    free(users);
    free(groups);
    return rc;
}

int roster_health(roster_client *c, int timeout_ms, char *status, size_t status_size, uint64_t *revision)
{
    if (status_size > 0)
        status[0] = '\0';
    *revision = 0;
    if (begin_call(c) != ROSTER_OK)
        return ROSTER_ERR;
    Roster__V1__HealthRequest health = ROSTER__V1__HEALTH_REQUEST__INIT;
    Roster__V1__RequestFrame req = ROSTER__V1__REQUEST_FRAME__INIT;
    req.method_case = ROSTER__V1__REQUEST_FRAME__METHOD_HEALTH;
    req.health = &health;
    Roster__V1__ResponseFrame *resp;
    if (call(c, &req, timeout_ms, &resp) != ROSTER_OK)
        return ROSTER_ERR;
    if (status_size > 0)
        snprintf(status, status_size, "%s", resp->health->status);
    *revision = resp->health->revision;
    roster__v1__response_frame__free_unpacked(resp, NULL);
    return ROSTER_OK;
}
