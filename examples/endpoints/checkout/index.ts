// checkout: calls two other endpoints, cart and pricing, then records the order in the "orders" store. Its
// latency is dominated by those calls, so the mesh wants it close to them: the chatty-pair pressure.
//   POST /checkout/{user} -> {"order","user","total","items"}
import { callEndpoint, JsonKind, JsonValue, JsonWriter, parseJson, Request, Response, serve, Store } from "../../../sdk/assembly/index";
export { roam_abi_version, roam_alloc, roam_handle } from "../../../sdk/assembly/exports";

const orders = new Store("orders");

serve((req: Request): Response => {
  const seg = req.segments();
  if (seg.length != 2 || seg[0] != "checkout") return Response.text(404, "expected /checkout/{user}");
  if (req.method != "POST") return Response.text(405, "use POST").setHeader("allow", "POST");
  const user = seg[1];

  const cart = callEndpoint("cart", new Request("GET", "/cart/" + user));
  if (cart == null || cart.status != 200) {
    return Response.text(502, "cart endpoint failed" + (cart == null ? "" : " with status " + cart.status.toString()));
  }
  const cartDoc = parseJson(cart.text());
  let items: JsonValue | null = null;
  if (cartDoc != null) items = cartDoc.get("items");
  if (items == null || items.kind != JsonKind.Array) return Response.text(502, "cart endpoint answered malformed JSON");
  if (items.items.length == 0) return Response.text(409, "the cart of " + user + " is empty");

  const body = new JsonWriter().beginObject().key("items").beginArray();
  for (let i = 0; i < items.items.length; i++) {
    const it = items.items[i];
    const sku = it.get("sku");
    const qty = it.get("qty");
    if (sku == null || qty == null) return Response.text(502, "cart item " + i.toString() + " is malformed");
    body.beginObject().key("sku").string(sku!.str).key("qty").int(<i64>qty!.num).endObject();
  }
  body.endArray().endObject();
  const pricingReq = new Request("POST", "/pricing", "", [], Uint8Array.wrap(String.UTF8.encode(body.toString())));
  pricingReq.setHeader("content-type", "application/json");
  const priced = callEndpoint("pricing", pricingReq);
  if (priced == null || priced.status != 200) return Response.text(502, "pricing endpoint failed");
  const pricedDoc = parseJson(priced.text());
  let totalValue: JsonValue | null = null;
  if (pricedDoc != null) totalValue = pricedDoc.get("total");
  if (totalValue == null) return Response.text(502, "pricing endpoint answered malformed JSON");
  const total = <i64>totalValue.num;

  // Order numbers come from a counter in the store, so they are stable across hosts for the same history.
  const seqText = orders.getString("seq");
  const seq = (seqText == null ? 0 : I64.parseInt(seqText!, 10)) + 1;
  const order = "order-" + seq.toString();
  const record = new JsonWriter().beginObject().key("order").string(order).key("user").string(user).key("total").int(total).key("items").int(items.items.length).endObject().toString();
  if (!orders.putString("seq", seq.toString()) || !orders.putString("order:" + order, record)) {
    return Response.text(502, "the orders store is unavailable");
  }
  return Response.json(201, record);
});
