/* http-hello.wasm: a wasi:http proxy component (world wasi:http/proxy@0.2.12) that answers every
 * request with 200, content-type text/plain and the body
 *     hello from wasi:http <path-with-query>\n
 * The path echo lets a test tell which request an instance served, and it needs nothing but the
 * proxy world, so `wasmtime serve` and wasmkube's per-request serving of a containerPort both run
 * it (a fresh instance per request: the component keeps no state).
 *
 * build.sh generates the C bindings for the `http-hello` world of wit/samples.wit with
 * wit-bindgen, compiles this file as a preview 1 reactor and turns it into a component with the
 * preview 1 *proxy* adapter, whose imports stay inside the proxy world. */
#include <string.h>

#include "http_hello.h"

/* blocking-write-and-flush takes at most 4096 bytes per call. */
#define WRITE_CHUNK 4096

static void write_all(wasi_http_types_own_output_stream_t stream, const char *data, size_t len) {
    wasi_io_streams_borrow_output_stream_t out = wasi_io_streams_borrow_output_stream(stream);
    while (len > 0) {
        size_t n = len < WRITE_CHUNK ? len : WRITE_CHUNK;
        http_hello_list_u8_t chunk = {.ptr = (uint8_t *)data, .len = n};
        wasi_io_streams_stream_error_t err;
        if (!wasi_io_streams_method_output_stream_blocking_write_and_flush(out, &chunk, &err)) {
            /* The client went away; there is nobody left to tell. */
            if (err.tag == WASI_IO_STREAMS_STREAM_ERROR_LAST_OPERATION_FAILED)
                wasi_io_error_error_drop_own(err.val.last_operation_failed);
            return;
        }
        data += n, len -= n;
    }
}

void exports_wasi_http_incoming_handler_handle(
    exports_wasi_http_incoming_handler_own_incoming_request_t request,
    exports_wasi_http_incoming_handler_own_response_outparam_t response_out) {
    http_hello_string_t path;
    bool has_path = wasi_http_types_method_incoming_request_path_with_query(
        wasi_http_types_borrow_incoming_request(request), &path);

    wasi_http_types_own_fields_t headers = wasi_http_types_constructor_fields();
    wasi_http_types_field_name_t name;
    http_hello_string_set(&name, "content-type");
    wasi_http_types_field_value_t value = {.ptr = (uint8_t *)"text/plain", .len = strlen("text/plain")};
    wasi_http_types_header_error_t header_err;
    (void)wasi_http_types_method_fields_append(wasi_http_types_borrow_fields(headers), &name, &value,
                                               &header_err);

    /* The response takes the headers; its status code defaults to 200. */
    wasi_http_types_own_outgoing_response_t response = wasi_http_types_constructor_outgoing_response(headers);
    wasi_http_types_own_outgoing_body_t body;
    wasi_http_types_own_output_stream_t stream;
    bool have_body =
        wasi_http_types_method_outgoing_response_body(wasi_http_types_borrow_outgoing_response(response), &body) &&
        wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(body), &stream);

    /* Send the head first, then stream the body: the host starts the response at `set`. */
    wasi_http_types_result_own_outgoing_response_error_code_t result = {.is_err = false, .val.ok = response};
    wasi_http_types_static_response_outparam_set(response_out, &result);

    if (have_body) {
        static const char prefix[] = "hello from wasi:http ";
        write_all(stream, prefix, sizeof prefix - 1);
        if (has_path) write_all(stream, (const char *)path.ptr, path.len);
        else write_all(stream, "/", 1);
        write_all(stream, "\n", 1);
        /* The stream is a child of the body: drop it before finishing the body. */
        wasi_io_streams_output_stream_drop_own(stream);
        wasi_http_types_error_code_t finish_err;
        (void)wasi_http_types_static_outgoing_body_finish(body, NULL, &finish_err);
    }
    if (has_path) http_hello_string_free(&path);
    wasi_http_types_incoming_request_drop_own(request);
}
