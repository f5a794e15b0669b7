/* netcat-p2.wasm: a WASI preview 2 command component that uses wasi:sockets directly, to show
 * that a wasm pod can reach pod IPs and Services (and resolve their names) and can serve on its
 * own pod IP, the way a Linux pod's wget/nc would. Modes (argv[1]):
 *
 *   fetch HOST PORT [PATH]              one HTTP/1.0 GET of PATH (default /): resolves HOST with
 *                                       wasi:sockets/ip-name-lookup unless it is an IPv4 literal,
 *                                       connects, sends "GET PATH HTTP/1.0\r\nHost: HOST\r\n\r\n"
 *                                       and prints the whole response (head and body) to stdout.
 *   resolve NAME                        prints each address of NAME on its own line.
 *   serve PORT                          listens on 0.0.0.0:PORT and answers every connection with
 *                                       200 and the body "$HOSTNAME\n" (like httpd.wasm's GET /),
 *                                       forever; one log line per request on stdout.
 *   fetch-loop HOST PORT COUNT [PATH]   COUNT fetches, each on a new connection, printing only each
 *                                       response's body (for counting the replicas behind a Service).
 *
 * Exit status: 0 on success; 1 when any step fails (resolve, connect, write, read, bind, listen,
 * accept), after a message on stderr naming the step and the wasi:sockets error code, e.g.
 * "netcat: connect to 10.43.0.12:80 failed: connection-refused (error-code 14)". fetch-loop goes
 * on after a failed fetch and exits 1 at the end if any failed. Every wait (resolve, connect,
 * read, write) gives up after $NETCAT_TIMEOUT_SECONDS (default 10) with the error "timeout".
 * Usage errors exit 1 too: wasi:cli/exit@0.2 carries only success or failure.
 *
 * wasi-libc here is preview 1 only, so the sockets come from wit-bindgen C bindings for the
 * `netcat` world in wit/samples.wit. It is built as a reactor that exports wasi:cli/run itself
 * (why: see that world) and is wrapped with the preview 1 reactor adapter, which gives wasi-libc
 * its stdio, environment and exit; the arguments come from wasi:cli/environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcat.h"

#define MAX_ADDRESSES 16
#define WRITE_CHUNK 4096 /* blocking-write-and-flush takes at most 4096 bytes per call */
#define READ_CHUNK 65536
/* The error-code values of wasi:sockets/network are 0..20; TIMEOUT doubles as ours. */
#define E_TIMEOUT WASI_SOCKETS_NETWORK_ERROR_CODE_TIMEOUT

typedef wasi_sockets_network_error_code_t error_code;
typedef wasi_sockets_network_ip_address_t ip_address;

static const char *const error_names[] = {
    "unknown", "access-denied", "not-supported", "invalid-argument", "out-of-memory", "timeout",
    "concurrency-conflict", "not-in-progress", "would-block", "invalid-state", "new-socket-limit",
    "address-not-bindable", "address-in-use", "remote-unreachable", "connection-refused",
    "connection-reset", "connection-aborted", "datagram-too-large", "name-unresolvable",
    "temporary-resolver-failure", "permanent-resolver-failure",
};

static wasi_sockets_network_own_network_t network;
static wasi_clocks_monotonic_clock_duration_t timeout_ns;

static const char *error_name(error_code code) {
    return code < sizeof error_names / sizeof *error_names ? error_names[code] : "?";
}

/* Prints "netcat: <step> failed: <name> (error-code N)" to stderr; returns 1 for exit codes. */
static int report(const char *step, error_code code) {
    fprintf(stderr, "netcat: %s failed: %s (error-code %u)\n", step, error_name(code), code);
    return 1;
}

static wasi_sockets_network_borrow_network_t net(void) {
    return wasi_sockets_network_borrow_network(network);
}

static void format_address(const ip_address *a, char *out, size_t cap) {
    if (a->tag == WASI_SOCKETS_NETWORK_IP_ADDRESS_IPV4) {
        const wasi_sockets_network_ipv4_address_t *v = &a->val.ipv4;
        snprintf(out, cap, "%u.%u.%u.%u", v->f0, v->f1, v->f2, v->f3);
    } else {
        const wasi_sockets_network_ipv6_address_t *v = &a->val.ipv6;
        snprintf(out, cap, "%x:%x:%x:%x:%x:%x:%x:%x", v->f0, v->f1, v->f2, v->f3, v->f4, v->f5, v->f6,
                 v->f7);
    }
}

