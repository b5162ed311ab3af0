// checkout: calls two other endpoints, cart and pricing, then records the order in the "orders" store. Its
// latency is dominated by those calls, so the mesh wants it close to them: the chatty-caller pressure.
//   POST /checkout/{user} -> 201 {"order","user","total","items","lines"}   (items = number of cart lines)
//   409 if the cart is empty; 502 naming the callee if cart or pricing fails or answers nonsense.
// Orders are numbered from a counter row "seq" in the store; each order is the row "order:{id}". (A real
// service would use a transactional sequence: two instances checking out at once can race on the counter.)
import {
  callEndpoint,
  JsonKind,
  JsonValue,
  JsonWriter,
  lastCallError,
  CALL_UNKNOWN_ENDPOINT,
  parseDecimal,
  parseJson,
  Request,
  Response,
  serve,
  Store,
} from "../../../sdk/assembly/index";
export * from "../../../sdk/assembly/exports";

const orders = new Store("orders");

/** Same rule as cart's: 1 to 64 of [A-Za-z0-9._-] (so the user can go into cart's path as it is). */
function validUser(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 || c == 46)) return false;
  }
  return true;
}

function calleeFailed(callee: string, res: Response | null): Response {
  let why: string;
  if (res != null) why = "answered " + res.status.toString() + ": " + res.text();
  else if (lastCallError == CALL_UNKNOWN_ENDPOINT) why = "is not deployed";
  else why = "did not answer (timeout or no healthy target)";
  return Response.text(502, "checkout: the " + callee + " endpoint " + why);
}

serve((req: Request): Response => {
  const seg = req.segments();
  if (seg.length != 2 || seg[0] != "checkout") return Response.text(404, "expected /checkout/{user}");
  if (req.method != "POST") return Response.text(405, "use POST").setHeader("allow", "POST");
  const user = seg[1];
  if (!validUser(user)) return Response.text(400, "user must be 1 to 64 of [A-Za-z0-9._-]");

  const cart = callEndpoint("cart", new Request("GET", "/cart/" + user));
  if (cart == null || cart.status != 200) return calleeFailed("cart", cart);
  const cartDoc = parseJson(cart.text());
  const items: JsonValue | null = cartDoc == null ? null : cartDoc.get("items");
  if (items == null || items.kind != JsonKind.Array) return Response.text(502, "checkout: the cart endpoint answered malformed JSON");
  if (items.length == 0) return Response.text(409, "the cart of " + user + " is empty");

  const body = new JsonWriter().beginObject().key("items").beginArray();
  for (let i = 0; i < items.length; i++) {
    const it = items.items[i];
    const sku = it.getString("sku");
    const qty = it.getInt("qty", -1);
    if (sku == null || qty < 1) return Response.text(502, "checkout: cart item " + i.toString() + " is malformed");
    body.beginObject().key("sku").string(sku).key("qty").int(qty).endObject();
  }
  body.endArray().endObject();
  const pricingReq = Request.withText("POST", "/pricing", "", body.toString()).setHeader("content-type", "application/json");
  const priced = callEndpoint("pricing", pricingReq);
  if (priced == null || priced.status != 200) return calleeFailed("pricing", priced);
  const pricedDoc = parseJson(priced.text());
  const total: i64 = pricedDoc == null ? -1 : pricedDoc.getInt("total", -1);
  const lines: JsonValue | null = pricedDoc == null ? null : pricedDoc.get("lines");
  if (total < 0 || lines == null) return Response.text(502, "checkout: the pricing endpoint answered malformed JSON");

  const seqText = orders.getString("seq");
  if (orders.lastError != 0) return Response.text(503, "the orders store is unavailable");
  const seq = (seqText == null ? 0 : parseDecimal(seqText, 0)) + 1;
  const order = "order-" + seq.toString();
  const record = new JsonWriter()
    .beginObject()
    .key("order").string(order)
    .key("user").string(user)
    .key("total").int(total)
    .key("items").int(items.length)
    .key("lines").value(lines)
    .endObject()
    .toString();
  if (!orders.put("seq", seq.toString()) || !orders.put("order:" + order, record)) {
    return Response.text(503, "the orders store is unavailable");
  }
  return Response.json(201, record).setHeader("location", "/orders/" + order);
});
