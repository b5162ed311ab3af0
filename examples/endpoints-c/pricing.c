/* pricing in C: the port of examples/endpoints/pricing, same answers. Unit prices come from the "catalog"
 * store (key "price:{sku}", cents as decimal text), one read per line; a sku without a readable price gets a
 * deterministic one derived from its name (100 to 9999 cents).
 *   POST /pricing {"items":[{"sku":"A","qty":2}]}
 *     -> {"lines":[{"sku","qty","unit","amount"}],"total"}   (cents; at most 1000 lines, qty 1 to 1000000) */
#include "roam.h"

#define CATALOG ROAM_STR("catalog")
#define MAX_LINES 1000
#define MAX_QTY 1000000

/* FNV-1a of the sku's UTF-8 bytes mapped onto 100..9999 cents. */
static int64_t default_price(roam_str sku) {
  uint32_t h = 0x811c9dc5;
  for (size_t i = 0; i < sku.len; i++) h = (h ^ (unsigned char)sku.ptr[i]) * 0x01000193;
  return 100 + (int64_t)(h % 9900);
}

/* Length in UTF-16 code units, which is what "characters" means in the AssemblyScript build: a 4-byte UTF-8
 * sequence is two, any other sequence one. */
static size_t utf16_length(roam_str s) {
  size_t n = 0;
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.ptr[i];
    if ((c & 0xc0) != 0x80) n += c >= 0xf0 ? 2 : 1;
  }
  return n;
}

static roam_response *bad(roam_buf *message) { return roam_response_text(400, roam_buf_str(message)); }

static roam_response *bad_item(size_t i, roam_str what) {
  roam_buf m = {0};
  roam_buf_append(&m, ROAM_STR("item "));
  roam_buf_append_int(&m, (int64_t)i);
  roam_buf_append(&m, what);
  return bad(&m);
}

static roam_response *handle(const roam_request *req) {
  if (!roam_str_eq(req->method, ROAM_STR("POST")))
    return roam_response_set_header(roam_response_text(405, ROAM_STR("use POST with a JSON body")),
                                    ROAM_STR("allow"), ROAM_STR("POST"));
  roam_json *doc = roam_json_parse(roam_request_text(req));
  if (!doc) return roam_response_text(400, ROAM_STR("body is not valid JSON"));
  const roam_json *items = roam_json_get(doc, ROAM_STR("items"));
  if (!items || items->kind != ROAM_JSON_ARRAY)
    return roam_response_text(400, ROAM_STR("body must be {\"items\":[{\"sku\":\"...\",\"qty\":N}]}"));
  if (items->length > MAX_LINES) return roam_response_text(400, ROAM_STR("at most 1000 items"));
  roam_json_writer w = {0};
  roam_jw_begin_object(&w);
  roam_jw_key(&w, ROAM_STR("lines"));
  roam_jw_begin_array(&w);
  /* Amounts wrap on overflow, as i64 arithmetic does in the AssemblyScript build (unsigned, so C defines it). */
  uint64_t total = 0;
  for (size_t i = 0; i < items->length; i++) {
    const roam_json *item = &items->items[i];
    roam_str sku;
    int64_t qty;
    if (!roam_json_get_int(item, ROAM_STR("qty"), &qty)) qty = -1;
    if (!roam_json_get_string(item, ROAM_STR("sku"), &sku) || sku.len == 0 || utf16_length(sku) > 128)
      return bad_item(i, ROAM_STR(" needs a sku of 1 to 128 characters"));
    if (qty < 1 || qty > MAX_QTY) return bad_item(i, ROAM_STR(" needs an integer qty from 1 to 1000000"));
    roam_buf key = {0};
    roam_buf_append(&key, ROAM_STR("price:"));
    roam_buf_append(&key, sku);
    roam_str listed;
    int64_t unit;
    int got = roam_store_get(CATALOG, roam_buf_str(&key), &listed);
    if (got == ROAM_STORE_ERROR) return roam_response_text(503, ROAM_STR("the catalog store is unavailable"));
    if (got != ROAM_OK || !roam_parse_decimal(listed, &unit) || unit < 0) unit = default_price(sku);
    int64_t amount = (int64_t)((uint64_t)unit * (uint64_t)qty);
    total += (uint64_t)amount;
    roam_jw_begin_object(&w);
    roam_jw_key(&w, ROAM_STR("sku"));
    roam_jw_string(&w, sku);
    roam_jw_key(&w, ROAM_STR("qty"));
    roam_jw_int(&w, qty);
    roam_jw_key(&w, ROAM_STR("unit"));
    roam_jw_int(&w, unit);
    roam_jw_key(&w, ROAM_STR("amount"));
    roam_jw_int(&w, amount);
    roam_jw_end_object(&w);
  }
  roam_jw_end_array(&w);
  roam_jw_key(&w, ROAM_STR("total"));
  roam_jw_int(&w, (int64_t)total);
  roam_jw_end_object(&w);
  return roam_response_json(200, roam_jw_result(&w));
}

ROAM_ENDPOINT(handle)
