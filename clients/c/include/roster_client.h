/*
 * libroster-client: C client for rosterd's lookup API (docs/PROTOCOL.md).
 *
 * Two layers, usable separately:
 *
 *  - roster_reader: an I/O-free frame reader in the style of hiredis' read.h.
 *    Feed it bytes from anywhere (a socket, an event loop, a test), then pull
 *    decoded protobuf messages out of it. It never reads or writes a file
 *    descriptor.
 *
 *  - roster_client: a blocking Unix-socket client with per-call deadlines
 *    (poll), built on the reader: roster_check, pipelined checks matched by
 *    call id, roster_batch_check, roster_health, and roster_call for any
 *    other unary method.
 *
 * Errors: functions return ROSTER_OK or ROSTER_ERR; the object's `err` holds
 * a ROSTER_ERR_* kind and `errstr` a human-readable message. A client whose
 * error is fatal (see roster_error_is_fatal) has closed its socket; free it
 * and connect again. Nothing here is thread-safe: one client per thread.
 */
#ifndef ROSTER_CLIENT_H
#define ROSTER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "roster/v1/roster.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ROSTER_CLIENT_VERSION "0.1.0"

/* The server's default frame limit; the reader rejects longer frames. */
#define ROSTER_DEFAULT_MAX_FRAME_SIZE (4u * 1024u * 1024u)
/* Size of every errstr / message buffer, terminating NUL included. */
#define ROSTER_ERRSTR_SIZE 160
/* Checks in flight at once in roster_check_pipelined. Bounded so that neither
 * side's socket buffer fills while the other is not reading. */
#define ROSTER_PIPELINE_WINDOW 128

/* Return values. */
#define ROSTER_OK 0
#define ROSTER_ERR (-1)
#define ROSTER_NEED_MORE 1 /* roster_reader_next only: no complete frame yet */

/* Error kinds, in `err`. */
enum roster_error_kind {
    ROSTER_ERR_NONE = 0,
    ROSTER_ERR_OOM = 1,             /* allocation failed */
    ROSTER_ERR_FRAME_TOO_LARGE = 2, /* a length prefix above max_frame_size */
    ROSTER_ERR_DECODE = 3,          /* a frame's payload is not a valid message */
    ROSTER_ERR_TRUNCATED = 4,       /* the stream ended inside a frame */
    ROSTER_ERR_ARG = 5,             /* invalid argument from the caller */
    ROSTER_ERR_IO = 6,              /* socket error; errstr has strerror(errno) */
    ROSTER_ERR_EOF = 7,             /* the server closed the connection */
    ROSTER_ERR_TIMEOUT = 8,         /* the call's local deadline passed */
    ROSTER_ERR_PROTOCOL = 9,        /* the server's frames broke the protocol */
    ROSTER_ERR_STATUS = 10,         /* the server answered with a non-OK status:
                                       see status_code (a Roster__V1__Code) */
};

/* A short description of an error kind ("frame too large", ...). */
const char *roster_strerror(int err);
/* The status code's name ("NOT_FOUND"), or "UNRECOGNIZED". */
const char *roster_code_name(int code);
/* The reason's name ("MEMBER", "USER_SUSPENDED", ...), or "UNRECOGNIZED". */
const char *roster_reason_name(int reason);

/* ------------------------------------------------------------------------ */
/* I/O-free frame reader                                                     */
/* ------------------------------------------------------------------------ */

typedef struct roster_reader {
    int err;                        /* ROSTER_ERR_* that stopped the reader, 0 if none */
    char errstr[ROSTER_ERRSTR_SIZE];

    /* private */
    const ProtobufCMessageDescriptor *descriptor;
    size_t max_frame_size;
    uint8_t *buf;
    size_t cap;
    size_t pos;       /* start of the first frame not yet returned by next() */
    size_t len;       /* bytes held in buf */
    size_t partial;   /* start of the incomplete frame at the end (== len if none) */
    size_t frame_end; /* end of that frame once its header is in, else 0 */
} roster_reader;

/* A reader decoding messages of `descriptor` (e.g. &roster__v1__response_frame__descriptor)
 * and rejecting frames longer than max_frame_size. NULL if out of memory. */
roster_reader *roster_reader_create(const ProtobufCMessageDescriptor *descriptor, size_t max_frame_size);
void roster_reader_free(roster_reader *r);

/* Append bytes. Each length prefix is checked as soon as its 4 bytes are in,
 * so an oversized frame fails here (ROSTER_ERR_FRAME_TOO_LARGE) before any of
 * its payload is buffered. At most one incomplete frame is ever held.
 * Returns ROSTER_OK or ROSTER_ERR; errors are sticky. */
int roster_reader_feed(roster_reader *r, const void *buf, size_t len);

/* Decode the next complete frame: ROSTER_OK with *msg set (free it with
 * protobuf_c_message_free_unpacked(*msg, NULL)), ROSTER_NEED_MORE, or
 * ROSTER_ERR (ROSTER_ERR_DECODE; sticky: the stream cannot be resynchronized). */
