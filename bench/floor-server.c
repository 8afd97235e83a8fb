/*
 * floor-server: the least a lookup server can do on this transport, as a floor for rosterd.
 *
 *   floor-server SOCKET_PATH
 *
 * One thread, epoll, non-blocking Unix stream sockets. For each length-prefixed request frame it
 * reads the call id (field 1, a varint) and answers with a complete Roster ResponseFrame of the
 * size rosterd sends for a Check (call_id, check { allowed, reason MEMBER, revision 42 }); no
 * protobuf library, no lookup. Everything answered while handling one read goes out in one
 * write(). Exits on SIGTERM/SIGINT and removes the socket file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct conn {
    int fd;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_cap;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

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

/* call_id of a RequestFrame payload; 0 if absent or malformed. */
static uint64_t call_id(const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        uint64_t key, v;
        if (!read_varint(&p, end, &key))
            return 0;
        switch (key & 7) {
        case 0:
            if (!read_varint(&p, end, &v))
                return 0;
            if (key >> 3 == 1)
                return v;
            break;
        case 2:
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return 0;
            p += v;
            break;
        case 1: p += 8; break;
        case 5: p += 4; break;
        default: return 0;
        }
    }
    return 0;
}

static void answer(struct conn *c, uint64_t id)
{
    if (c->out_len + 32 > c->out_cap) {
        c->out_cap *= 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out) { perror("realloc"); exit(1); }
    }
    uint8_t body[24], *p = body;
    *p++ = 0x08;
    do {
        uint8_t b = id & 0x7f;
        id >>= 7;
        *p++ = id ? (b | 0x80) : b;
    } while (id);
    const uint8_t check[] = {0x1a, 0x06, 0x08, 0x01, 0x10, 0x01, 0x18, 0x2a};
    memcpy(p, check, sizeof check);
    p += sizeof check;
    uint32_t n = (uint32_t)(p - body);
    uint8_t *o = c->out + c->out_len;
    o[0] = (uint8_t)(n >> 24); o[1] = (uint8_t)(n >> 16); o[2] = (uint8_t)(n >> 8); o[3] = (uint8_t)n;
    memcpy(o + 4, body, n);
    c->out_len += 4 + n;
}

static void close_conn(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: floor-server SOCKET_PATH\n");
        return 2;
    }
    const char *path = argv[1];
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) { fprintf(stderr, "path too long\n"); return 1; }
    strcpy(addr.sun_path, path);
    unlink(path);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1024) != 0) {
        perror("bind/listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event events[256];
    uint8_t buf[65536];
    while (!stop) {
        int n = epoll_wait(ep, events, 256, 200);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            break;
        }
        for (int e = 0; e < n; e++) {
            struct conn *c = events[e].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    nc->in_cap = nc->out_cap = 65536;
                    nc->in = malloc(nc->in_cap);
                    nc->out = malloc(nc->out_cap);
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            ssize_t got = read(c->fd, buf, sizeof buf);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                close_conn(ep, c);
                continue;
            }
            if (got < 0) continue;
            if (c->in_len + (size_t)got > c->in_cap) {
                while (c->in_len + (size_t)got > c->in_cap) c->in_cap *= 2;
                c->in = realloc(c->in, c->in_cap);
            }
            memcpy(c->in + c->in_len, buf, (size_t)got);
            c->in_len += (size_t)got;
            size_t pos = 0;
            while (c->in_len - pos >= 4) {
                const uint8_t *h = c->in + pos;
                uint32_t len = ((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) | h[3];
                if (c->in_len - pos - 4 < len) break;
                answer(c, call_id(h + 4, h + 4 + len));
                pos += 4 + len;
            }
            memmove(c->in, c->in + pos, c->in_len - pos);
            c->in_len -= pos;
            size_t off = 0;
            while (off < c->out_len) {
                ssize_t w = write(c->fd, c->out + off, c->out_len - off);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN) {
                        /* Bounded pipelines never fill the socket buffer; wait briefly if they do. */
                        usleep(50);
                        continue;
                    }
                    break;
                }
                off += (size_t)w;
            }
            c->out_len = 0;
        }
    }
    unlink(path);
    return 0;
}