/* Waits for the pollable (which it drops) or the timeout, whichever comes first; returns false
 * on timeout. */
static bool wait_for(wasi_io_poll_own_pollable_t pollable) {
    wasi_io_poll_own_pollable_t timer = wasi_clocks_monotonic_clock_subscribe_duration(timeout_ns);
    wasi_io_poll_borrow_pollable_t list[2] = {wasi_io_poll_borrow_pollable(pollable),
                                              wasi_io_poll_borrow_pollable(timer)};
    wasi_io_poll_list_borrow_pollable_t in = {.ptr = list, .len = 2};
    netcat_list_u32_t ready;
    wasi_io_poll_poll(&in, &ready);
    bool ok = false;
    for (size_t i = 0; i < ready.len; i++) ok |= ready.ptr[i] == 0;
    netcat_list_u32_free(&ready);
    wasi_io_poll_pollable_drop_own(timer);
    wasi_io_poll_pollable_drop_own(pollable);
    return ok;
}

static bool parse_ipv4(const char *s, ip_address *out) {
    unsigned a, b, c, d;
    char end;
    if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &end) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
        return false;
    out->tag = WASI_SOCKETS_NETWORK_IP_ADDRESS_IPV4;
    out->val.ipv4 = (wasi_sockets_network_ipv4_address_t){(uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d};
    return true;
}

/* Resolves NAME into out[]; an IPv4 literal is taken as is. Returns the number of addresses,
 * or -1 with *err set. */
static int resolve(const char *name, ip_address *out, int cap, error_code *err) {
    if (parse_ipv4(name, out)) return 1;
    netcat_string_t host;
    netcat_string_set(&host, name);
    wasi_sockets_ip_name_lookup_own_resolve_address_stream_t stream;
    if (!wasi_sockets_ip_name_lookup_resolve_addresses(net(), &host, &stream, err)) return -1;
    wasi_sockets_ip_name_lookup_borrow_resolve_address_stream_t s =
        wasi_sockets_ip_name_lookup_borrow_resolve_address_stream(stream);
    int n = 0;
    for (;;) {
        wasi_sockets_ip_name_lookup_option_ip_address_t next;
        if (wasi_sockets_ip_name_lookup_method_resolve_address_stream_resolve_next_address(s, &next, err)) {
            if (!next.is_some) break;
            if (n < cap) out[n++] = next.val;
        } else if (*err != WASI_SOCKETS_NETWORK_ERROR_CODE_WOULD_BLOCK) {
            n = -1;
            break;
        } else if (!wait_for(wasi_sockets_ip_name_lookup_method_resolve_address_stream_subscribe(s))) {
            *err = E_TIMEOUT, n = -1;
            break;
        }
    }
    wasi_sockets_ip_name_lookup_resolve_address_stream_drop_own(stream);
    if (n == 0) *err = WASI_SOCKETS_NETWORK_ERROR_CODE_NAME_UNRESOLVABLE, n = -1;
    return n;
}

/* A connected TCP socket with its streams; the streams are its children and are dropped first. */
struct conn {
    wasi_sockets_tcp_own_tcp_socket_t socket;
    wasi_io_streams_own_input_stream_t in;
    wasi_io_streams_own_output_stream_t out;
};

static void conn_close(struct conn *c) {
    wasi_io_streams_input_stream_drop_own(c->in);
    wasi_io_streams_output_stream_drop_own(c->out);
    wasi_sockets_tcp_tcp_socket_drop_own(c->socket);
}

static wasi_sockets_network_ip_socket_address_t socket_address(const ip_address *a, uint16_t port) {
    wasi_sockets_network_ip_socket_address_t sa;
    memset(&sa, 0, sizeof sa);
    if (a->tag == WASI_SOCKETS_NETWORK_IP_ADDRESS_IPV4) {
        sa.tag = WASI_SOCKETS_NETWORK_IP_SOCKET_ADDRESS_IPV4;
        sa.val.ipv4.port = port;
        sa.val.ipv4.address = a->val.ipv4;
    } else {
        sa.tag = WASI_SOCKETS_NETWORK_IP_SOCKET_ADDRESS_IPV6;
        sa.val.ipv6.port = port;
        sa.val.ipv6.address = a->val.ipv6;
    }
    return sa;
}

