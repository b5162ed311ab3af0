/* The Roam endpoint SDK for C (see roam.h): the ABI v1 exports, the wire format, the per-request arena, the
 * host function wrappers, text helpers and JSON. Parsing and writing follow the AssemblyScript SDK's rules, so
 * an endpoint ported from it gives the same answers. */
#include "roam.h"

#include <stdlib.h>
#include <string.h>

/* --- host functions (imports from module "roam") --------------------------------------------------------- */

#define ROAM_IMPORT(name) __attribute__((import_module("roam"), import_name(name)))
ROAM_IMPORT("kv_get") int32_t roam_host_kv_get(const char *, int32_t, const char *, int32_t);
ROAM_IMPORT("kv_put") int32_t roam_host_kv_put(const char *, int32_t, const char *, int32_t, const char *, int32_t);
ROAM_IMPORT("kv_delete") int32_t roam_host_kv_delete(const char *, int32_t, const char *, int32_t);
ROAM_IMPORT("kv_list") int32_t roam_host_kv_list(const char *, int32_t, const char *, int32_t, int32_t);
ROAM_IMPORT("call") int32_t roam_host_call(const char *, int32_t, const char *, int32_t);
ROAM_IMPORT("result_read") int32_t roam_host_result_read(char *, int32_t);
ROAM_IMPORT("log") void roam_host_log(int32_t, const char *, int32_t);
ROAM_IMPORT("now_ns") double roam_host_now_ns(void);
ROAM_IMPORT("random_fill") void roam_host_random_fill(void *, int32_t);

roam_response *roam_endpoint_handler(const roam_request *req);

/* --- the per-request arena ------------------------------------------------------------------------------- */

/* Chunks from malloc; the first is kept across requests, the others are freed when the next request starts,
 * so an instance reused for many requests stays at the size of its largest one. */
typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  _Alignas(8) char data[];
} chunk;

#define CHUNK_SIZE (64 * 1024)
static chunk *arena;

void *roam_tmp_alloc(size_t size) {
  size = (size + 7) & ~(size_t)7;
  if (!arena || arena->cap - arena->used < size) {
    size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
    chunk *c = malloc(sizeof(chunk) + cap);
    if (!c) __builtin_trap(); /* out of memory: the host discards the instance */
    c->next = arena;
    c->used = 0;
    c->cap = cap;
    arena = c;
  }
  void *p = arena->data + arena->used;
  arena->used += size;
  return p;
}

static void arena_reset(void) {
  while (arena && arena->next) {
    chunk *next = arena->next;
    free(arena);
    arena = next;
  }
  if (arena) arena->used = 0;
}

static char *tmp_copy(const void *src, size_t len) {
  char *p = roam_tmp_alloc(len);
  if (len) memcpy(p, src, len);
  return p;
}

/* --- the exports ABI v1 requires ------------------------------------------------------------------------- */

/* The request buffer is reused and only grows; malloc answers NULL when memory is exhausted, so roam_alloc can
 * return 0 as the ABI asks. The encoded response is kept until the next call, as the ABI requires. */
static char *request_buf;
static size_t request_cap;
static char *response_buf;
static size_t response_cap;
static uint32_t descriptor[2];

__attribute__((export_name("roam_abi_version"))) int32_t roam_abi_version(void) { return 1; }

__attribute__((export_name("roam_alloc"))) char *roam_alloc(int32_t size) {
  if (size < 0) return 0;
  if ((size_t)size <= request_cap && request_buf) return request_buf;
  free(request_buf);
  request_cap = (size_t)size < 4096 ? 4096 : (size_t)size;
  request_buf = malloc(request_cap);
  if (!request_buf) request_cap = 0;
  return request_buf;
}

typedef struct {
  const char *at, *end;
  bool ok;
} reader;

static uint32_t read_u32(reader *r) {
  if (!r->ok || r->end - r->at < 4) {
    r->ok = false;
    return 0;
  }
  uint32_t v;
  memcpy(&v, r->at, 4);
  r->at += 4;
  return v;
}

