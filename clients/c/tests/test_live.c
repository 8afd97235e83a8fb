/* Live test against a real rosterd, run by clients/c/tests/test_c_live.py, which
 * starts the daemon, seeds a directory over SCIM and passes what it made:
 *
 *   test_live SOCKET DIRECTORY_ID MEMBER_USER NONMEMBER_USER GROUP MIN_REVISION
 *
 * MEMBER_USER is an active member of GROUP (a display name), NONMEMBER_USER an
 * active user outside it, and every seeding write is at or below MIN_REVISION. */
#include <signal.h>
#include <time.h>

#include "roster_client.h"
#include "testutil.h"

#define TIMEOUT_MS 10000
#define PIPELINED 2000

static const char *socket_path, *directory, *member, *nonmember, *group;
static uint64_t min_revision;

static roster_client *connect_daemon(void)
{
    roster_client *c = roster_connect(socket_path, TIMEOUT_MS);
    if (c != NULL && c->err)
        fprintf(stderr, "  connect %s: %s\n", socket_path, c->errstr);
    return c;
}

static roster_ref user_name(const char *name) { return (roster_ref){ROSTER_REF_USER_NAME, name}; }
static roster_ref display_name(const char *name) { return (roster_ref){ROSTER_REF_DISPLAY_NAME, name}; }

static void test_health(void)
{
    roster_client *c = connect_daemon();
    char status[32];
    uint64_t revision = 0;
    int rc = roster_health(c, TIMEOUT_MS, status, sizeof status, &revision);
    roster_free(c);
    CHECK(rc == ROSTER_OK);
    CHECKF(strcmp(status, "SERVING") == 0 && revision >= min_revision, "%s at %llu", status,
           (unsigned long long)revision);
}

static void test_check_answers(void)
{
    roster_client *c = connect_daemon();
    roster_check_result yes, no, unknown_user, unknown_group;
    int rc1 = roster_check(c, directory, user_name(member), display_name(group), min_revision, TIMEOUT_MS, &yes);
    int rc2 = roster_check(c, directory, user_name(nonmember), display_name(group), min_revision, TIMEOUT_MS, &no);
    int rc3 = roster_check(c, directory, user_name("nobody@example.com"), display_name(group), 0, TIMEOUT_MS,
                           &unknown_user);
    int rc4 = roster_check(c, directory, user_name(member), display_name("no-such-group"), 0, TIMEOUT_MS,
                           &unknown_group);
    if (c->err)
        fprintf(stderr, "  last error: %s\n", c->errstr);
    roster_free(c);
    CHECK(rc1 == ROSTER_OK && rc2 == ROSTER_OK && rc3 == ROSTER_OK && rc4 == ROSTER_OK);
    CHECK(yes.allowed && yes.reason == ROSTER__V1__REASON__MEMBER && yes.revision >= min_revision);
    CHECK(!no.allowed && no.reason == ROSTER__V1__REASON__NOT_MEMBER);
    CHECK(!unknown_user.allowed && unknown_user.reason == ROSTER__V1__REASON__USER_UNKNOWN);
    CHECK(!unknown_group.allowed && unknown_group.reason == ROSTER__V1__REASON__GROUP_UNKNOWN);
}

static void test_pipelined(void)
{
    static roster_check_item items[PIPELINED];
    static roster_check_result results[PIPELINED];
    for (int i = 0; i < PIPELINED; i++)
        items[i] = (roster_check_item){user_name(i % 2 ? nonmember : member), display_name(group)};
    roster_client *c = connect_daemon();
    int rc = roster_check_pipelined(c, directory, items, PIPELINED, min_revision, TIMEOUT_MS, results);
    if (rc != ROSTER_OK)
        fprintf(stderr, "  %s\n", c->errstr);
    roster_free(c);
    CHECK(rc == ROSTER_OK);
    for (int i = 0; i < PIPELINED; i++)
        CHECKF(results[i].status_code == 0 && results[i].allowed == (i % 2 == 0), "item %d: code %d %s", i,
               results[i].status_code, results[i].message);
}

