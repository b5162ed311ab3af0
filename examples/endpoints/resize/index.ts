// resize: CPU-heavy. Downscales a raw RGBA8 image by area averaging (a box filter). Its cost grows with the
// image, not with where the caller is, so the mesh weighs CPU capacity against shipping the pixels.
// POST /resize?w=W&h=H&tw=TW&th=TH, body: W*H*4 bytes -> TW*TH*4 bytes.
import { Request, Response, serve } from "../../../sdk/assembly/index";
export { roam_abi_version, roam_alloc, roam_handle } from "../../../sdk/assembly/exports";

function dim(req: Request, name: string): i32 {
  const v = req.query(name);
  if (v == null) return -1;
  const n = I32.parseInt(v!, 10);
  return n > 0 && n <= 8192 ? n : -1;
}

serve((req: Request): Response => {
  if (req.method != "POST") return Response.text(405, "use POST with a raw RGBA body").setHeader("allow", "POST");
  const w = dim(req, "w");
  const h = dim(req, "h");
  const tw = dim(req, "tw");
  const th = dim(req, "th");
  if (w < 0 || h < 0 || tw < 0 || th < 0) return Response.text(400, "w, h, tw and th must be integers from 1 to 8192");
  if (tw > w || th > h) return Response.text(400, "the target size must not exceed the source size");
  if (req.body.length != w * h * 4) {
    return Response.text(400, "body must be w*h*4 = " + (w * h * 4).toString() + " bytes, got " + req.body.length.toString());
  }
  const src = req.body.dataStart;
  const out = new Uint8Array(tw * th * 4);
  const dst = out.dataStart;
  for (let ty = 0; ty < th; ty++) {
    const y0 = (ty * h) / th;
    const y1 = max(((ty + 1) * h) / th, y0 + 1);
    for (let tx = 0; tx < tw; tx++) {
      const x0 = (tx * w) / tw;
      const x1 = max(((tx + 1) * w) / tw, x0 + 1);
      let r: u32 = 0, g: u32 = 0, b: u32 = 0, a: u32 = 0;
      for (let y = y0; y < y1; y++) {
        let p = src + <usize>((y * w + x0) * 4);
        for (let x = x0; x < x1; x++) {
          r += load<u8>(p);
          g += load<u8>(p, 1);
          b += load<u8>(p, 2);
          a += load<u8>(p, 3);
          p += 4;
        }
      }
      const n = <u32>((y1 - y0) * (x1 - x0));
      const q = dst + <usize>((ty * tw + tx) * 4);
      store<u8>(q, <u8>(r / n));
      store<u8>(q, <u8>(g / n), 1);
      store<u8>(q, <u8>(b / n), 2);
      store<u8>(q, <u8>(a / n), 3);
    }
  }
  return Response.bytes(200, out).setHeader("x-image-size", tw.toString() + "x" + th.toString());
});
