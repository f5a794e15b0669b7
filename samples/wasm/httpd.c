/* httpd.wasm: a tiny HTTP server for WASI preview 1, one request per connection.
 *
 * Preview 1 has no socket(), bind() or listen(): a p1 guest can only accept connections on
 * listening sockets its host opened for it and handed over as preopened descriptors. This server
 * takes them the way systemd socket activation does: the environment variable LISTEN_FDS=<n> says
 * that descriptors 3 .. 3+n-1 are listening TCP sockets (wasmkube opens one per containerPort, in
 * the order of the pod spec's ports). Without LISTEN_FDS it serves every consecutive socket from
 * descriptor 3 on (what `wasmtime run -S preview2=n -S tcplisten=ADDR` hands over). The optional
 * LISTEN_FDS_START moves the first descriptor for hosts that cannot put the sockets at 3.
 *
 * Routes (GET or HEAD; the query string is ignored):
 *   /         200, body "<name>\n": $HOSTNAME, else $POD_NAME, else "wasm" (tells replicas apart)
 *   /healthz  200 "ok\n"
 *   /ready    200 "ready\n", or 503 "not ready\n" when $READY is "false" (fails a readiness probe)
 *   anything else 404; a request line that cannot be parsed gets 400.
 * Every response carries Content-Length and "Connection: close", and the server closes the
 * connection after it (HTTP/1.0 style), so clients never wait for a keep-alive. One log line per
 * request goes to stdout: "<method> <path> <status>".
 *
 * wasi-libc 0.0~git20220510 (Debian) declares no accept/recv/send, so this calls the preview 1
 * functions directly. The host must implement sock_accept, sock_recv, sock_send, sock_shutdown
 * and fd_close for these descriptors, and poll_oneoff with fd_read subscriptions on them when
 * there is more than one listener or when accept on a non-blocking listener says EAGAIN. A bad
 * request or a broken connection never stops the server; only a listener that cannot accept at
 * all (EBADF, ENOTSOCK, ENOSYS, ...) ends it with exit code 1 and a message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wasi/api.h>

#define MAX_LISTENERS 16
#define REQUEST_MAX 8192

static __wasi_fd_t listeners[MAX_LISTENERS];
static int nlisteners;

static int is_socket(__wasi_fd_t fd) {
    __wasi_fdstat_t st;
    return __wasi_fd_fdstat_get(fd, &st) == 0 && st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM;
}

/* Fills listeners[] from LISTEN_FDS (or by probing) and LISTEN_FDS_START. */
static void find_listeners(void) {
    const char *start_env = getenv("LISTEN_FDS_START");
    __wasi_fd_t first = start_env ? (__wasi_fd_t)atoi(start_env) : 3;
    const char *count_env = getenv("LISTEN_FDS");
    if (count_env) {
        int n = atoi(count_env);
        for (int i = 0; i < n && nlisteners < MAX_LISTENERS; i++) listeners[nlisteners++] = first + i;
    } else {
        while (nlisteners < MAX_LISTENERS && is_socket(first + nlisteners))
            listeners[nlisteners] = first + nlisteners, nlisteners++;
    }
}

/* Blocks until a listener has a connection waiting; returns the index of one that has. */
static int wait_for_connection(void) {
    __wasi_subscription_t subs[MAX_LISTENERS];
    __wasi_event_t events[MAX_LISTENERS];
    memset(subs, 0, sizeof subs);
    for (int i = 0; i < nlisteners; i++) {
        subs[i].userdata = (__wasi_userdata_t)i;
        subs[i].u.tag = __WASI_EVENTTYPE_FD_READ;
        subs[i].u.u.fd_read.file_descriptor = listeners[i];
    }
    __wasi_size_t nevents;
    __wasi_errno_t err = __wasi_poll_oneoff(subs, events, (__wasi_size_t)nlisteners, &nevents);
    if (err != 0 || nevents == 0) {
        fprintf(stderr, "httpd: poll_oneoff on the listening sockets failed: errno %u\n", err);
        exit(1);
    }
    /* Take the first ready listener after the one served last, so a busy port cannot starve
     * the others. */
    static int last;
    int best = -1;
    for (__wasi_size_t e = 0; e < nevents; e++) {
        int i = (int)events[e].userdata;
        if (events[e].error != 0 || i < 0 || i >= nlisteners) continue;
        int distance = (i - last - 1 + nlisteners) % nlisteners;
        if (best < 0 || distance < (best - last - 1 + nlisteners) % nlisteners) best = i;
    }
    if (best < 0) {
        fprintf(stderr, "httpd: poll_oneoff reported an error on every listening socket\n");
        exit(1);
    }
    return last = best;
}

/* Accepts the next connection on any listener; transient errors are retried. */
static __wasi_fd_t accept_next(void) {
    for (;;) {
        /* With one listener, a plain blocking accept is all the host needs to support; with
         * several, poll_oneoff picks one that has a connection waiting. */
        int i = nlisteners > 1 ? wait_for_connection() : 0;
        __wasi_fd_t conn;
        __wasi_errno_t err = __wasi_sock_accept(listeners[i], 0, &conn);
        if (err == 0) return conn;
        switch (err) {
        case __WASI_ERRNO_AGAIN:
            if (nlisteners == 1) (void)wait_for_connection();
            continue;
        case __WASI_ERRNO_INTR:
        case __WASI_ERRNO_CONNABORTED:
        case __WASI_ERRNO_CONNRESET:
        case __WASI_ERRNO_MFILE:
        case __WASI_ERRNO_NFILE:
        case __WASI_ERRNO_NOBUFS:
        case __WASI_ERRNO_NOMEM:
            continue;
        default:
            fprintf(stderr, "httpd: accept on fd %u failed: errno %u (is it a listening socket?)\n",
                    listeners[i], err);
            exit(1);
        }
    }
}

