// pricing: reads unit prices from the "catalog" store (key "price:{sku}", cents as text). A sku with no price
// gets a deterministic one derived from its name, so the example works on an empty catalog.
//   POST /pricing  {"items":[{"sku":"A","qty":2}]} -> {"lines":[{"sku","qty","unit","amount"}],"total"}
import { JsonKind, JsonWriter, parseJson, Request, Response, serve, Store } from "../../../sdk/assembly/index";
export { roam_abi_version, roam_alloc, roam_handle } from "../../../sdk/assembly/exports";

const catalog = new Store("catalog");

function defaultPrice(sku: string): i64 {
  let h: u32 = 2166136261;
  for (let i = 0; i < sku.length; i++) h = (h ^ <u32>sku.charCodeAt(i)) * 16777619;
  return 100 + <i64>(h % 9900);
}

serve((req: Request): Response => {
  if (req.method != "POST") return Response.text(405, "use POST with a JSON body").setHeader("allow", "POST");
  const doc = parseJson(req.text());
  if (doc == null) return Response.text(400, "body is not valid JSON");
  const items = doc!.get("items");
  if (items == null || items!.kind != JsonKind.Array) return Response.text(400, 'body must be {"items":[{"sku","qty"}]}');
  const w = new JsonWriter().beginObject().key("lines").beginArray();
  let total: i64 = 0;
  for (let i = 0; i < items!.items.length; i++) {
    const item = items!.items[i];
    const sku = item.get("sku");
    const qty = item.get("qty");
    if (sku == null || sku!.kind != JsonKind.String || qty == null || qty!.kind != JsonKind.Number) {
      return Response.text(400, "item " + i.toString() + " needs a string sku and a numeric qty");
    }
    const listed = catalog.getString("price:" + sku!.str);
    const unit = listed == null ? defaultPrice(sku!.str) : I64.parseInt(listed!, 10);
    const n = <i64>qty!.num;
    total += unit * n;
    w.beginObject().key("sku").string(sku!.str).key("qty").int(n).key("unit").int(unit).key("amount").int(unit * n).endObject();
  }
  w.endArray().key("total").int(total).endObject();
  return Response.json(200, w.toString());
});
