// cart: data-heavy. A shopping cart kept as rows in the "carts" store: an index row per user and one row per
// item, so every request reads and writes the store several times. Where the store lives dominates its
// latency, which is the pull that brings an endpoint next to its data.
//   GET    /cart/{user}              -> {"user","items":[{"sku","qty"}],"count"}
//   POST   /cart/{user}/items        body "sku=ABC&qty=2" (form encoding) adds to the item's quantity
//   DELETE /cart/{user}/items/{sku}  removes the item
import { formValue, JsonWriter, Request, Response, serve, Store } from "../../../sdk/assembly/index";
export { roam_abi_version, roam_alloc, roam_handle } from "../../../sdk/assembly/exports";

const carts = new Store("carts");

function validName(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 || c == 46;
    if (!ok) return false;
  }
  return true;
}

function skusOf(user: string): string[] {
  const index = carts.getString("cart:" + user);
  const out = new Array<string>();
  if (index == null || index!.length == 0) return out;
  const parts = index!.split(",");
  for (let i = 0; i < parts.length; i++) if (parts[i].length > 0) out.push(parts[i]);
  return out;
}

function storeFailed(): Response {
  return Response.text(502, "the carts store is unavailable");
}

function show(user: string): Response {
  const skus = skusOf(user);
  const w = new JsonWriter().beginObject().key("user").string(user).key("items").beginArray();
  let count: i64 = 0;
  for (let i = 0; i < skus.length; i++) {
    const qty = carts.getString("item:" + user + ":" + skus[i]);
    if (qty == null) continue;
    const n = I64.parseInt(qty!, 10);
    count += n;
    w.beginObject().key("sku").string(skus[i]).key("qty").int(n).endObject();
  }
  w.endArray().key("count").int(count).endObject();
  return Response.json(200, w.toString());
}

function add(user: string, req: Request): Response {
  const form = req.text();
  const sku = formValue(form, "sku");
  const qtyText = formValue(form, "qty");
  if (sku == null || !validName(sku!)) return Response.text(400, "body must be sku=SKU&qty=N with a sku of [A-Za-z0-9._-]");
  const qty = qtyText == null ? 1 : I64.parseInt(qtyText!, 10);
  if (qty <= 0 || qty > 1000) return Response.text(400, "qty must be an integer from 1 to 1000");
  const key = "item:" + user + ":" + sku!;
  const current = carts.getString(key);
  const total = (current == null ? 0 : I64.parseInt(current!, 10)) + qty;
  if (!carts.putString(key, total.toString())) return storeFailed();
  if (current == null) {
    const skus = skusOf(user);
    skus.push(sku!);
    if (!carts.putString("cart:" + user, skus.join(","))) return storeFailed();
  }
  return show(user);
}

function remove(user: string, sku: string): Response {
  if (!carts.delete("item:" + user + ":" + sku)) return Response.text(404, "no item " + sku + " in the cart of " + user);
  const skus = skusOf(user);
  const kept = new Array<string>();
  for (let i = 0; i < skus.length; i++) if (skus[i] != sku) kept.push(skus[i]);
  if (!carts.putString("cart:" + user, kept.join(","))) return storeFailed();
  return show(user);
}

serve((req: Request): Response => {
  const seg = req.segments();
  if (seg.length < 2 || seg[0] != "cart" || !validName(seg[1])) return Response.text(404, "expected /cart/{user}");
  const user = seg[1];
  if (seg.length == 2 && (req.method == "GET" || req.method == "HEAD")) return show(user);
  if (seg.length == 3 && seg[2] == "items" && req.method == "POST") return add(user, req);
  if (seg.length == 4 && seg[2] == "items" && req.method == "DELETE") return remove(user, seg[3]);
  return Response.text(405, "unsupported method " + req.method + " for " + req.path);
});
