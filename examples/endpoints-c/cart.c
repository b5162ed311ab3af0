/* cart in C: the port of examples/endpoints/cart (data-heavy), same answers. A shopping cart kept as rows in
 * the "carts" store: "cart:{user}" = skus joined by ",", "item:{user}:{sku}" = the quantity as decimal text.
 *   GET    /cart/{user}              -> {"user","items":[{"sku","qty"}],"count"}   (count = total quantity)
 *   POST   /cart/{user}/items        body "sku=ABC&qty=2" (form) or {"sku":"ABC","qty":2} (JSON); qty defaults
 *                                    to 1 and is added to the item's quantity -> the cart, as for GET
 *   DELETE /cart/{user}/items/{sku}  removes the item -> the cart; 404 if it is not in the cart
 * Users and skus are 1 to 64 of [A-Za-z0-9._-]. A store failure is a 503. */
#include "roam.h"

#define CARTS ROAM_STR("carts")
#define MAX_QTY 1000000

static bool valid_name(roam_str s) {
  if (s.len == 0 || s.len > 64) return false;
  for (size_t i = 0; i < s.len; i++) {
    char c = s.ptr[i];
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_' ||
              c == '.';
    if (!ok) return false;
  }
  return true;
}

static roam_str index_key(roam_str user) {
  roam_buf b = {0};
  roam_buf_append(&b, ROAM_STR("cart:"));
  roam_buf_append(&b, user);
  return roam_buf_str(&b);
}

static roam_str item_key(roam_str user, roam_str sku) {
  roam_buf b = {0};
  roam_buf_append(&b, ROAM_STR("item:"));
  roam_buf_append(&b, user);
  roam_buf_append_char(&b, ':');
  roam_buf_append(&b, sku);
  return roam_buf_str(&b);
}

static roam_response *store_failed(void) {
  return roam_response_text(503, ROAM_STR("the carts store is unavailable"));
}

typedef struct {
  roam_str *items;
  size_t count;
} sku_list;

/* The user's skus in the order they were added (with room for one more); false on a store failure. */
static bool skus_of(roam_str user, sku_list *out) {
  roam_str index = {"", 0};
  int got = roam_store_get(CARTS, index_key(user), &index);
  if (got == ROAM_STORE_ERROR) return false;
  if (got == ROAM_ABSENT) index = (roam_str){"", 0};
  out->items = roam_tmp_alloc(sizeof(roam_str) * (index.len / 2 + 2));
  out->count = 0;
  size_t start = 0;
  for (size_t i = 0; i <= index.len; i++) {
    if (i == index.len || index.ptr[i] == ',') {
      if (i > start) out->items[out->count++] = (roam_str){index.ptr + start, i - start};
      start = i + 1;
    }
  }
  return true;
}

static roam_str joined(const sku_list *skus) {
  roam_buf b = {0};
  for (size_t i = 0; i < skus->count; i++) {
    if (i > 0) roam_buf_append_char(&b, ',');
    roam_buf_append(&b, skus->items[i]);
  }
  return roam_buf_str(&b);
}

static roam_response *show(roam_str user) {
  sku_list skus;
  if (!skus_of(user, &skus)) return store_failed();
  roam_json_writer w = {0};
  roam_jw_begin_object(&w);
  roam_jw_key(&w, ROAM_STR("user"));
  roam_jw_string(&w, user);
  roam_jw_key(&w, ROAM_STR("items"));
  roam_jw_begin_array(&w);
  int64_t count = 0;
  for (size_t i = 0; i < skus.count; i++) {
    roam_str text;
    int got = roam_store_get(CARTS, item_key(user, skus.items[i]), &text);
    if (got == ROAM_STORE_ERROR) return store_failed();
    /* An index entry whose row is gone, or a row that does not hold a positive quantity, is skipped. */
    int64_t qty;
    if (got == ROAM_ABSENT) continue;
    if (!roam_parse_decimal(text, &qty)) qty = 0;
    if (qty <= 0) continue;
    count += qty;
    roam_jw_begin_object(&w);
    roam_jw_key(&w, ROAM_STR("sku"));
    roam_jw_string(&w, skus.items[i]);
    roam_jw_key(&w, ROAM_STR("qty"));
    roam_jw_int(&w, qty);
    roam_jw_end_object(&w);
  }
  roam_jw_end_array(&w);
  roam_jw_key(&w, ROAM_STR("count"));
  roam_jw_int(&w, count);
  roam_jw_end_object(&w);
  return roam_response_json(200, roam_jw_result(&w));
}

