// The Linux calls the check lane needs that Swift's Glibc module does not bring in: epoll,
// eventfd, accept4 and SO_PEERCRED's struct ucred (the last two need _GNU_SOURCE).
//
// The header includes no system header on purpose: a C module that re-exports <sys/socket.h>
// takes its declarations away from Glibc in whole-module builds. The constants below are the
// kernel's ABI values (checked against the headers at compile time in CRosterLinux.c).
#ifndef C_ROSTER_LINUX_H
#define C_ROSTER_LINUX_H

#include <stddef.h>
#include <stdint.h>

enum {
    c_roster_epoll_in = 0x001,
    c_roster_epoll_out = 0x004,
    c_roster_epoll_exclusive = 1 << 28,
    c_roster_epoll_add = 1,
    c_roster_epoll_remove = 2,
    c_roster_epoll_modify = 3,
};

/// epoll_create1(EPOLL_CLOEXEC); -1 with errno on failure.
int c_roster_epoll_create(void);

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); -1 with errno on failure.
int c_roster_eventfd(void);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC; the peer address is not wanted.
int c_roster_accept_nonblocking(int listener);

/// A Unix stream socket, non-blocking and close-on-exec, bound to `path` and listening;
/// -1 with errno on failure (ENAMETOOLONG when the path does not fit sun_path).
int c_roster_listen_unix(const char *path, int backlog);

/// A non-blocking, close-on-exec Unix stream socket connected to `path`, retrying for up to
/// `timeout_ms` while the server's backlog is full; -1 with errno on failure (ETIMEDOUT then).
int c_roster_connect_unix(const char *path, int timeout_ms);

/// Sends as much of `bytes` as a non-blocking socket takes now (retrying on EINTR, no SIGPIPE):
/// the count sent, which is less than `count` when the socket is full; -1 with errno on an error.
long c_roster_send_available(int fd, const void *bytes, size_t count);

/// SO_PEERCRED of a connected Unix socket: 0 and the three values, or -1 with errno.
int c_roster_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// Names the calling thread (at most 15 bytes are kept), for ps, top and perf.
void c_roster_name_thread(const char *name);

/// epoll_ctl with the fd as the event's data.
int c_roster_epoll_control(int epoll, int operation, int fd, uint32_t events);

/// epoll_wait that reports only the fds and event masks (struct epoll_event is packed on x86_64).
int c_roster_epoll_wait(int epoll, int32_t *fds, uint32_t *events, int capacity, int timeout_ms);

/// Returns freed heap memory to the kernel (glibc malloc_trim(0)); 1 if any was released.
int c_roster_malloc_trim(void);

#endif