static bool tcp_connect(const ip_address *addr, uint16_t port, struct conn *c, error_code *err) {
    if (!wasi_sockets_tcp_create_socket_create_tcp_socket(
            addr->tag == WASI_SOCKETS_NETWORK_IP_ADDRESS_IPV4 ? WASI_SOCKETS_NETWORK_IP_ADDRESS_FAMILY_IPV4
                                                              : WASI_SOCKETS_NETWORK_IP_ADDRESS_FAMILY_IPV6,
            &c->socket, err))
        return false;
    wasi_sockets_tcp_borrow_tcp_socket_t s = wasi_sockets_tcp_borrow_tcp_socket(c->socket);
    wasi_sockets_network_ip_socket_address_t remote = socket_address(addr, port);
    if (wasi_sockets_tcp_method_tcp_socket_start_connect(s, net(), &remote, err)) {
        for (;;) {
            wasi_sockets_tcp_tuple2_own_input_stream_own_output_stream_t streams;
            if (wasi_sockets_tcp_method_tcp_socket_finish_connect(s, &streams, err)) {
                c->in = streams.f0, c->out = streams.f1;
                return true;
            }
            if (*err != WASI_SOCKETS_NETWORK_ERROR_CODE_WOULD_BLOCK) break;
            if (!wait_for(wasi_sockets_tcp_method_tcp_socket_subscribe(s))) {
                *err = E_TIMEOUT;
                break;
            }
        }
    }
    wasi_sockets_tcp_tcp_socket_drop_own(c->socket);
    return false;
}

static bool write_all(struct conn *c, const char *data, size_t len) {
    wasi_io_streams_borrow_output_stream_t out = wasi_io_streams_borrow_output_stream(c->out);
    while (len > 0) {
        size_t n = len < WRITE_CHUNK ? len : WRITE_CHUNK;
        netcat_list_u8_t chunk = {.ptr = (uint8_t *)data, .len = n};
        wasi_io_streams_stream_error_t err;
        if (!wasi_io_streams_method_output_stream_blocking_write_and_flush(out, &chunk, &err)) {
            if (err.tag == WASI_IO_STREAMS_STREAM_ERROR_LAST_OPERATION_FAILED)
                wasi_io_error_error_drop_own(err.val.last_operation_failed);
            return false;
        }
        data += n, len -= n;
    }
    return true;
}

/* Reads the next bytes into *chunk (caller frees). Returns 1 on data, 0 at the end of the
 * stream, -1 on an error (message on stderr) or timeout. */
static int read_some(struct conn *c, netcat_list_u8_t *chunk) {
    wasi_io_streams_borrow_input_stream_t in = wasi_io_streams_borrow_input_stream(c->in);
    for (;;) {
        wasi_io_streams_stream_error_t err;
        if (!wasi_io_streams_method_input_stream_read(in, READ_CHUNK, chunk, &err)) {
            if (err.tag == WASI_IO_STREAMS_STREAM_ERROR_CLOSED) return 0;
            netcat_string_t text;
            wasi_io_error_method_error_to_debug_string(wasi_io_error_borrow_error(err.val.last_operation_failed), &text);
            fprintf(stderr, "netcat: read failed: %.*s\n", (int)text.len, (const char *)text.ptr);
            netcat_string_free(&text);
            wasi_io_error_error_drop_own(err.val.last_operation_failed);
            return -1;
        }
        if (chunk->len > 0) return 1;
        netcat_list_u8_free(chunk);
        if (!wait_for(wasi_io_streams_method_input_stream_subscribe(in))) {
            fprintf(stderr, "netcat: read failed: timeout (error-code %u)\n", E_TIMEOUT);
            return -1;
        }
    }
}

/* A growing buffer for a whole response. */
struct buf {
    char *data;
    size_t len, cap;
};

