/* proto/testdata/vectors.txt against protobuf-c and the reader: every valid
 * vector decodes and re-encodes to the same bytes, and its fields hold the
 * values vectors.json states; every invalid vector fails the named way. */
#include "roster_client.h"
#include "testutil.h"

#define MAX_VECTORS 128

static vector vectors[MAX_VECTORS];
static int n_vectors;

static const vector *find(const char *name)
{
    for (int i = 0; i < n_vectors; i++)
        if (strcmp(vectors[i].name, name) == 0)
            return &vectors[i];
    return NULL;
}

/* Decodes a vector that must hold exactly one frame. */
static ProtobufCMessage *decode_one(const vector *v)
{
    if (v == NULL) {
        fprintf(stderr, "  vector missing from %s\n", VECTORS_TXT);
        return NULL;
    }
    roster_reader *r = roster_reader_create(descriptor_for(v->type), ROSTER_DEFAULT_MAX_FRAME_SIZE);
    ProtobufCMessage *m = NULL, *extra = NULL;
    if (roster_reader_feed(r, v->bytes, v->len) != ROSTER_OK || roster_reader_next(r, &m) != ROSTER_OK ||
        roster_reader_next(r, &extra) != ROSTER_NEED_MORE || roster_reader_eof(r) != ROSTER_OK) {
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        m = NULL;
    }
    roster_reader_free(r);
    return m;
}

static void test_vectors_file_loaded(void)
{
    CHECKF(n_vectors > 20, "only %d vectors in %s", n_vectors, VECTORS_TXT);
}

static void test_every_valid_vector_round_trips_byte_for_byte(void)
{
    int checked = 0;
    for (int i = 0; i < n_vectors; i++) {
        const vector *v = &vectors[i];
        if (!v->valid)
            continue;
        CHECKF(descriptor_for(v->type) != NULL, "%s: unknown type %s", v->name, v->type);
        ProtobufCMessage *m = decode_one(v);
        CHECKF(m != NULL, "%s: does not decode", v->name);
        size_t size = protobuf_c_message_get_packed_size(m);
        uint8_t *packed = malloc(size + 1);
        protobuf_c_message_pack(m, packed);
        int same = size == v->len - 4 && memcmp(packed, v->bytes + 4, size) == 0;
        free(packed);
        protobuf_c_message_free_unpacked(m, NULL);
        CHECKF(same, "%s: re-encoded bytes differ from the vector", v->name);
        checked++;
    }
    CHECK(checked > 20);
}

static void test_each_type_drip_fed_and_all_at_once(void)
{
    const char *types[] = {"roster.v1.RequestFrame", "roster.v1.ResponseFrame"};
    for (int t = 0; t < 2; t++) {
        size_t total = 0;
        int expected = 0;
        for (int i = 0; i < n_vectors; i++)
            if (vectors[i].valid && strcmp(vectors[i].type, types[t]) == 0) {
                total += vectors[i].len;
                expected++;
            }
        uint8_t *stream = malloc(total);
        size_t off = 0;
        for (int i = 0; i < n_vectors; i++)
            if (vectors[i].valid && strcmp(vectors[i].type, types[t]) == 0) {
                memcpy(stream + off, vectors[i].bytes, vectors[i].len);
                off += vectors[i].len;
            }
        const size_t steps[] = {1, 3, total};
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
            size_t step = steps[s];
            roster_reader *r = roster_reader_create(descriptor_for(types[t]), ROSTER_DEFAULT_MAX_FRAME_SIZE);
            int got = 0;
            for (size_t pos = 0; pos < total; pos += step) {
                size_t n = total - pos < step ? total - pos : step;
                if (roster_reader_feed(r, stream + pos, n) != ROSTER_OK)
                    break;
                ProtobufCMessage *m;
                while (roster_reader_next(r, &m) == ROSTER_OK) {
                    got++;
                    protobuf_c_message_free_unpacked(m, NULL);
                }
            }
            int clean_end = roster_reader_eof(r) == ROSTER_OK;
            roster_reader_free(r);
            if (got != expected || !clean_end)
                free(stream);
            CHECKF(got == expected && clean_end, "%s step %zu: %d of %d frames", types[t], step, got, expected);
        }
        free(stream);
    }
}

