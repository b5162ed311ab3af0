/* The Roam endpoint SDK for C: the module side of the endpoint ABI v1 (protocol/abi.md). An endpoint is one
 * function from a request to a response, registered with ROAM_ENDPOINT(handler); it reaches named data
 * stores, other endpoints, the log, the clock and randomness through this header, and nothing else.
 *
 * Memory: everything the SDK hands out during a request (the request itself, decoded text, parsed JSON, store
 * values, responses, roam_tmp_alloc blocks) lives in a per-request arena that is released when the next
 * request starts, so an endpoint never frees. Strings are UTF-8 slices (roam_str), never NUL-terminated.
 * Build with clang for wasm32 against wasi-libc: see docs/sdk-c.md. */
#ifndef ROAM_H
#define ROAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A UTF-8 byte string: pointer and length, no terminator. */
typedef struct {
  const char *ptr;
  size_t len;
} roam_str;

/* A roam_str of a string literal. */
#define ROAM_STR(lit) ((roam_str){(lit), sizeof(lit) - 1})

roam_str roam_cstr(const char *s);
bool roam_str_eq(roam_str a, roam_str b);
bool roam_str_starts_with(roam_str s, roam_str prefix);

/* Results of the host functions (protocol/abi.md). */
enum {
  ROAM_OK = 0,
  ROAM_ABSENT = -1,           /* the key is not in the store */
  ROAM_STORE_ERROR = -2,      /* the store is unreachable, misconfigured, or a size limit was hit */
  ROAM_UNKNOWN_ENDPOINT = -3, /* roam_call: the mesh knows no endpoint of that name */
  ROAM_CALL_FAILED = -4,      /* roam_call: timeout, no healthy target, or a malformed answer */
};

typedef struct {
  roam_str name; /* lower-case */
  roam_str value;
} roam_header;

typedef struct {
  roam_str method;       /* "GET", "POST", ... as the client sent it */
  roam_str path;         /* without the query, starting with "/", still percent-encoded */
  roam_str query;        /* the raw query string, without "?" */
  roam_header *headers;  /* in arrival order */
  size_t header_count;
  roam_str body;
} roam_request;

typedef struct {
  int status; /* 100..599; anything else becomes a 502 at the host */
  roam_header *headers;
  size_t header_count;
  size_t header_cap;
  roam_str body;
} roam_response;

/* Registers `handler` (roam_response *handler(const roam_request *)) as the module's endpoint. Use it once,
 * at file scope. A handler that returns NULL is answered 500. */
#define ROAM_ENDPOINT(handler)                                                                              \
  roam_response *roam_endpoint_handler(const roam_request *req) { return handler(req); }

/* --- requests and responses ---------------------------------------------------------------------------- */

/* A query parameter, URL-decoded, into *value: true if present ("" for a bare name). */
bool roam_request_query(const roam_request *req, roam_str name, roam_str *value);
/* The first header called `name` (case-insensitive) into *value: true if present. */
bool roam_request_header(const roam_request *req, roam_str name, roam_str *value);
/* The body as UTF-8 text; sequences that are not UTF-8 become U+FFFD. */
roam_str roam_request_text(const roam_request *req);
/* The path's non-empty segments, URL-decoded, into out[0..max): "/cart/42" -> "cart", "42". Returns how many
 * the path has, which may be more than max. */
size_t roam_request_segments(const roam_request *req, roam_str *out, size_t max);

/* A request for roam_call, with no query, headers or body (set the fields you need). */
roam_request *roam_request_new(roam_str method, roam_str path);

roam_response *roam_response_new(int status);
/* A UTF-8 text body, content-type text/plain. */
roam_response *roam_response_text(int status, roam_str text);
/* An already serialized JSON document (see roam_json_writer), content-type application/json. */
roam_response *roam_response_json(int status, roam_str json);
/* A binary body with the given content-type. */
roam_response *roam_response_bytes(int status, roam_str body, roam_str content_type);
/* Sets a header, replacing any of the same name (names are lower-cased); returns res. */
roam_response *roam_response_set_header(roam_response *res, roam_str name, roam_str value);
/* Appends a header even if one of the same name exists (e.g. set-cookie); returns res. */
roam_response *roam_response_add_header(roam_response *res, roam_str name, roam_str value);

/* --- host functions -------------------------------------------------------------------------------------- */

/* ROAM_OK with the value in *value, ROAM_ABSENT, or ROAM_STORE_ERROR. */
int roam_store_get(roam_str store, roam_str key, roam_str *value);
/* ROAM_OK or ROAM_STORE_ERROR. */
int roam_store_put(roam_str store, roam_str key, roam_str value);
/* 1 if a key was deleted, 0 if it was absent, or ROAM_STORE_ERROR. */
int roam_store_delete(roam_str store, roam_str key);
/* Keys starting with `prefix` in byte order, at most `limit`, into *keys / *count: ROAM_OK or ROAM_STORE_ERROR. */
int roam_store_list(roam_str store, roam_str prefix, uint32_t limit, roam_str **keys, size_t *count);

