// pricing: reads unit prices from the "catalog" store (key "price:{sku}", cents as decimal text), one read per
// line: a read-mostly data pull, lighter than cart's. A sku without a price gets a deterministic one derived from
// its name (100 to 9999 cents), so the example works on an empty catalog.
//   POST /pricing {"items":[{"sku":"A","qty":2}]}
//     -> {"lines":[{"sku","qty","unit","amount"}],"total"}   (cents; at most 1000 lines, qty 1 to 1000000)
import { JsonKind, JsonWriter, parseDecimal, parseJson, Request, Response, serve, Store } from "../../../sdk/assembly/index";
export * from "../../../sdk/assembly/exports";

const catalog = new Store("catalog");
const MAX_LINES = 1000;
const MAX_QTY: i64 = 1_000_000;

/** FNV-1a of the sku's UTF-8 bytes mapped onto 100..9999 cents. */
function defaultPrice(sku: string): i64 {
  const bytes = String.UTF8.encode(sku);
  const p = changetype<usize>(bytes);
  let h: u32 = 0x811c9dc5;
  for (let i = 0, n = bytes.byteLength; i < n; i++) h = (h ^ load<u8>(p + <usize>i)) * 0x01000193;
  return 100 + <i64>(h % 9900);
}

function bad(message: string): Response {
  return Response.text(400, message);
}

serve((req: Request): Response => {
  if (req.method != "POST") return Response.text(405, "use POST with a JSON body").setHeader("allow", "POST");
  const doc = parseJson(req.text());
  if (doc == null) return bad("body is not valid JSON");
  const items = doc.get("items");
  if (items == null || items.kind != JsonKind.Array) return bad('body must be {"items":[{"sku":"...","qty":N}]}');
  if (items.length > MAX_LINES) return bad("at most " + MAX_LINES.toString() + " items");
  const w = new JsonWriter().beginObject().key("lines").beginArray();
  let total: i64 = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items.items[i];
    const sku = item.getString("sku");
    const qty = item.getInt("qty", -1);
    if (sku == null || sku.length == 0 || sku.length > 128) return bad("item " + i.toString() + " needs a sku of 1 to 128 characters");
    if (qty < 1 || qty > MAX_QTY) return bad("item " + i.toString() + " needs an integer qty from 1 to 1000000");
    const listed = catalog.getString("price:" + sku);
    if (catalog.lastError != 0) return Response.text(503, "the catalog store is unavailable");
    let unit = listed == null ? -1 : parseDecimal(listed, -1);
    if (unit < 0) unit = defaultPrice(sku); // absent or unreadable price
    const amount = unit * qty;
    total += amount;
    w.beginObject().key("sku").string(sku).key("qty").int(qty).key("unit").int(unit).key("amount").int(amount).endObject();
  }
  w.endArray().key("total").int(total).endObject();
  return Response.json(200, w.toString());
});