/* A length-prefixed field, copied into the arena. */
static roam_str read_field(reader *r) {
  uint32_t len = read_u32(r);
  if (!r->ok || (size_t)(r->end - r->at) < len) {
    r->ok = false;
    return (roam_str){"", 0};
  }
  roam_str s = {tmp_copy(r->at, len), len};
  r->at += len;
  return s;
}

static roam_header *read_headers(reader *r, size_t *count) {
  uint32_t n = read_u32(r);
  /* Each header takes at least 8 bytes: a count larger than what is left is refused before allocating. */
  if (!r->ok || (uint64_t)n * 8 > (uint64_t)(r->end - r->at)) {
    r->ok = false;
    *count = 0;
    return 0;
  }
  roam_header *h = roam_tmp_alloc(sizeof(roam_header) * n);
  for (uint32_t i = 0; i < n; i++) {
    h[i].name = read_field(r);
    h[i].value = read_field(r);
  }
  *count = n;
  return h;
}

static size_t headers_size(const roam_header *h, size_t n) {
  size_t size = 4;
  for (size_t i = 0; i < n; i++) size += 8 + h[i].name.len + h[i].value.len;
  return size;
}

static char *put_u32(char *at, uint32_t v) {
  memcpy(at, &v, 4);
  return at + 4;
}

static char *put_field(char *at, roam_str s) {
  at = put_u32(at, (uint32_t)s.len);
  if (s.len) memcpy(at, s.ptr, s.len);
  return at + s.len;
}

static char *put_headers(char *at, const roam_header *h, size_t n) {
  at = put_u32(at, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    at = put_field(at, h[i].name);
    at = put_field(at, h[i].value);
  }
  return at;
}

__attribute__((export_name("roam_handle"))) uint32_t *roam_handle(const char *ptr, int32_t len) {
  arena_reset();
  roam_request req = {0};
  reader r = {ptr, ptr + (len < 0 ? 0 : len), len >= 0};
  req.method = read_field(&r);
  req.path = read_field(&r);
  req.query = read_field(&r);
  req.headers = read_headers(&r, &req.header_count);
  req.body = read_field(&r);
  roam_response *res;
  if (!r.ok || r.at != r.end)
    res = roam_response_text(400, ROAM_STR("malformed request encoding"));
  else if (!(res = roam_endpoint_handler(&req)))
    res = roam_response_text(500, ROAM_STR("the handler returned no response"));
  size_t size = 4 + headers_size(res->headers, res->header_count) + 4 + res->body.len;
  if (size > response_cap) {
    free(response_buf);
    response_buf = malloc(size);
    if (!response_buf) __builtin_trap();
    response_cap = size;
  }
  char *at = put_u32(response_buf, (uint32_t)res->status);
  at = put_headers(at, res->headers, res->header_count);
  put_field(at, res->body);
  descriptor[0] = (uint32_t)(uintptr_t)response_buf;
  descriptor[1] = (uint32_t)size;
  return descriptor;
}

/* --- strings --------------------------------------------------------------------------------------------- */

roam_str roam_cstr(const char *s) { return (roam_str){s, strlen(s)}; }

bool roam_str_eq(roam_str a, roam_str b) { return a.len == b.len && (a.len == 0 || !memcmp(a.ptr, b.ptr, a.len)); }

bool roam_str_starts_with(roam_str s, roam_str prefix) {
  return s.len >= prefix.len && (prefix.len == 0 || !memcmp(s.ptr, prefix.ptr, prefix.len));
}

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static bool eq_ignore_case(roam_str a, roam_str b) {
  if (a.len != b.len) return false;
  for (size_t i = 0; i < a.len; i++)
    if (ascii_lower(a.ptr[i]) != ascii_lower(b.ptr[i])) return false;
  return true;
}

static void buf_reserve(roam_buf *b, size_t more) {
  if (b->cap - b->len >= more) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < more) cap *= 2;
  char *p = roam_tmp_alloc(cap);
  if (b->len) memcpy(p, b->ptr, b->len);
  b->ptr = p;
  b->cap = cap;
}