int roster_reader_next(roster_reader *r, ProtobufCMessage **msg);

/* Declare the end of the stream: ROSTER_OK if it ended between frames,
 * ROSTER_ERR (ROSTER_ERR_TRUNCATED) if inside one. */
int roster_reader_eof(roster_reader *r);

/* Bytes held: complete frames not yet returned plus the partial frame. */
size_t roster_reader_buffered(const roster_reader *r);

/* ------------------------------------------------------------------------ */
/* Blocking client                                                           */
/* ------------------------------------------------------------------------ */

typedef struct roster_client {
    int err;                        /* ROSTER_ERR_* of the last failed call, 0 if none */
    char errstr[ROSTER_ERRSTR_SIZE];
    int status_code;                /* when err == ROSTER_ERR_STATUS: the Roster__V1__Code */

    /* private */
    int fd;                         /* -1 once a fatal error closed the connection */
    roster_reader *reader;
    uint64_t next_call_id;
} roster_client;

/* Connect to rosterd's socket, waiting at most timeout_ms (0: no limit).
 * Returns NULL only when out of memory; otherwise check c->err
 * (ROSTER_ERR_IO or ROSTER_ERR_TIMEOUT if the socket could not be reached)
 * and release with roster_free. */
roster_client *roster_connect(const char *socket_path, int timeout_ms);
void roster_free(roster_client *c);

/* Whether an error kind leaves the connection unusable. ROSTER_ERR_STATUS
 * (the server said no), ROSTER_ERR_ARG and a ROSTER_ERR_TIMEOUT while waiting
 * for an answer are not fatal: the next call clears err and proceeds. */
int roster_error_is_fatal(const roster_client *c);

/* How a user or a group is named: by SCIM id, userName (users), externalId,
 * or displayName (groups; ambiguous names are an error, not a guess). */
typedef enum roster_ref_kind {
    ROSTER_REF_ID = 1,
    ROSTER_REF_USER_NAME = 2,
    ROSTER_REF_EXTERNAL_ID = 3,
    ROSTER_REF_DISPLAY_NAME = 4,
} roster_ref_kind;

typedef struct roster_ref {
    roster_ref_kind kind;
    const char *value;              /* UTF-8, NUL-terminated */
} roster_ref;

typedef struct roster_check_item {
    roster_ref user;
    roster_ref group;
} roster_check_item;

typedef struct roster_check_result {
    int allowed;                    /* 1 if the user is an active member */
    int reason;                     /* Roster__V1__Reason */
    uint64_t revision;              /* index revision the answer was computed at */
    int status_code;                /* Roster__V1__Code: 0 if answered, else why not */
    char message[ROSTER_ERRSTR_SIZE]; /* the status message when status_code != 0 (truncated) */
} roster_check_result;

/* Deadlines: every call takes timeout_ms, sent to the server as the call's
 * deadline and enforced locally with poll(); 0 means none. */

/* Is `user` a member of `group` in `directory_id`, at revision >= min_revision?
 * ROSTER_OK with *out filled; ROSTER_ERR otherwise (a non-OK status such as
 * NOT_FOUND for an unknown directory is ROSTER_ERR_STATUS, also copied to
 * out->status_code/message). */
int roster_check(roster_client *c, const char *directory_id, roster_ref user, roster_ref group,
                 uint64_t min_revision, int timeout_ms, roster_check_result *out);

/* n separate Check calls, up to ROSTER_PIPELINE_WINDOW in flight, answers
 * matched by call id in whatever order they come. timeout_ms bounds the whole
 * operation. ROSTER_OK when every call was answered: results[i] is then the
 * answer to items[i], or its error in status_code/message. ROSTER_ERR on a
 * transport error or timeout (results are then incomplete). */
int roster_check_pipelined(roster_client *c, const char *directory_id, const roster_check_item *items,
                           size_t n, uint64_t min_revision, int timeout_ms, roster_check_result *results);

/* One BatchCheck call: all n checks answered at one revision (*revision).
 * Per-item errors (e.g. an ambiguous display name) are in results[i].status_code. */
int roster_batch_check(roster_client *c, const char *directory_id, const roster_check_item *items, size_t n,
                       uint64_t min_revision, int timeout_ms, roster_check_result *results,
                       uint64_t *revision);

/* Health: copies the status string ("SERVING") into status (status_size bytes)
 * and the index revision into *revision. */
int roster_health(roster_client *c, int timeout_ms, char *status, size_t status_size, uint64_t *revision);

/* Any unary method: fill `request`'s method (its call_id and timeout_ms are set
 * here), get the response frame. ROSTER_OK with *response set when the status
 * is OK (free it with roster__v1__response_frame__free_unpacked(*response, NULL));
 * ROSTER_ERR otherwise, *response NULL. Watch is a stream and is refused. */
int roster_call(roster_client *c, Roster__V1__RequestFrame *request, int timeout_ms,
                Roster__V1__ResponseFrame **response);

#ifdef __cplusplus
}
#endif

#endif /* ROSTER_CLIENT_H */
