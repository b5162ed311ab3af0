// cart in Rust: the port of examples/endpoints/cart (data-heavy), same answers. A shopping cart kept as rows
// in the "carts" store: "cart:{user}" = skus joined by ",", "item:{user}:{sku}" = the quantity as decimal text.
//   GET    /cart/{user}              -> {"user","items":[{"sku","qty"}],"count"}   (count = total quantity)
//   POST   /cart/{user}/items        body "sku=ABC&qty=2" (form) or {"sku":"ABC","qty":2} (JSON); qty defaults to
//                                    1 and is added to the item's quantity -> the cart, as for GET
//   DELETE /cart/{user}/items/{sku}  removes the item -> the cart; 404 if it is not in the cart
// Users and skus are 1 to 64 of [A-Za-z0-9._-]. A store failure is a 503.
use roam::{form_value, parse_decimal, Json, JsonWriter, Request, Response, Store, StoreError};

roam::endpoint!(handle);

static CARTS: Store = Store::new("carts");
const MAX_QTY: i64 = 1_000_000;

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn index_key(user: &str) -> String {
    format!("cart:{}", user)
}

fn item_key(user: &str, sku: &str) -> String {
    format!("item:{}:{}", user, sku)
}

fn store_failed(_: StoreError) -> Response {
    Response::text(503, "the carts store is unavailable")
}

/// The user's skus in the order they were added.
fn skus_of(user: &str) -> Result<Vec<String>, StoreError> {
    let index = CARTS.get_string(&index_key(user))?.unwrap_or_default();
    Ok(index.split(',').filter(|s| !s.is_empty()).map(String::from).collect())
}

fn show(user: &str) -> Result<Response, StoreError> {
    let skus = skus_of(user)?;
    let mut w = JsonWriter::new();
    w.begin_object().key("user").string(user).key("items").begin_array();
    let mut count: i64 = 0;
    for sku in &skus {
        // An index entry whose row is gone, or a row that does not hold a positive quantity, is skipped.
        let qty = match CARTS.get_string(&item_key(user, sku))? {
            Some(text) => parse_decimal(&text).unwrap_or(0),
            None => continue,
        };
        if qty <= 0 {
            continue;
        }
        count += qty;
        w.begin_object().key("sku").string(sku).key("qty").int(qty).end_object();
    }
    w.end_array().key("count").int(count).end_object();
    Ok(Response::json(200, &w.finish()))
}

fn add(user: &str, req: &Request) -> Result<Response, StoreError> {
    let body = req.text();
    let sku: Option<String>;
    let mut qty: i64 = 1;
    if req.header("content-type").map_or(false, |t| t.starts_with("application/json")) || body.starts_with('{') {
        let doc = match Json::parse(&body) {
            Some(doc) => doc,
            None => return Ok(Response::text(400, "body is not valid JSON")),
        };
        sku = doc.get_str("sku").map(String::from);
        if doc.get("qty").is_some() {
            qty = doc.get_i64("qty").unwrap_or(-1);
        }
    } else {
        sku = form_value(&body, "sku");
        if let Some(text) = form_value(&body, "qty") {
            qty = parse_decimal(&text).unwrap_or(-1);
        }
    }
    let sku = match sku.filter(|s| valid_name(s)) {
        Some(sku) => sku,
        None => return Ok(Response::text(400, "sku must be 1 to 64 of [A-Za-z0-9._-] (body sku=SKU&qty=N)")),
    };
    if !(1..=1000).contains(&qty) {
        return Ok(Response::text(400, "qty must be an integer from 1 to 1000"));
    }
    let key = item_key(user, &sku);
    let current = CARTS.get_string(&key)?;
    let total = (current.as_deref().map_or(0, |c| parse_decimal(c).unwrap_or(0)) + qty).min(MAX_QTY);
    CARTS.put(&key, total.to_string())?;
    if current.is_none() {
        let mut skus = skus_of(user)?;
        if !skus.contains(&sku) {
            skus.push(sku);
            CARTS.put(&index_key(user), skus.join(","))?;
        }
    }
    show(user)
}

fn remove(user: &str, sku: &str) -> Result<Response, StoreError> {
    if !valid_name(sku) {
        return Ok(Response::text(400, "sku must be 1 to 64 of [A-Za-z0-9._-]"));
    }
    if !CARTS.delete(&item_key(user, sku))? {
        return Ok(Response::text(404, &format!("no item {} in the cart of {}", sku, user)));
    }
    let kept: Vec<String> = skus_of(user)?.into_iter().filter(|s| s != sku).collect();
    if kept.is_empty() {
        CARTS.delete(&index_key(user))?;
    } else {
        CARTS.put(&index_key(user), kept.join(","))?;
    }
    show(user)
}

fn handle(req: &Request) -> Response {
    let seg = req.segments();
    if seg.len() < 2 || seg.len() > 4 || seg[0] != "cart" {
        return Response::text(404, "expected /cart/{user}[/items[/{sku}]]");
    }
    let user = &seg[1];
    if !valid_name(user) {
        return Response::text(400, "user must be 1 to 64 of [A-Za-z0-9._-]");
    }
    if seg.len() >= 3 && seg[2] != "items" {
        return Response::text(404, "expected /cart/{user}/items");
    }
    let m = req.method.as_str();
    let res = match seg.len() {
        2 if m == "GET" || m == "HEAD" => show(user),
        2 => Ok(Response::text(405, "use GET").with_header("allow", "GET, HEAD")),
        3 if m == "POST" => add(user, req),
        3 => Ok(Response::text(405, "use POST").with_header("allow", "POST")),
        _ if m == "DELETE" => remove(user, &seg[3]),
        _ => Ok(Response::text(405, "use DELETE").with_header("allow", "DELETE")),
    };
    res.unwrap_or_else(store_failed)
}