void roam_buf_append(roam_buf *b, roam_str s) {
  buf_reserve(b, s.len);
  if (s.len) memcpy(b->ptr + b->len, s.ptr, s.len);
  b->len += s.len;
}

void roam_buf_append_char(roam_buf *b, char c) {
  buf_reserve(b, 1);
  b->ptr[b->len++] = c;
}

void roam_buf_append_int(roam_buf *b, int64_t v) {
  char digits[20];
  int n = 0;
  uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    digits[n++] = (char)('0' + m % 10);
    m /= 10;
  } while (m);
  if (v < 0) roam_buf_append_char(b, '-');
  buf_reserve(b, (size_t)n);
  while (n) b->ptr[b->len++] = digits[--n];
}

roam_str roam_buf_str(const roam_buf *b) { return (roam_str){b->ptr ? b->ptr : "", b->len}; }

/* Length of the valid UTF-8 sequence at s[0..n), or 0 with *bad set to the length of its maximal invalid
 * subpart (what Unicode replaces with one U+FFFD). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; k++) {
    if (k >= n || s[k] < lo || s[k] > hi) {
      *bad = k;
      return 0;
    }
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

roam_str roam_utf8_lossy(roam_str s) {
  const unsigned char *p = (const unsigned char *)s.ptr;
  size_t i = 0, bad = 0, n;
  while (i < s.len && (n = utf8_seq(p + i, s.len - i, &bad))) i += n;
  if (i == s.len) return s;
  roam_buf b = {0};
  roam_buf_append(&b, (roam_str){s.ptr, i});
  while (i < s.len) {
    n = utf8_seq(p + i, s.len - i, &bad);
    if (n) {
      roam_buf_append(&b, (roam_str){s.ptr + i, n});
      i += n;
    } else {
      roam_buf_append(&b, ROAM_STR("\xef\xbf\xbd"));
      i += bad;
    }
  }
  return roam_buf_str(&b);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

roam_str roam_url_decode(roam_str s) {
  if (!memchr(s.ptr, '%', s.len) && !memchr(s.ptr, '+', s.len)) return s;
  char *out = roam_tmp_alloc(s.len);
  size_t w = 0;
  for (size_t i = 0; i < s.len; i++) {
    char c = s.ptr[i];
    if (c == '+') c = ' ';
    else if (c == '%' && i + 2 < s.len) {
      int hi = hex_value(s.ptr[i + 1]), lo = hex_value(s.ptr[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = (char)(hi << 4 | lo);
        i += 2;
      }
    }
    out[w++] = c;
  }
  return roam_utf8_lossy((roam_str){out, w});
}

bool roam_form_value(roam_str encoded, roam_str name, roam_str *value) {
  size_t start = 0;
  while (start <= encoded.len) {
    const char *amp = memchr(encoded.ptr + start, '&', encoded.len - start);
    size_t end = amp ? (size_t)(amp - encoded.ptr) : encoded.len;
    if (end > start) {
      const char *eq = memchr(encoded.ptr + start, '=', end - start);
      size_t key_end = eq ? (size_t)(eq - encoded.ptr) : end;
      if (roam_str_eq(roam_url_decode((roam_str){encoded.ptr + start, key_end - start}), name)) {
        *value = key_end == end ? (roam_str){"", 0}
                                : roam_url_decode((roam_str){encoded.ptr + key_end + 1, end - key_end - 1});
        return true;
      }
    }
    start = end + 1;
  }
  return false;
}

bool roam_parse_decimal(roam_str s, int64_t *value) {
  size_t i = s.len > 0 && s.ptr[0] == '-' ? 1 : 0;
  if (i == s.len || s.len - i > 18) return false;
  int64_t v = 0;
  for (size_t k = i; k < s.len; k++) {
    if (s.ptr[k] < '0' || s.ptr[k] > '9') return false;
    v = v * 10 + (s.ptr[k] - '0');
  }
  *value = i ? -v : v;
  return true;
}

/* --- requests and responses ------------------------------------------------------------------------------ */