static void buf_append(struct buf *b, const uint8_t *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data) {
            fprintf(stderr, "netcat: out of memory\n");
            exit(1);
        }
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* One GET: writes the response to stdout (sink == NULL) or appends it to sink. Returns 0 or 1. */
static int fetch(const char *host, uint16_t port, const char *path, struct buf *sink) {
    ip_address addrs[MAX_ADDRESSES];
    error_code err;
    char step[400], where[64];
    int n = resolve(host, addrs, MAX_ADDRESSES, &err);
    if (n < 0) {
        snprintf(step, sizeof step, "resolve %s", host);
        return report(step, err);
    }
    struct conn c;
    int i;
    for (i = 0; i < n && !tcp_connect(&addrs[i], port, &c, &err); i++) {}
    if (i == n) {
        format_address(&addrs[n - 1], where, sizeof where);
        snprintf(step, sizeof step, "connect to %s:%u", where, port);
        return report(step, err);
    }
    char request[2048];
    int len = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    if (len < 0 || (size_t)len >= sizeof request) {
        conn_close(&c);
        fprintf(stderr, "netcat: the request for %s is too long\n", path);
        return 1;
    }
    int rc = 0;
    if (!write_all(&c, request, (size_t)len)) {
        fprintf(stderr, "netcat: write failed: the connection was closed\n");
        rc = 1;
    }
    for (netcat_list_u8_t chunk; rc == 0;) {
        int got = read_some(&c, &chunk);
        if (got <= 0) {
            rc = got < 0;
            break;
        }
        if (sink) buf_append(sink, chunk.ptr, chunk.len);
        else fwrite(chunk.ptr, 1, chunk.len, stdout);
        netcat_list_u8_free(&chunk);
    }
    conn_close(&c);
    fflush(stdout);
    return rc;
}

static int fetch_loop(const char *host, uint16_t port, long count, const char *path) {
    int failed = 0;
    for (long i = 0; i < count; i++) {
        struct buf response = {0};
        if (fetch(host, port, path, &response) == 0) {
            const char *body = response.data ? strstr(response.data, "\r\n\r\n") : NULL;
            if (body) fputs(body + 4, stdout);
            else fprintf(stderr, "netcat: fetch %ld: no HTTP response head\n", i + 1), failed = 1;
            fflush(stdout);
        } else {
            failed = 1;
        }
        free(response.data);
    }
    return failed;
}

/* Reads a request head (until a blank line, EOF, an error or 8 KiB) into req. */
static void read_request(struct conn *c, struct buf *req) {
    while (req->len < 8192 && !(req->data && (strstr(req->data, "\r\n\r\n") || strstr(req->data, "\n\n")))) {
        netcat_list_u8_t chunk;
        if (read_some(c, &chunk) <= 0) return;
        buf_append(req, chunk.ptr, chunk.len);
        netcat_list_u8_free(&chunk);
    }
}

static int serve(uint16_t port) {
    error_code err;
    wasi_sockets_tcp_own_tcp_socket_t listener;
    if (!wasi_sockets_tcp_create_socket_create_tcp_socket(WASI_SOCKETS_NETWORK_IP_ADDRESS_FAMILY_IPV4, &listener, &err))
        return report("create socket", err);
    wasi_sockets_tcp_borrow_tcp_socket_t s = wasi_sockets_tcp_borrow_tcp_socket(listener);
    ip_address any = {.tag = WASI_SOCKETS_NETWORK_IP_ADDRESS_IPV4};
    wasi_sockets_network_ip_socket_address_t local = socket_address(&any, port);
    if (!wasi_sockets_tcp_method_tcp_socket_start_bind(s, net(), &local, &err)) return report("bind", err);
    while (!wasi_sockets_tcp_method_tcp_socket_finish_bind(s, &err)) {
        if (err != WASI_SOCKETS_NETWORK_ERROR_CODE_WOULD_BLOCK) return report("bind", err);
        wasi_io_poll_own_pollable_t p = wasi_sockets_tcp_method_tcp_socket_subscribe(s);
        wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(p));
        wasi_io_poll_pollable_drop_own(p);
    }
    if (!wasi_sockets_tcp_method_tcp_socket_start_listen(s, &err)) return report("listen", err);
    while (!wasi_sockets_tcp_method_tcp_socket_finish_listen(s, &err)) {
        if (err != WASI_SOCKETS_NETWORK_ERROR_CODE_WOULD_BLOCK) return report("listen", err);
        wasi_io_poll_own_pollable_t p = wasi_sockets_tcp_method_tcp_socket_subscribe(s);
        wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(p));
        wasi_io_poll_pollable_drop_own(p);
    }
    const char *name = getenv("HOSTNAME");
    if (!name || !*name) name = getenv("POD_NAME");
    if (!name || !*name) name = "wasm";
    printf("netcat: serving on 0.0.0.0:%u as %s\n", port, name);
    fflush(stdout);

    /* One pollable for the listener, kept for the whole loop: accept waits on it. */
    wasi_io_poll_own_pollable_t ready = wasi_sockets_tcp_method_tcp_socket_subscribe(s);
    for (;;) {
        wasi_sockets_tcp_tuple3_own_tcp_socket_own_input_stream_own_output_stream_t accepted;
        if (!wasi_sockets_tcp_method_tcp_socket_accept(s, &accepted, &err)) {
            if (err == WASI_SOCKETS_NETWORK_ERROR_CODE_WOULD_BLOCK) {
                wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
            } else {
                /* A connection that died before accept, or a socket limit: go on serving. */
                report("accept", err);
            }
            continue;
        }
        struct conn c = {accepted.f0, accepted.f1, accepted.f2};
        struct buf req = {0};
        read_request(&c, &req);
        if (req.len > 0) {
            char method[16] = "-", target[1024] = "-", response[1024];
            sscanf(req.data, "%15s %1023s", method, target);
            int len = snprintf(response, sizeof response,
                               "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                               "Connection: close\r\n\r\n%s\n",
                               strlen(name) + 1, name);
            write_all(&c, response, (size_t)len);
            (void)wasi_sockets_tcp_method_tcp_socket_shutdown(wasi_sockets_tcp_borrow_tcp_socket(c.socket),
                                                              WASI_SOCKETS_TCP_SHUTDOWN_TYPE_SEND, &err);
            printf("%s %s 200\n", method, target);
            fflush(stdout);
        }
        free(req.data);
        conn_close(&c);
    }
}