static void test_check_request_fields(void)
{
    const vector *v = find("check_request");
    CHECK(v != NULL);
    Roster__V1__RequestFrame *f = (Roster__V1__RequestFrame *)decode_one(v);
    CHECK(f != NULL);
    int ok = f->call_id == 1 && f->timeout_ms == 250 && f->method_case == ROSTER__V1__REQUEST_FRAME__METHOD_CHECK &&
             strcmp(f->check->directory_id, "dir_acme") == 0 &&
             f->check->user->ref_case == ROSTER__V1__USER_REF__REF_USER_NAME &&
             strcmp(f->check->user->user_name, "alice@example.com") == 0 &&
             f->check->group->ref_case == ROSTER__V1__GROUP_REF__REF_DISPLAY_NAME &&
             strcmp(f->check->group->display_name, "admins") == 0 && f->check->min_revision == 42;
    roster__v1__request_frame__free_unpacked(f, NULL);
    CHECK(ok);
}

static void test_check_response_fields(void)
{
    Roster__V1__ResponseFrame *f = (Roster__V1__ResponseFrame *)decode_one(find("check_response_member"));
    CHECK(f != NULL);
    int ok = f->call_id == 1 && f->status == NULL && f->result_case == ROSTER__V1__RESPONSE_FRAME__RESULT_CHECK &&
             f->check->allowed && f->check->reason == ROSTER__V1__REASON__MEMBER && f->check->revision == 42;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
}

static void test_batch_item_error_fields(void)
{
    Roster__V1__ResponseFrame *f =
        (Roster__V1__ResponseFrame *)decode_one(find("batch_check_response_with_item_error"));
    CHECK(f != NULL);
    Roster__V1__BatchCheckResponse *b = f->batch_check;
    int ok = b != NULL && b->n_results == 3 && b->revision == 57 && b->results[0]->allowed &&
             b->results[0]->error == NULL && b->results[1]->reason == ROSTER__V1__REASON__NOT_MEMBER &&
             b->results[2]->error != NULL && b->results[2]->error->code == ROSTER__V1__CODE__FAILED_PRECONDITION &&
             strstr(b->results[2]->error->message, "matches 2 groups") != NULL;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
}

static void test_status_and_end_of_stream_fields(void)
{
    Roster__V1__ResponseFrame *f = (Roster__V1__ResponseFrame *)decode_one(find("error_not_found"));
    CHECK(f != NULL);
    int ok = f->call_id == 9 && f->status && f->status->code == ROSTER__V1__CODE__NOT_FOUND &&
             f->result_case == ROSTER__V1__RESPONSE_FRAME__RESULT__NOT_SET && !f->end_of_stream;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
    f = (Roster__V1__ResponseFrame *)decode_one(find("watch_end_of_stream_ok"));
    CHECK(f != NULL);
    ok = f->call_id == 11 && f->end_of_stream && f->status == NULL &&
         f->result_case == ROSTER__V1__RESPONSE_FRAME__RESULT__NOT_SET;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
    f = (Roster__V1__ResponseFrame *)decode_one(find("connection_error_frame_too_large"));
    CHECK(f != NULL);
    ok = f->call_id == 0 && f->status->code == ROSTER__V1__CODE__RESOURCE_EXHAUSTED;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
}

static void test_watch_event_and_empty_results(void)
{
    Roster__V1__ResponseFrame *f = (Roster__V1__ResponseFrame *)decode_one(find("watch_event"));
    CHECK(f != NULL);
    Roster__V1__WatchEvent *e = f->event;
    int ok = e && e->revision == 101 && e->seq == 1 && strcmp(e->kind, "group.user_removed") == 0 &&
             strcmp(e->cause, "user_suspended") == 0 && e->time_unix_ms == 1767225600123LL;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
    f = (Roster__V1__ResponseFrame *)decode_one(find("cancel_response_empty_result"));
    CHECK(f != NULL);
    ok = f->result_case == ROSTER__V1__RESPONSE_FRAME__RESULT_CANCEL && f->cancel != NULL;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
    Roster__V1__RequestFrame *r = (Roster__V1__RequestFrame *)decode_one(find("empty_request_frame"));
    CHECK(r != NULL);
    ok = r->call_id == 0 && r->method_case == ROSTER__V1__REQUEST_FRAME__METHOD__NOT_SET;
    roster__v1__request_frame__free_unpacked(r, NULL);
    CHECK(ok);
}