bool roam_request_query(const roam_request *req, roam_str name, roam_str *value) {
  return roam_form_value(req->query, name, value);
}

bool roam_request_header(const roam_request *req, roam_str name, roam_str *value) {
  for (size_t i = 0; i < req->header_count; i++) {
    if (eq_ignore_case(req->headers[i].name, name)) {
      *value = req->headers[i].value;
      return true;
    }
  }
  return false;
}

roam_str roam_request_text(const roam_request *req) { return roam_utf8_lossy(req->body); }

size_t roam_request_segments(const roam_request *req, roam_str *out, size_t max) {
  size_t count = 0, start = 0, n = req->path.len;
  while (start < n) {
    const char *slash = memchr(req->path.ptr + start, '/', n - start);
    size_t end = slash ? (size_t)(slash - req->path.ptr) : n;
    if (end > start) {
      if (count < max) out[count] = roam_url_decode((roam_str){req->path.ptr + start, end - start});
      count++;
    }
    start = end + 1;
  }
  return count;
}

roam_request *roam_request_new(roam_str method, roam_str path) {
  roam_request *req = roam_tmp_alloc(sizeof(roam_request));
  *req = (roam_request){.method = method, .path = path};
  return req;
}

roam_response *roam_response_new(int status) {
  roam_response *res = roam_tmp_alloc(sizeof(roam_response));
  *res = (roam_response){.status = status};
  return res;
}

roam_response *roam_response_bytes(int status, roam_str body, roam_str content_type) {
  roam_response *res = roam_response_new(status);
  res->body = body;
  return roam_response_set_header(res, ROAM_STR("content-type"), content_type);
}

roam_response *roam_response_text(int status, roam_str text) {
  return roam_response_bytes(status, text, ROAM_STR("text/plain; charset=utf-8"));
}

roam_response *roam_response_json(int status, roam_str json) {
  return roam_response_bytes(status, json, ROAM_STR("application/json"));
}

roam_response *roam_response_add_header(roam_response *res, roam_str name, roam_str value) {
  if (res->header_count == res->header_cap) {
    size_t cap = res->header_cap ? res->header_cap * 2 : 4;
    roam_header *h = roam_tmp_alloc(sizeof(roam_header) * cap);
    if (res->header_count) memcpy(h, res->headers, sizeof(roam_header) * res->header_count);
    res->headers = h;
    res->header_cap = cap;
  }
  char *lower = roam_tmp_alloc(name.len);
  for (size_t i = 0; i < name.len; i++) lower[i] = ascii_lower(name.ptr[i]);
  res->headers[res->header_count++] = (roam_header){{lower, name.len}, value};
  return res;
}

roam_response *roam_response_set_header(roam_response *res, roam_str name, roam_str value) {
  for (size_t i = 0; i < res->header_count; i++) {
    if (eq_ignore_case(res->headers[i].name, name)) {
      res->headers[i].value = value;
      return res;
    }
  }
  return roam_response_add_header(res, name, value);
}

/* --- host function wrappers ------------------------------------------------------------------------------ */

/* Copies the result the host staged (`len` bytes) into the arena. */
static roam_str take_result(int32_t len) {
  char *p = roam_tmp_alloc((size_t)len);
  int32_t got = len > 0 ? roam_host_result_read(p, len) : 0;
  return (roam_str){p, got > 0 ? (size_t)got : 0};
}

int roam_store_get(roam_str store, roam_str key, roam_str *value) {
  int32_t n = roam_host_kv_get(store.ptr, (int32_t)store.len, key.ptr, (int32_t)key.len);
  if (n < 0) return n == ROAM_ABSENT ? ROAM_ABSENT : ROAM_STORE_ERROR;
  *value = take_result(n);
  return ROAM_OK;
}