static uint16_t parse_port(const char *s) {
    char *end;
    long port = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || port < 1 || port > 65535) {
        fprintf(stderr, "netcat: bad port %s\n", s);
        exit(1);
    }
    return (uint16_t)port;
}

static int usage(void) {
    fprintf(stderr,
            "usage: netcat-p2.wasm fetch HOST PORT [PATH]\n"
            "       netcat-p2.wasm resolve NAME\n"
            "       netcat-p2.wasm serve PORT\n"
            "       netcat-p2.wasm fetch-loop HOST PORT COUNT [PATH]\n");
    return 1;
}

static int netcat(int argc, char **argv) {
    if (argc < 2) return usage();
    const char *timeout = getenv("NETCAT_TIMEOUT_SECONDS");
    long seconds = timeout ? atol(timeout) : 0;
    timeout_ns = (wasi_clocks_monotonic_clock_duration_t)(seconds > 0 ? seconds : 10) * 1000000000ull;
    network = wasi_sockets_instance_network_instance_network();

    const char *mode = argv[1];
    if (!strcmp(mode, "fetch") && (argc == 4 || argc == 5))
        return fetch(argv[2], parse_port(argv[3]), argc == 5 ? argv[4] : "/", NULL);
    if (!strcmp(mode, "fetch-loop") && (argc == 5 || argc == 6))
        return fetch_loop(argv[2], parse_port(argv[3]), atol(argv[4]), argc == 6 ? argv[5] : "/");
    if (!strcmp(mode, "serve") && argc == 3) return serve(parse_port(argv[2]));
    if (!strcmp(mode, "resolve") && argc == 3) {
        ip_address addrs[MAX_ADDRESSES];
        error_code err;
        int n = resolve(argv[2], addrs, MAX_ADDRESSES, &err);
        if (n < 0) {
            char step[300];
            snprintf(step, sizeof step, "resolve %s", argv[2]);
            return report(step, err);
        }
        for (int i = 0; i < n; i++) {
            char text[64];
            format_address(&addrs[i], text, sizeof text);
            printf("%s\n", text);
        }
        return 0;
    }
    return usage();
}

/* wasi:cli/run: the component's entry point (no C main in a reactor). Builds argv from
 * wasi:cli/environment's arguments and reports failure as run's error result, which the host
 * turns into exit status 1. */
bool exports_wasi_cli_run_run(void) {
    netcat_list_string_t args;
    wasi_cli_environment_get_arguments(&args);
    char **argv = calloc(args.len + 1, sizeof *argv);
    if (!argv) return false;
    for (size_t i = 0; i < args.len; i++) {
        argv[i] = strndup((const char *)args.ptr[i].ptr, args.ptr[i].len);
        if (!argv[i]) return false;
    }
    int rc = netcat((int)args.len, argv);
    /* A reactor runs no C destructors at the end: flush what stdio still holds. */
    fflush(stdout);
    fflush(stderr);
    return rc == 0;
}
