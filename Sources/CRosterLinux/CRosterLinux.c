#define _GNU_SOURCE
#include "CRosterLinux.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(c_roster_epoll_in == EPOLLIN, "EPOLLIN");
_Static_assert(c_roster_epoll_out == EPOLLOUT, "EPOLLOUT");
_Static_assert(c_roster_epoll_exclusive == EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE");
_Static_assert(c_roster_epoll_add == EPOLL_CTL_ADD, "EPOLL_CTL_ADD");
_Static_assert(c_roster_epoll_remove == EPOLL_CTL_DEL, "EPOLL_CTL_DEL");
_Static_assert(c_roster_epoll_modify == EPOLL_CTL_MOD, "EPOLL_CTL_MOD");

int c_roster_epoll_create(void)
{
    return epoll_create1(EPOLL_CLOEXEC);
}

int c_roster_eventfd(void)
{
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

int c_roster_accept_nonblocking(int listener)
{
    return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static int c_roster_unix_address(const char *path, struct sockaddr_un *address)
{
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length >= sizeof address->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(address->sun_path, path, length + 1);
    return 0;
}

/* Closes fd and returns -1 with the errno that made the caller give up (close may change it). */
static int c_roster_fail_closing(int fd, int error)
{
    close(fd);
    errno = error;
    return -1;
}

/* A non-blocking, close-on-exec Unix stream socket and the address of `path`. */
static int c_roster_unix_socket(const char *path, struct sockaddr_un *address)
{
    if (c_roster_unix_address(path, address) != 0)
        return -1;
    return socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int c_roster_listen_unix(const char *path, int backlog)
{
    struct sockaddr_un address;
    int fd = c_roster_unix_socket(path, &address);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, backlog) != 0)
        return c_roster_fail_closing(fd, errno);
    return fd;
}

int c_roster_connect_unix(const char *path, int timeout_ms)
{
    struct sockaddr_un address;
    int fd = c_roster_unix_socket(path, &address);
    if (fd < 0)
        return -1;
    /* A non-blocking connect on a Unix socket fails with EAGAIN while the server's backlog is
       full (it never returns EINPROGRESS): retry every 10 ms until the timeout. */
    int waited = 0;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&address, sizeof address) == 0)
            return fd;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN || waited >= timeout_ms)
            break;
        usleep(10 * 1000);
        waited += 10;
    }
    return c_roster_fail_closing(fd, errno == EAGAIN ? ETIMEDOUT : errno);
}

long c_roster_send_available(int fd, const void *bytes, size_t count)
{
    size_t sent = 0;
    while (sent < count) {
        ssize_t result = send(fd, (const char *)bytes + sent, count - sent, MSG_NOSIGNAL);
        if (result >= 0) {
            sent += (size_t)result;
        } else if (errno != EINTR) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
    }
    return (long)sent;
}

int c_roster_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid)
{
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0)
        return -1;
    if (length != sizeof credentials) {
        errno = EINVAL;
        return -1;
    }
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

void c_roster_name_thread(const char *name)
{
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = 0;
    pthread_setname_np(pthread_self(), shortened);
}

int c_roster_epoll_control(int epoll, int operation, int fd, uint32_t events)
{
    struct epoll_event event = { .events = events, .data = { .fd = fd } };
    return epoll_ctl(epoll, operation, fd, &event);
}

enum { c_roster_max_events = 256 };

int c_roster_epoll_wait(int epoll, int32_t *fds, uint32_t *events, int capacity, int timeout_ms)
{
    struct epoll_event ready[c_roster_max_events];
    if (capacity > c_roster_max_events)
        capacity = c_roster_max_events;
    int count = epoll_wait(epoll, ready, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        fds[i] = ready[i].data.fd;
        events[i] = ready[i].events;
    }
    return count;
}

int c_roster_malloc_trim(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}