int roam_store_put(roam_str store, roam_str key, roam_str value) {
  int32_t r = roam_host_kv_put(store.ptr, (int32_t)store.len, key.ptr, (int32_t)key.len, value.ptr,
                               (int32_t)value.len);
  return r == 0 ? ROAM_OK : ROAM_STORE_ERROR;
}

int roam_store_delete(roam_str store, roam_str key) {
  int32_t r = roam_host_kv_delete(store.ptr, (int32_t)store.len, key.ptr, (int32_t)key.len);
  return r < 0 ? ROAM_STORE_ERROR : r == 1;
}

int roam_store_list(roam_str store, roam_str prefix, uint32_t limit, roam_str **keys, size_t *count) {
  int32_t n = roam_host_kv_list(store.ptr, (int32_t)store.len, prefix.ptr, (int32_t)prefix.len,
                                limit > INT32_MAX ? INT32_MAX : (int32_t)limit);
  *keys = 0;
  *count = 0;
  if (n < 0) return ROAM_STORE_ERROR;
  roam_str staged = take_result(n);
  reader r = {staged.ptr, staged.ptr + staged.len, true};
  uint32_t total = read_u32(&r);
  *keys = roam_tmp_alloc(sizeof(roam_str) * (total < staged.len / 4 ? total : staged.len / 4));
  for (uint32_t i = 0; i < total; i++) {
    roam_str k = read_field(&r);
    if (!r.ok) break;
    (*keys)[(*count)++] = k;
  }
  return ROAM_OK;
}

int roam_call(roam_str name, const roam_request *req, roam_response **res) {
  size_t size = 16 + req->method.len + req->path.len + req->query.len + headers_size(req->headers, req->header_count) +
                req->body.len;
  char *buf = roam_tmp_alloc(size);
  char *at = put_field(buf, req->method);
  at = put_field(at, req->path);
  at = put_field(at, req->query);
  at = put_headers(at, req->headers, req->header_count);
  put_field(at, req->body);
  int32_t n = roam_host_call(name.ptr, (int32_t)name.len, buf, (int32_t)size);
  if (n < 0) return n == ROAM_UNKNOWN_ENDPOINT ? ROAM_UNKNOWN_ENDPOINT : ROAM_CALL_FAILED;
  roam_str staged = take_result(n);
  reader r = {staged.ptr, staged.ptr + staged.len, true};
  roam_response *out = roam_response_new((int)read_u32(&r));
  out->headers = read_headers(&r, &out->header_count);
  out->header_cap = out->header_count;
  out->body = read_field(&r);
  if (!r.ok || r.at != r.end) return ROAM_CALL_FAILED;
  *res = out;
  return ROAM_OK;
}

void roam_log(int level, roam_str message) { roam_host_log(level, message.ptr, (int32_t)message.len); }

double roam_now_ns(void) { return roam_host_now_ns(); }

void roam_random_fill(void *dst, size_t len) {
  if (len) roam_host_random_fill(dst, (int32_t)len);
}

/* --- JSON ------------------------------------------------------------------------------------------------ */

#define MAX_DEPTH 64

/* 10^k as doubles: literals are correctly rounded (exact up to 1e22), so 10^k for k >= 32, a product of two,
 * is within about an ulp. The same tables and steps as the AssemblyScript SDK, so numbers convert alike. */
static const double POW10_LO[32] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10,
                                    1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
                                    1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31};
static const double POW10_HI[10] = {1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288};

static double pow10_(int k) {
  if (k < 32) return POW10_LO[k];
  if (k >= 320) return __builtin_inf();
  return POW10_HI[k >> 5] * POW10_LO[k & 31];
}

typedef struct {
  const char *s;
  size_t n, i;
  int depth;
} parser;

static int peek(const parser *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }

static void ws(parser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
}

static bool parse_value(parser *p, roam_json *v);

static bool literal(parser *p, const char *word, size_t len) {
  if (p->n - p->i < len || memcmp(p->s + p->i, word, len)) return false;
  p->i += len;
  return true;
}

