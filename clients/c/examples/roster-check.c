/*
 * roster-check: ask rosterd whether a user is a member of a group.
 *
 *   roster-check [-t TIMEOUT_MS] [-r MIN_REVISION] SOCKET DIRECTORY_ID USER GROUP
 *
 * USER is a userName, or id:<SCIM id>, or ext:<externalId>.
 * GROUP is a displayName, or id:<SCIM id>, or ext:<externalId>.
 * Prints "allowed MEMBER revision N" or "denied REASON revision N".
 * Exit status: 0 allowed, 1 denied, 2 error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "roster_client.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: roster-check [-t TIMEOUT_MS] [-r MIN_REVISION] SOCKET DIRECTORY_ID USER GROUP\n"
                 "  USER:  userName | id:<SCIM id> | ext:<externalId>\n"
                 "  GROUP: displayName | id:<SCIM id> | ext:<externalId>\n"
                 "exit status: 0 allowed, 1 denied, 2 error\n");
}

/* "id:x" and "ext:x" name by id / externalId; anything else by the default kind. */
static roster_ref parse_ref(const char *arg, roster_ref_kind default_kind)
{
    if (strncmp(arg, "id:", 3) == 0)
        return (roster_ref){ROSTER_REF_ID, arg + 3};
    if (strncmp(arg, "ext:", 4) == 0)
        return (roster_ref){ROSTER_REF_EXTERNAL_ID, arg + 4};
    return (roster_ref){default_kind, arg};
}

int main(int argc, char **argv)
{
    int timeout_ms = 2000;
    unsigned long long min_revision = 0;
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    int opt;
    while ((opt = getopt(argc, argv, "t:r:")) != -1) {
        switch (opt) {
        case 't': timeout_ms = atoi(optarg); break;
        case 'r': min_revision = strtoull(optarg, NULL, 10); break;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 4 || timeout_ms < 0) {
        usage(stderr);
        return 2;
    }
    const char *socket_path = argv[optind], *directory = argv[optind + 1];
    roster_ref user = parse_ref(argv[optind + 2], ROSTER_REF_USER_NAME);
    roster_ref group = parse_ref(argv[optind + 3], ROSTER_REF_DISPLAY_NAME);

    roster_client *c = roster_connect(socket_path, timeout_ms);
    if (c == NULL) {
        fprintf(stderr, "roster-check: out of memory\n");
        return 2;
    }
    if (c->err) {
        fprintf(stderr, "roster-check: %s\n", c->errstr);
        roster_free(c);
        return 2;
    }
    roster_check_result result;
    int status = 2;
    if (roster_check(c, directory, user, group, min_revision, timeout_ms, &result) != ROSTER_OK) {
        fprintf(stderr, "roster-check: %s: %s\n", roster_strerror(c->err), c->errstr);
    } else {
        printf("%s %s revision %llu\n", result.allowed ? "allowed" : "denied", roster_reason_name(result.reason),
               (unsigned long long)result.revision);
        status = result.allowed ? 0 : 1;
    }
    roster_free(c);
    return status;
}
