// hello: pure compute, no data and no calls. The cheapest kind of endpoint: it runs best wherever its callers
// are, so the mesh tends to place it at the edge or inside the caller's sidecar.
//   GET /hello?name=X -> {"message":"Hello, X!","hash":"<FNV-1a of X's UTF-8 bytes, 8 hex digits>"}
import { JsonWriter, Request, Response, serve } from "../../../sdk/assembly/index";
export * from "../../../sdk/assembly/exports";

/** 32-bit FNV-1a over the UTF-8 bytes of `s`, as 8 lower-case hex digits. */
function fnv1a(s: string): string {
  const bytes = String.UTF8.encode(s);
  const p = changetype<usize>(bytes);
  let h: u32 = 0x811c9dc5;
  for (let i = 0, n = bytes.byteLength; i < n; i++) h = (h ^ load<u8>(p + <usize>i)) * 0x01000193;
  return h.toString(16).padStart(8, "0");
}

serve((req: Request): Response => {
  if (req.method != "GET" && req.method != "HEAD") return Response.text(405, "use GET").setHeader("allow", "GET, HEAD");
  const q = req.query("name");
  const name = q == null || q.length == 0 ? "world" : q;
  const json = new JsonWriter().beginObject().key("message").string("Hello, " + name + "!").key("hash").string(fnv1a(name)).endObject();
  return Response.json(200, json.toString());
});