/* Digits into *mant (at most 19 significant), moving *exp so that mant * 10^exp stays the value read. */
static void significand(parser *p, bool fraction, uint64_t *mant, int *digits, int *exp) {
  for (int c; (c = peek(p)) >= '0' && c <= '9'; p->i++) {
    if (*digits < 19) {
      *mant = *mant * 10 + (uint64_t)(c - '0');
      if (*mant) ++*digits;
      if (fraction) --*exp;
    } else if (!fraction) ++*exp;
  }
}

static bool parse_number(parser *p, roam_json *v) {
  bool neg = peek(p) == '-';
  if (neg) p->i++;
  uint64_t mant = 0;
  int digits = 0, exp = 0;
  size_t int_start = p->i;
  significand(p, false, &mant, &digits, &exp);
  size_t int_digits = p->i - int_start;
  if (int_digits == 0 || (int_digits > 1 && p->s[int_start] == '0')) return false;
  if (peek(p) == '.') {
    p->i++;
    size_t frac_start = p->i;
    significand(p, true, &mant, &digits, &exp);
    if (p->i == frac_start) return false;
  }
  if (peek(p) == 'e' || peek(p) == 'E') {
    p->i++;
    bool exp_neg = peek(p) == '-';
    if (peek(p) == '+' || peek(p) == '-') p->i++;
    size_t exp_start = p->i;
    int x = 0;
    for (int c; (c = peek(p)) >= '0' && c <= '9'; p->i++)
      if (x < 100000) x = x * 10 + (c - '0');
    if (p->i == exp_start) return false;
    exp += exp_neg ? -x : x;
  }
  double m = (double)mant, r;
  if (mant == 0) r = 0;
  else if (exp == 0) r = m;
  else if (exp > 0) r = exp > 400 ? __builtin_inf() : m * pow10_(exp);
  else if (exp >= -308) r = m / pow10_(-exp);
  else if (exp >= -346) r = m / 1e308 / pow10_(-exp - 308);
  else r = 0;
  *v = (roam_json){.kind = ROAM_JSON_NUMBER, .number = neg ? -r : r};
  return true;
}

static int hex4(parser *p, size_t at) {
  if (p->n < 4 || at > p->n - 4) return -1;
  int v = 0;
  for (int k = 0; k < 4; k++) {
    int d = hex_value(p->s[at + k]);
    if (d < 0) return -1;
    v = v << 4 | d;
  }
  return v;
}

static void append_code_point(roam_buf *b, uint32_t c) {
  if (c < 0x80) roam_buf_append_char(b, (char)c);
  else if (c < 0x800) {
    roam_buf_append_char(b, (char)(0xc0 | c >> 6));
    roam_buf_append_char(b, (char)(0x80 | (c & 63)));
  } else if (c < 0x10000) {
    roam_buf_append_char(b, (char)(0xe0 | c >> 12));
    roam_buf_append_char(b, (char)(0x80 | (c >> 6 & 63)));
    roam_buf_append_char(b, (char)(0x80 | (c & 63)));
  } else {
    roam_buf_append_char(b, (char)(0xf0 | c >> 18));
    roam_buf_append_char(b, (char)(0x80 | (c >> 12 & 63)));
    roam_buf_append_char(b, (char)(0x80 | (c >> 6 & 63)));
    roam_buf_append_char(b, (char)(0x80 | (c & 63)));
  }
}