static void test_extreme_integers_and_doubles(void)
{
    Roster__V1__RequestFrame *r = (Roster__V1__RequestFrame *)decode_one(find("max_call_id"));
    CHECK(r != NULL);
    int ok = r->call_id == UINT64_MAX && r->timeout_ms == UINT32_MAX &&
             r->method_case == ROSTER__V1__REQUEST_FRAME__METHOD_STATS;
    roster__v1__request_frame__free_unpacked(r, NULL);
    CHECK(ok);
    Roster__V1__ResponseFrame *f = (Roster__V1__ResponseFrame *)decode_one(find("stats_response"));
    CHECK(f != NULL);
    ok = f->stats->uptime_seconds == 3600.25 && f->stats->calls_total == 987654321 &&
         strcmp(f->stats->version, "0.1.0") == 0;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
}

static void test_unicode_strings(void)
{
    Roster__V1__RequestFrame *r = (Roster__V1__RequestFrame *)decode_one(find("unicode_check_request"));
    CHECK(r != NULL);
    int ok = strcmp(r->check->user->user_name, "zo\xc3\xab.m\xc3\xbcller@ex\xc3\xa4mple.com") == 0 &&
             strcmp(r->check->group->display_name, "\xe7\xa0\x94\xe7\xa9\xb6\xe9\x96\x8b\xe7\x99\xba \xf0\x9f\x9a\x80 R&D") == 0;
    roster__v1__request_frame__free_unpacked(r, NULL);
    CHECK(ok);
    Roster__V1__ResponseFrame *f = (Roster__V1__ResponseFrame *)decode_one(find("unicode_get_user_response"));
    CHECK(f != NULL);
    Roster__V1__UserDetail *u = f->get_user->user;
    ok = u->state == ROSTER__V1__USER_STATE__ACTIVE && u->n_group_ids == 2 &&
         strcmp(u->group_ids[1], "grp_\xe7\xa0\x94\xe7\xa9\xb6") == 0 && strstr(u->resource_json, "\\\"Z\\\"") != NULL;
    roster__v1__response_frame__free_unpacked(f, NULL);
    CHECK(ok);
}

static void test_invalid_vectors_fail_as_named(void)
{
    int checked = 0;
    for (int i = 0; i < n_vectors; i++) {
        const vector *v = &vectors[i];
        if (v->valid)
            continue;
        roster_reader *r = roster_reader_create(descriptor_for(v->type), v->max_frame_size);
        ProtobufCMessage *m = NULL;
        int fed = roster_reader_feed(r, v->bytes, v->len);
        int next = fed == ROSTER_OK ? roster_reader_next(r, &m) : ROSTER_ERR;
        int eof = next == ROSTER_NEED_MORE ? roster_reader_eof(r) : ROSTER_ERR;
        int err = r->err;
        roster_reader_free(r);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        if (strcmp(v->error, "frame_too_large") == 0) {
            CHECKF(fed == ROSTER_ERR && err == ROSTER_ERR_FRAME_TOO_LARGE, "%s: err %d", v->name, err);
        } else if (strcmp(v->error, "decode_error") == 0) {
            CHECKF(fed == ROSTER_OK && next == ROSTER_ERR && err == ROSTER_ERR_DECODE, "%s: err %d", v->name, err);
        } else if (strcmp(v->error, "truncated") == 0) {
            CHECKF(next == ROSTER_NEED_MORE && eof == ROSTER_ERR && err == ROSTER_ERR_TRUNCATED, "%s: err %d",
                   v->name, err);
        } else {
            CHECKF(0, "%s: unknown expected error %s", v->name, v->error);
        }
        checked++;
    }
    CHECK(checked >= 8);
}

int main(void)
{
    n_vectors = load_vectors(VECTORS_TXT, vectors, MAX_VECTORS);
    if (n_vectors < 0)
        return 1;
    RUN(test_vectors_file_loaded);
    RUN(test_every_valid_vector_round_trips_byte_for_byte);
    RUN(test_each_type_drip_fed_and_all_at_once);
    RUN(test_check_request_fields);
    RUN(test_check_response_fields);
    RUN(test_batch_item_error_fields);
    RUN(test_status_and_end_of_stream_fields);
    RUN(test_watch_event_and_empty_results);
    RUN(test_extreme_integers_and_doubles);
    RUN(test_unicode_strings);
    RUN(test_invalid_vectors_fail_as_named);
    free_vectors(vectors, n_vectors);
    return test_summary("test_vectors");
}
