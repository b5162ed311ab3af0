/* hello in C: the port of examples/endpoints/hello (pure compute, no data, no calls), same answers.
 *   GET /hello?name=X -> {"message":"Hello, X!","hash":"<FNV-1a of X's UTF-8 bytes, 8 hex digits>"} */
#include "roam.h"

/* 32-bit FNV-1a over the UTF-8 bytes of `s`. */
static uint32_t fnv1a(roam_str s) {
  uint32_t h = 0x811c9dc5;
  for (size_t i = 0; i < s.len; i++) h = (h ^ (unsigned char)s.ptr[i]) * 0x01000193;
  return h;
}

static roam_response *handle(const roam_request *req) {
  if (!roam_str_eq(req->method, ROAM_STR("GET")) && !roam_str_eq(req->method, ROAM_STR("HEAD")))
    return roam_response_set_header(roam_response_text(405, ROAM_STR("use GET")), ROAM_STR("allow"),
                                    ROAM_STR("GET, HEAD"));
  roam_str name;
  if (!roam_request_query(req, ROAM_STR("name"), &name) || name.len == 0) name = ROAM_STR("world");
  roam_buf message = {0};
  roam_buf_append(&message, ROAM_STR("Hello, "));
  roam_buf_append(&message, name);
  roam_buf_append_char(&message, '!');
  char hash[8];
  uint32_t h = fnv1a(name);
  for (int i = 7; i >= 0; i--, h >>= 4) hash[i] = "0123456789abcdef"[h & 15];
  roam_json_writer w = {0};
  roam_jw_begin_object(&w);
  roam_jw_key(&w, ROAM_STR("message"));
  roam_jw_string(&w, roam_buf_str(&message));
  roam_jw_key(&w, ROAM_STR("hash"));
  roam_jw_string(&w, (roam_str){hash, 8});
  roam_jw_end_object(&w);
  return roam_response_json(200, roam_jw_result(&w));
}

ROAM_ENDPOINT(handle)
