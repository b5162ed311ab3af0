// pricing in Rust: the port of examples/endpoints/pricing, same answers. Unit prices come from the "catalog"
// store (key "price:{sku}", cents as decimal text), one read per line; a sku without a readable price gets a
// deterministic one derived from its name (100 to 9999 cents).
//   POST /pricing {"items":[{"sku":"A","qty":2}]}
//     -> {"lines":[{"sku","qty","unit","amount"}],"total"}   (cents; at most 1000 lines, qty 1 to 1000000)
use roam::{parse_decimal, Json, JsonWriter, Request, Response, Store};

roam::endpoint!(handle);

static CATALOG: Store = Store::new("catalog");
const MAX_LINES: usize = 1000;
const MAX_QTY: i64 = 1_000_000;

/// FNV-1a of the sku's UTF-8 bytes mapped onto 100..9999 cents.
fn default_price(sku: &str) -> i64 {
    let h = sku.bytes().fold(0x811c9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x01000193));
    100 + (h % 9900) as i64
}

fn bad(message: &str) -> Response {
    Response::text(400, message)
}

fn handle(req: &Request) -> Response {
    if req.method != "POST" {
        return Response::text(405, "use POST with a JSON body").with_header("allow", "POST");
    }
    let doc = match Json::parse(&req.text()) {
        Some(doc) => doc,
        None => return bad("body is not valid JSON"),
    };
    let items = match doc.get("items").and_then(Json::as_array) {
        Some(items) => items,
        None => return bad(r#"body must be {"items":[{"sku":"...","qty":N}]}"#),
    };
    if items.len() > MAX_LINES {
        return bad(&format!("at most {} items", MAX_LINES));
    }
    let mut w = JsonWriter::new();
    w.begin_object().key("lines").begin_array();
    // Amounts wrap on overflow, as i64 arithmetic does in the AssemblyScript build.
    let mut total: i64 = 0;
    for (i, item) in items.iter().enumerate() {
        let sku = item.get_str("sku");
        let qty = item.get_i64("qty").unwrap_or(-1);
        // "Characters" are UTF-16 code units, as in the AssemblyScript build.
        let sku = match sku.filter(|s| !s.is_empty() && s.encode_utf16().count() <= 128) {
            Some(sku) => sku,
            None => return bad(&format!("item {} needs a sku of 1 to 128 characters", i)),
        };
        if !(1..=MAX_QTY).contains(&qty) {
            return bad(&format!("item {} needs an integer qty from 1 to 1000000", i));
        }
        let listed = match CATALOG.get_string(&format!("price:{}", sku)) {
            Ok(listed) => listed,
            Err(_) => return Response::text(503, "the catalog store is unavailable"),
        };
        let unit = match listed.as_deref().and_then(parse_decimal) {
            Some(unit) if unit >= 0 => unit,
            _ => default_price(sku), // absent or unreadable price
        };
        let amount = unit.wrapping_mul(qty);
        total = total.wrapping_add(amount);
        w.begin_object().key("sku").string(sku).key("qty").int(qty).key("unit").int(unit);
        w.key("amount").int(amount).end_object();
    }
    w.end_array().key("total").int(total).end_object();
    Response::json(200, &w.finish())
}
