// hello: pure compute, no data and no calls. The cheapest kind of endpoint: it runs best wherever its callers
// are, so the mesh tends to place it at the edge or inside the caller's sidecar.
import { JsonWriter, Request, Response, serve } from "../../../sdk/assembly/index";
export { roam_abi_version, roam_alloc, roam_handle } from "../../../sdk/assembly/exports";

/** FNV-1a over the UTF-8 bytes of `s`, as 8 hex digits. */
function fnv1a(s: string): string {
  const bytes = Uint8Array.wrap(String.UTF8.encode(s));
  let h: u32 = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = (h ^ bytes[i]) * 0x01000193;
  return h.toString(16);
}

serve((req: Request): Response => {
  const q = req.query("name");
  const name = q == null || q.length == 0 ? "world" : q;
  const json = new JsonWriter().beginObject().key("message").string("Hello, " + name + "!").key("hash").string(fnv1a(name)).endObject();
  return Response.json(200, json.toString());
});