static long recv_some(__wasi_fd_t fd, char *buf, size_t len) {
    __wasi_iovec_t iov = {.buf = (uint8_t *)buf, .buf_len = len};
    __wasi_size_t got;
    __wasi_roflags_t flags;
    return __wasi_sock_recv(fd, &iov, 1, 0, &got, &flags) == 0 ? (long)got : -1;
}

static int send_all(__wasi_fd_t fd, const char *buf, size_t len) {
    while (len > 0) {
        __wasi_ciovec_t iov = {.buf = (const uint8_t *)buf, .buf_len = len};
        __wasi_size_t sent;
        if (__wasi_sock_send(fd, &iov, 1, 0, &sent) != 0 || sent == 0) return -1;
        buf += sent, len -= sent;
    }
    return 0;
}

/* Reads until the end of the request head (a blank line), EOF or a full buffer. Returns the
 * number of bytes read, or -1 when the connection broke first. */
static long read_head(__wasi_fd_t fd, char *buf, size_t cap) {
    size_t len = 0;
    while (len < cap - 1) {
        long got = recv_some(fd, buf + len, cap - 1 - len);
        if (got < 0) return -1;
        if (got == 0) break;
        len += (size_t)got;
        buf[len] = 0;
        if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) break;
    }
    buf[len] = 0;
    return (long)len;
}

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    default: return "Service Unavailable";
    }
}

static const char *pod_name(void) {
    const char *name = getenv("HOSTNAME");
    if (!name || !*name) name = getenv("POD_NAME");
    return name && *name ? name : "wasm";
}

/* Whether the request head has a header line starting with NAME (lower case, with the colon). */
static int has_header(const char *head, const char *name) {
    size_t n = strlen(name);
    for (const char *line = strchr(head, '\n'); line; line = strchr(line, '\n')) {
        line++;
        if (strncasecmp(line, name, n) == 0) return 1;
    }
    return 0;
}

static void serve(__wasi_fd_t fd) {
    static char req[REQUEST_MAX];
    long len = read_head(fd, req, sizeof req);
    if (len <= 0) return; /* a TCP probe or a client that went away: nothing to answer */

    /* Request line: METHOD SP TARGET SP VERSION. */
    char method[16] = "-", path[1024] = "-";
    int status;
    char body[512];
    int ok = sscanf(req, "%15s %1023s HTTP/%*d.%*d", method, path) == 2 && path[0] == '/';
    int get = !strcmp(method, "GET"), head = !strcmp(method, "HEAD");
    char route[1024];
    snprintf(route, sizeof route, "%s", path);
    route[strcspn(route, "?")] = 0;
    if (!ok) {
        status = 400, snprintf(body, sizeof body, "bad request\n");
    } else if ((get || head) && !strcmp(route, "/")) {
        status = 200, snprintf(body, sizeof body, "%s\n", pod_name());
    } else if ((get || head) && !strcmp(route, "/healthz")) {
        status = 200, snprintf(body, sizeof body, "ok\n");
    } else if ((get || head) && !strcmp(route, "/ready")) {
        const char *ready = getenv("READY");
        int not_ready = ready && !strcmp(ready, "false");
        status = not_ready ? 503 : 200;
        snprintf(body, sizeof body, not_ready ? "not ready\n" : "ready\n");
    } else {
        status = 404, snprintf(body, sizeof body, "not found\n");
    }

    char response[1024];
    int n = snprintf(response, sizeof response,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, reason(status), strlen(body), head ? "" : body);
    send_all(fd, response, (size_t)n);
    printf("%s %s %d\n", method, path, status);
    fflush(stdout);

    /* A request with a body (or a head too big for the buffer) leaves unread data, and closing
     * a socket with unread data sends a reset that can discard the response at the client: so
     * half-close and drain what the client still sends. A GET is answered and closed at once. */
    int unread = has_header(req, "content-length:") || has_header(req, "transfer-encoding:") ||
                 (size_t)len == sizeof req - 1;
    if (unread && __wasi_sock_shutdown(fd, __WASI_SDFLAGS_WR) == 0) {
        char sink[1024];
        for (int i = 0; i < 64 && recv_some(fd, sink, sizeof sink) > 0; i++) {}
    }
}

int main(void) {
    find_listeners();
    if (nlisteners == 0) {
        fprintf(stderr, "httpd: no listening sockets (set LISTEN_FDS=<n>; sockets are fds 3..3+n-1)\n");
        return 1;
    }
    printf("httpd: serving %d socket(s) from fd %u as %s\n", nlisteners, listeners[0], pod_name());
    fflush(stdout);
    for (;;) {
        __wasi_fd_t conn = accept_next();
        serve(conn);
        (void)__wasi_fd_close(conn);
    }
}
