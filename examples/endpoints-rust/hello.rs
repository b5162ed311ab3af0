// hello in Rust: the port of examples/endpoints/hello (pure compute, no data, no calls), same answers.
//   GET /hello?name=X -> {"message":"Hello, X!","hash":"<FNV-1a of X's UTF-8 bytes, 8 hex digits>"}
use roam::{JsonWriter, Request, Response};

roam::endpoint!(handle);

/// 32-bit FNV-1a over the UTF-8 bytes of `s`.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x01000193))
}

fn handle(req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "use GET").with_header("allow", "GET, HEAD");
    }
    let name = req.query_param("name").filter(|n| !n.is_empty()).unwrap_or_else(|| "world".into());
    let json = JsonWriter::new()
        .begin_object()
        .key("message")
        .string(&format!("Hello, {}!", name))
        .key("hash")
        .string(&format!("{:08x}", fnv1a(&name)))
        .end_object()
        .finish();
    Response::json(200, &json)
}