static roam_response *add(roam_str user, const roam_request *req) {
  roam_str body = roam_request_text(req);
  roam_str sku, type, text;
  bool has_sku;
  int64_t qty = 1;
  bool json = roam_request_header(req, ROAM_STR("content-type"), &type) &&
              roam_str_starts_with(type, ROAM_STR("application/json"));
  if (json || roam_str_starts_with(body, ROAM_STR("{"))) {
    roam_json *doc = roam_json_parse(body);
    if (!doc) return roam_response_text(400, ROAM_STR("body is not valid JSON"));
    has_sku = roam_json_get_string(doc, ROAM_STR("sku"), &sku);
    if (roam_json_get(doc, ROAM_STR("qty")) && !roam_json_get_int(doc, ROAM_STR("qty"), &qty)) qty = -1;
  } else {
    has_sku = roam_form_value(body, ROAM_STR("sku"), &sku);
    if (roam_form_value(body, ROAM_STR("qty"), &text) && !roam_parse_decimal(text, &qty)) qty = -1;
  }
  if (!has_sku || !valid_name(sku))
    return roam_response_text(400, ROAM_STR("sku must be 1 to 64 of [A-Za-z0-9._-] (body sku=SKU&qty=N)"));
  if (qty < 1 || qty > 1000) return roam_response_text(400, ROAM_STR("qty must be an integer from 1 to 1000"));

  roam_str key = item_key(user, sku), current;
  int got = roam_store_get(CARTS, key, &current);
  if (got == ROAM_STORE_ERROR) return store_failed();
  int64_t total = 0;
  if (got == ROAM_OK && !roam_parse_decimal(current, &total)) total = 0;
  total += qty;
  if (total > MAX_QTY) total = MAX_QTY;
  roam_buf value = {0};
  roam_buf_append_int(&value, total);
  if (roam_store_put(CARTS, key, roam_buf_str(&value)) != ROAM_OK) return store_failed();
  if (got == ROAM_ABSENT) {
    sku_list skus;
    if (!skus_of(user, &skus)) return store_failed();
    bool listed = false;
    for (size_t i = 0; i < skus.count && !listed; i++) listed = roam_str_eq(skus.items[i], sku);
    if (!listed) {
      skus.items[skus.count++] = sku;
      if (roam_store_put(CARTS, index_key(user), joined(&skus)) != ROAM_OK) return store_failed();
    }
  }
  return show(user);
}

static roam_response *remove_item(roam_str user, roam_str sku) {
  if (!valid_name(sku)) return roam_response_text(400, ROAM_STR("sku must be 1 to 64 of [A-Za-z0-9._-]"));
  int deleted = roam_store_delete(CARTS, item_key(user, sku));
  if (deleted == ROAM_STORE_ERROR) return store_failed();
  if (!deleted) {
    roam_buf m = {0};
    roam_buf_append(&m, ROAM_STR("no item "));
    roam_buf_append(&m, sku);
    roam_buf_append(&m, ROAM_STR(" in the cart of "));
    roam_buf_append(&m, user);
    return roam_response_text(404, roam_buf_str(&m));
  }
  sku_list skus, kept;
  if (!skus_of(user, &skus)) return store_failed();
  kept.items = skus.items;
  kept.count = 0;
  for (size_t i = 0; i < skus.count; i++)
    if (!roam_str_eq(skus.items[i], sku)) kept.items[kept.count++] = skus.items[i];
  bool ok = kept.count == 0 ? roam_store_delete(CARTS, index_key(user)) != ROAM_STORE_ERROR
                            : roam_store_put(CARTS, index_key(user), joined(&kept)) == ROAM_OK;
  return ok ? show(user) : store_failed();
}

static roam_response *with_allow(roam_response *res, roam_str allow) {
  return roam_response_set_header(res, ROAM_STR("allow"), allow);
}

static roam_response *handle(const roam_request *req) {
  roam_str seg[5];
  size_t n = roam_request_segments(req, seg, 5);
  if (n < 2 || n > 4 || !roam_str_eq(seg[0], ROAM_STR("cart")))
    return roam_response_text(404, ROAM_STR("expected /cart/{user}[/items[/{sku}]]"));
  roam_str user = seg[1], m = req->method;
  if (!valid_name(user)) return roam_response_text(400, ROAM_STR("user must be 1 to 64 of [A-Za-z0-9._-]"));
  if (n >= 3 && !roam_str_eq(seg[2], ROAM_STR("items")))
    return roam_response_text(404, ROAM_STR("expected /cart/{user}/items"));
  if (n == 2)
    return roam_str_eq(m, ROAM_STR("GET")) || roam_str_eq(m, ROAM_STR("HEAD"))
               ? show(user)
               : with_allow(roam_response_text(405, ROAM_STR("use GET")), ROAM_STR("GET, HEAD"));
  if (n == 3)
    return roam_str_eq(m, ROAM_STR("POST")) ? add(user, req)
                                            : with_allow(roam_response_text(405, ROAM_STR("use POST")), ROAM_STR("POST"));
  return roam_str_eq(m, ROAM_STR("DELETE"))
             ? remove_item(user, seg[3])
             : with_allow(roam_response_text(405, ROAM_STR("use DELETE")), ROAM_STR("DELETE"));
}

ROAM_ENDPOINT(handle)