/* Calls endpoint `name` through the mesh, wherever it runs now: ROAM_OK with its response (whatever its status)
 * in *res, ROAM_UNKNOWN_ENDPOINT or ROAM_CALL_FAILED. */
int roam_call(roam_str name, const roam_request *req, roam_response **res);

enum { ROAM_LOG_DEBUG = 0, ROAM_LOG_INFO = 1, ROAM_LOG_WARN = 2, ROAM_LOG_ERROR = 3 };
/* A log line at the host, tagged with the endpoint; rate-limited there. */
void roam_log(int level, roam_str message);
/* Monotonic time in nanoseconds from an arbitrary origin (exact up to 2^53 ns). */
double roam_now_ns(void);
/* Fills [dst, dst+len) with cryptographically secure random bytes. */
void roam_random_fill(void *dst, size_t len);

/* --- text ------------------------------------------------------------------------------------------------ */

/* Memory from the request's arena (8-byte aligned), released when the next request starts. */
void *roam_tmp_alloc(size_t size);
/* %XX escapes and "+" (space) decoded, as in queries and form bodies; a malformed escape is kept as it is and
 * bytes that do not form UTF-8 become U+FFFD. */
roam_str roam_url_decode(roam_str s);
/* The URL-decoded value of `name` in a form-encoded string (the first wins) into *value: true if present. */
bool roam_form_value(roam_str encoded, roam_str name, roam_str *value);
/* A decimal integer (optional "-", 1 to 18 digits, nothing else) into *value: true if `s` is one. */
bool roam_parse_decimal(roam_str s, int64_t *value);
/* `s` if it is UTF-8, else a copy with each invalid sequence replaced by U+FFFD. */
roam_str roam_utf8_lossy(roam_str s);

/* A growing byte buffer in the request's arena: start with roam_buf b = {0}. */
typedef struct {
  char *ptr;
  size_t len;
  size_t cap;
} roam_buf;
void roam_buf_append(roam_buf *b, roam_str s);
void roam_buf_append_char(roam_buf *b, char c);
void roam_buf_append_int(roam_buf *b, int64_t v);
roam_str roam_buf_str(const roam_buf *b);

/* --- JSON (RFC 8259) ------------------------------------------------------------------------------------- */

typedef enum {
  ROAM_JSON_NULL,
  ROAM_JSON_BOOL,
  ROAM_JSON_NUMBER,
  ROAM_JSON_STRING,
  ROAM_JSON_ARRAY,
  ROAM_JSON_OBJECT,
} roam_json_kind;

typedef struct roam_json {
  roam_json_kind kind;
  bool boolean;
  double number;
  roam_str string;
  size_t length;           /* elements of an array, members of an object */
  struct roam_json *items; /* the elements, or the members' values in document order */
  roam_str *keys;          /* an object's member names, parallel to items */
} roam_json;

/* Parses a whole document (nesting up to 64); NULL on any bad input. A \u escape of a lone surrogate becomes
 * U+FFFD. */
roam_json *roam_json_parse(roam_str text);
/* The member called `key` of an object (the last one if repeated), or NULL. */
const roam_json *roam_json_get(const roam_json *obj, roam_str key);
/* Member `key` if it is a string, into *value: true if so. */
bool roam_json_get_string(const roam_json *obj, roam_str key, roam_str *value);
/* `v` if it is a number with no fraction within +-2^53, into *value: true if so. */
bool roam_json_int(const roam_json *v, int64_t *value);
/* Member `key` if it is such an integer, into *value: true if so. */
bool roam_json_get_int(const roam_json *obj, roam_str key, int64_t *value);

/* Writes a document piece by piece, escaping correctly: roam_json_writer w = {0}; then
 * roam_jw_begin_object(&w); roam_jw_key(&w, ROAM_STR("a")); roam_jw_int(&w, 1); roam_jw_end_object(&w);
 * and roam_jw_result(&w). Nesting up to 64 levels. */
typedef struct {
  roam_buf out;
  uint64_t need_comma; /* bit d: the container at depth d has a value, so the next one needs a comma */
  int depth;
} roam_json_writer;

void roam_jw_begin_object(roam_json_writer *w);
void roam_jw_end_object(roam_json_writer *w);
void roam_jw_begin_array(roam_json_writer *w);
void roam_jw_end_array(roam_json_writer *w);
/* An object member's key; the value written next belongs to it. */
void roam_jw_key(roam_json_writer *w, roam_str key);
void roam_jw_string(roam_json_writer *w, roam_str value);
void roam_jw_int(roam_json_writer *w, int64_t value);
/* An already serialized JSON value, written as it is: how to write a number that is not an integer, formatted
 * the way the endpoint wants (the SDK stays clear of printf, which would pull in WASI's stdio imports). */
void roam_jw_raw(roam_json_writer *w, roam_str json);
void roam_jw_bool(roam_json_writer *w, bool value);
void roam_jw_null(roam_json_writer *w);
roam_str roam_jw_result(const roam_json_writer *w);

#endif