static void test_batch(void)
{
    roster_check_item items[3] = {
        {user_name(member), display_name(group)},
        {user_name(nonmember), display_name(group)},
        {user_name(member), display_name("no-such-group")},
    };
    roster_check_result results[3];
    uint64_t revision = 0;
    roster_client *c = connect_daemon();
    int rc = roster_batch_check(c, directory, items, 3, min_revision, TIMEOUT_MS, results, &revision);
    if (rc != ROSTER_OK)
        fprintf(stderr, "  %s\n", c->errstr);
    roster_free(c);
    CHECK(rc == ROSTER_OK && revision >= min_revision);
    CHECK(results[0].allowed && results[0].reason == ROSTER__V1__REASON__MEMBER);
    CHECK(!results[1].allowed && results[1].reason == ROSTER__V1__REASON__NOT_MEMBER);
    CHECK(results[2].reason == ROSTER__V1__REASON__GROUP_UNKNOWN);
}

static void test_unknown_directory_then_connection_still_usable(void)
{
    roster_client *c = connect_daemon();
    roster_check_result res;
    int rc = roster_check(c, "dir_does_not_exist", user_name(member), display_name(group), 0, TIMEOUT_MS, &res);
    int err = c->err, code = c->status_code;
    char status[32];
    uint64_t revision;
    int rc2 = roster_health(c, TIMEOUT_MS, status, sizeof status, &revision);
    roster_free(c);
    CHECK(rc == ROSTER_ERR && err == ROSTER_ERR_STATUS && code == ROSTER__V1__CODE__NOT_FOUND);
    CHECK(rc2 == ROSTER_OK);
}

static void test_unreached_min_revision_hits_the_deadline(void)
{
    roster_client *c = connect_daemon();
    roster_check_result res;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = roster_check(c, directory, user_name(member), display_name(group), min_revision + 1000000000ull, 200,
                          &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long elapsed_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    /* Whichever deadline fires first: ours locally, or the server's DEADLINE_EXCEEDED. */
    int timed_out = c->err == ROSTER_ERR_TIMEOUT ||
                    (c->err == ROSTER_ERR_STATUS && c->status_code == ROSTER__V1__CODE__DEADLINE_EXCEEDED);
    char status[32];
    uint64_t revision;
    int rc2 = roster_health(c, TIMEOUT_MS, status, sizeof status, &revision);
    roster_free(c);
    CHECK(rc == ROSTER_ERR && timed_out);
    CHECKF(elapsed_ms < 3000, "%ld ms", elapsed_ms);
    CHECK(rc2 == ROSTER_OK);
}

static void test_generic_call_stats(void)
{
    Roster__V1__StatsRequest stats = ROSTER__V1__STATS_REQUEST__INIT;
    Roster__V1__RequestFrame req = ROSTER__V1__REQUEST_FRAME__INIT;
    req.method_case = ROSTER__V1__REQUEST_FRAME__METHOD_STATS;
    req.stats = &stats;
    Roster__V1__ResponseFrame *resp = NULL;
    roster_client *c = connect_daemon();
    int rc = roster_call(c, &req, TIMEOUT_MS, &resp);
    roster_free(c);
    CHECK(rc == ROSTER_OK && resp != NULL);
    int ok = resp->stats->users >= 2 && resp->stats->revision >= min_revision && resp->stats->version[0] != '\0';
    roster__v1__response_frame__free_unpacked(resp, NULL);
    CHECK(ok);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: test_live SOCKET DIRECTORY_ID MEMBER_USER NONMEMBER_USER GROUP MIN_REVISION\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    socket_path = argv[1];
    directory = argv[2];
    member = argv[3];
    nonmember = argv[4];
    group = argv[5];
    min_revision = strtoull(argv[6], NULL, 10);
    RUN(test_health);
    RUN(test_check_answers);
    RUN(test_pipelined);
    RUN(test_batch);
    RUN(test_unknown_directory_then_connection_still_usable);
    RUN(test_unreached_min_revision_hits_the_deadline);
    RUN(test_generic_call_stats);
    return test_summary("test_live");
}
