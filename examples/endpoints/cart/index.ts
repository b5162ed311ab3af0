// cart: data-heavy. A shopping cart kept as rows in the "carts" store, an index row per user and one row per
// item, so every request reads or writes the store several times. Where the store lives dominates its
// latency: the pull that brings an endpoint next to its data.
//   GET    /cart/{user}              -> {"user","items":[{"sku","qty"}],"count"}   (count = total quantity)
//   POST   /cart/{user}/items        body "sku=ABC&qty=2" (form) or {"sku":"ABC","qty":2} (JSON); qty defaults to
//                                    1 and is added to the item's quantity -> the cart, as for GET
//   DELETE /cart/{user}/items/{sku}  removes the item -> the cart; 404 if it is not in the cart
// Users and skus are 1 to 64 of [A-Za-z0-9._-]. Rows: "cart:{user}" = skus joined by ",", "item:{user}:{sku}" =
// the quantity as decimal text. A store failure is a 503.
import { formValue, JsonWriter, parseDecimal, parseJson, Request, Response, serve, Store } from "../../../sdk/assembly/index";
export * from "../../../sdk/assembly/exports";

const carts = new Store("carts");
const MAX_QTY: i64 = 1_000_000;

function validName(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 || c == 46;
    if (!ok) return false;
  }
  return true;
}

function indexKey(user: string): string {
  return "cart:" + user;
}

function itemKey(user: string, sku: string): string {
  return "item:" + user + ":" + sku;
}

function storeFailed(): Response {
  return Response.text(503, "the carts store is unavailable");
}

/** The user's skus in the order they were added; null on a store failure. */
function skusOf(user: string): string[] | null {
  const index = carts.getString(indexKey(user));
  if (carts.lastError != 0) return null;
  const out = new Array<string>();
  if (index == null || index.length == 0) return out;
  const parts = index.split(",");
  for (let i = 0; i < parts.length; i++) if (parts[i].length > 0) out.push(parts[i]);
  return out;
}

function show(user: string): Response {
  const skus = skusOf(user);
  if (skus == null) return storeFailed();
  const w = new JsonWriter().beginObject().key("user").string(user).key("items").beginArray();
  let count: i64 = 0;
  for (let i = 0; i < skus.length; i++) {
    const qtyText = carts.getString(itemKey(user, skus[i]));
    if (carts.lastError != 0) return storeFailed();
    if (qtyText == null) continue; // an index entry whose row is gone: skip it
    const qty = parseDecimal(qtyText, 0);
    if (qty <= 0) continue;
    count += qty;
    w.beginObject().key("sku").string(skus[i]).key("qty").int(qty).endObject();
  }
  w.endArray().key("count").int(count).endObject();
  return Response.json(200, w.toString());
}

function add(user: string, req: Request): Response {
  const body = req.text();
  let sku: string | null = null;
  let qty: i64 = 1;
  const type = req.header("content-type");
  if ((type != null && type.startsWith("application/json")) || body.startsWith("{")) {
    const doc = parseJson(body);
    if (doc == null) return Response.text(400, "body is not valid JSON");
    sku = doc.getString("sku");
    if (doc.get("qty") != null) qty = doc.getInt("qty", -1);
  } else {
    sku = formValue(body, "sku");
    const qtyText = formValue(body, "qty");
    if (qtyText != null) qty = parseDecimal(qtyText, -1);
  }
  if (sku == null || !validName(sku)) return Response.text(400, "sku must be 1 to 64 of [A-Za-z0-9._-] (body sku=SKU&qty=N)");
  if (qty < 1 || qty > 1000) return Response.text(400, "qty must be an integer from 1 to 1000");

  const key = itemKey(user, sku);
  const current = carts.getString(key);
  if (carts.lastError != 0) return storeFailed();
  const total = min((current == null ? 0 : parseDecimal(current, 0)) + qty, MAX_QTY);
  if (!carts.put(key, total.toString())) return storeFailed();
  if (current == null) {
    const skus = skusOf(user);
    if (skus == null) return storeFailed();
    if (!skus.includes(sku)) {
      skus.push(sku);
      if (!carts.put(indexKey(user), skus.join(","))) return storeFailed();
    }
  }
  return show(user);
}

function remove(user: string, sku: string): Response {
  if (!validName(sku)) return Response.text(400, "sku must be 1 to 64 of [A-Za-z0-9._-]");
  if (!carts.delete(itemKey(user, sku))) {
    return carts.lastError != 0 ? storeFailed() : Response.text(404, "no item " + sku + " in the cart of " + user);
  }
  const skus = skusOf(user);
  if (skus == null) return storeFailed();
  const kept = new Array<string>();
  for (let i = 0; i < skus.length; i++) if (skus[i] != sku) kept.push(skus[i]);
  const ok = kept.length == 0 ? carts.delete(indexKey(user)) || carts.lastError == 0 : carts.put(indexKey(user), kept.join(","));
  if (!ok) return storeFailed();
  return show(user);
}

serve((req: Request): Response => {
  const seg = req.segments();
  if (seg.length < 2 || seg.length > 4 || seg[0] != "cart") return Response.text(404, "expected /cart/{user}[/items[/{sku}]]");
  const user = seg[1];
  if (!validName(user)) return Response.text(400, "user must be 1 to 64 of [A-Za-z0-9._-]");
  if (seg.length >= 3 && seg[2] != "items") return Response.text(404, "expected /cart/{user}/items");
  const m = req.method;
  if (seg.length == 2) return m == "GET" || m == "HEAD" ? show(user) : Response.text(405, "use GET").setHeader("allow", "GET, HEAD");
  if (seg.length == 3) return m == "POST" ? add(user, req) : Response.text(405, "use POST").setHeader("allow", "POST");
  return m == "DELETE" ? remove(user, seg[3]) : Response.text(405, "use DELETE").setHeader("allow", "DELETE");
});