/* A string literal at its opening quote; unescaped runs are copied whole. */
static bool parse_string(parser *p, roam_str *out) {
  p->i++;
  roam_buf b = {0};
  size_t run = p->i;
  while (p->i < p->n) {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') {
      roam_buf_append(&b, (roam_str){p->s + run, p->i - run});
      p->i++;
      *out = roam_buf_str(&b);
      return true;
    }
    if (c < 32) return false;
    if (c != '\\') {
      p->i++;
      continue;
    }
    roam_buf_append(&b, (roam_str){p->s + run, p->i - run});
    p->i++;
    int e = peek(p);
    p->i++;
    switch (e) {
      case '"': roam_buf_append_char(&b, '"'); break;
      case '\\': roam_buf_append_char(&b, '\\'); break;
      case '/': roam_buf_append_char(&b, '/'); break;
      case 'n': roam_buf_append_char(&b, '\n'); break;
      case 't': roam_buf_append_char(&b, '\t'); break;
      case 'r': roam_buf_append_char(&b, '\r'); break;
      case 'b': roam_buf_append_char(&b, '\b'); break;
      case 'f': roam_buf_append_char(&b, '\f'); break;
      case 'u': {
        int code = hex4(p, p->i);
        if (code < 0) return false;
        p->i += 4;
        uint32_t cp = (uint32_t)code;
        if (code >= 0xd800 && code < 0xdc00 && p->n - p->i >= 6 && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
          int low = hex4(p, p->i + 2);
          if (low >= 0xdc00 && low < 0xe000) {
            cp = 0x10000 + ((uint32_t)(code - 0xd800) << 10) + (uint32_t)(low - 0xdc00);
            p->i += 6;
          }
        }
        append_code_point(&b, cp >= 0xd800 && cp < 0xe000 ? 0xfffd : cp);
        break;
      }
      default: return false;
    }
    run = p->i;
  }
  return false;
}

/* Grows an arena array of `size`-byte elements by one, doubling its capacity. */
static void *grow(void *items, size_t count, size_t *cap, size_t size) {
  if (count < *cap) return items;
  *cap = *cap ? *cap * 2 : 4;
  void *more = roam_tmp_alloc(*cap * size);
  if (count) memcpy(more, items, count * size);
  return more;
}

static bool parse_container(parser *p, roam_json *v, bool is_object) {
  if (++p->depth > MAX_DEPTH) return false;
  int close = is_object ? '}' : ']';
  p->i++;
  *v = (roam_json){.kind = is_object ? ROAM_JSON_OBJECT : ROAM_JSON_ARRAY};
  size_t cap = 0, key_cap = 0;
  ws(p);
  if (peek(p) == close) {
    p->i++;
    p->depth--;
    return true;
  }
  for (;;) {
    if (is_object) {
      ws(p);
      if (peek(p) != '"') return false;
      v->keys = grow(v->keys, v->length, &key_cap, sizeof(roam_str));
      if (!parse_string(p, &v->keys[v->length])) return false;
      ws(p);
      if (peek(p) != ':') return false;
      p->i++;
    }
    v->items = grow(v->items, v->length, &cap, sizeof(roam_json));
    if (!parse_value(p, &v->items[v->length])) return false;
    v->length++;
    ws(p);
    int c = peek(p);
    p->i++;
    if (c == close) break;
    if (c != ',') return false;
  }
  p->depth--;
  return true;
}

static bool parse_value(parser *p, roam_json *v) {
  ws(p);
  int c = peek(p);
  if (c == '{') return parse_container(p, v, true);
  if (c == '[') return parse_container(p, v, false);
  if (c == '"') {
    *v = (roam_json){.kind = ROAM_JSON_STRING};
    return parse_string(p, &v->string);
  }
  if (c == 't' && literal(p, "true", 4)) {
    *v = (roam_json){.kind = ROAM_JSON_BOOL, .boolean = true};
    return true;
  }
  if (c == 'f' && literal(p, "false", 5)) {
    *v = (roam_json){.kind = ROAM_JSON_BOOL};
    return true;
  }
  if (c == 'n' && literal(p, "null", 4)) {
    *v = (roam_json){.kind = ROAM_JSON_NULL};
    return true;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
  return false;
}

roam_json *roam_json_parse(roam_str text) {
  parser p = {text.ptr, text.len, 0, 0};
  roam_json *v = roam_tmp_alloc(sizeof(roam_json));
  if (!parse_value(&p, v)) return 0;
  ws(&p);
  return p.i == p.n ? v : 0;
}

const roam_json *roam_json_get(const roam_json *obj, roam_str key) {
  if (!obj || obj->kind != ROAM_JSON_OBJECT) return 0;
  for (size_t i = obj->length; i-- > 0;)
    if (roam_str_eq(obj->keys[i], key)) return &obj->items[i];
  return 0;
}

bool roam_json_get_string(const roam_json *obj, roam_str key, roam_str *value) {
  const roam_json *v = roam_json_get(obj, key);
  if (!v || v->kind != ROAM_JSON_STRING) return false;
  *value = v->string;
  return true;
}

bool roam_json_int(const roam_json *v, int64_t *value) {
  if (!v || v->kind != ROAM_JSON_NUMBER || v->number != __builtin_floor(v->number) ||
      __builtin_fabs(v->number) > 9007199254740992.0)
    return false;
  *value = (int64_t)v->number;
  return true;
}

bool roam_json_get_int(const roam_json *obj, roam_str key, int64_t *value) {
  return roam_json_int(roam_json_get(obj, key), value);
}

static void sep(roam_json_writer *w) {
  uint64_t bit = (uint64_t)1 << w->depth;
  if (w->need_comma & bit) roam_buf_append_char(&w->out, ',');
  else w->need_comma |= bit;
}

static void quoted(roam_json_writer *w, roam_str s) {
  static const char HEX[] = "0123456789abcdef";
  roam_buf_append_char(&w->out, '"');
  size_t run = 0;
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.ptr[i];
    if (c >= 32 && c != '"' && c != '\\') continue;
    roam_buf_append(&w->out, (roam_str){s.ptr + run, i - run});
    run = i + 1;
    roam_buf_append_char(&w->out, '\\');
    if (c == '"' || c == '\\') roam_buf_append_char(&w->out, (char)c);
    else if (c == '\n') roam_buf_append_char(&w->out, 'n');
    else if (c == '\r') roam_buf_append_char(&w->out, 'r');
    else if (c == '\t') roam_buf_append_char(&w->out, 't');
    else {
      roam_buf_append(&w->out, ROAM_STR("u00"));
      roam_buf_append_char(&w->out, HEX[c >> 4]);
      roam_buf_append_char(&w->out, HEX[c & 15]);
    }
  }
  roam_buf_append(&w->out, (roam_str){s.ptr + run, s.len - run});
  roam_buf_append_char(&w->out, '"');
}

static void open_container(roam_json_writer *w, char c) {
  sep(w);
  roam_buf_append_char(&w->out, c);
  if (w->depth < 63) w->depth++;
  w->need_comma &= ~((uint64_t)1 << w->depth);
}

static void close_container(roam_json_writer *w, char c) {
  if (w->depth > 0) w->depth--;
  roam_buf_append_char(&w->out, c);
}

void roam_jw_begin_object(roam_json_writer *w) { open_container(w, '{'); }
void roam_jw_end_object(roam_json_writer *w) { close_container(w, '}'); }
void roam_jw_begin_array(roam_json_writer *w) { open_container(w, '['); }
void roam_jw_end_array(roam_json_writer *w) { close_container(w, ']'); }

void roam_jw_key(roam_json_writer *w, roam_str key) {
  sep(w);
  quoted(w, key);
  roam_buf_append_char(&w->out, ':');
  w->need_comma &= ~((uint64_t)1 << w->depth);
}

void roam_jw_string(roam_json_writer *w, roam_str value) {
  sep(w);
  quoted(w, value);
}

void roam_jw_int(roam_json_writer *w, int64_t value) {
  sep(w);
  roam_buf_append_int(&w->out, value);
}

void roam_jw_raw(roam_json_writer *w, roam_str json) {
  sep(w);
  roam_buf_append(&w->out, json);
}

void roam_jw_bool(roam_json_writer *w, bool value) {
  sep(w);
  roam_buf_append(&w->out, value ? ROAM_STR("true") : ROAM_STR("false"));
}

void roam_jw_null(roam_json_writer *w) {
  sep(w);
  roam_buf_append(&w->out, ROAM_STR("null"));
}

roam_str roam_jw_result(const roam_json_writer *w) { return roam_buf_str(&w->out); }
