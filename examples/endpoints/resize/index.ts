// resize: CPU-heavy. Downscales a raw RGBA8 image by area averaging (a box filter): its cost grows with the
// pixels, not with where the caller is, so the mesh weighs CPU capacity against the cost of shipping them.
//   POST /resize?w=W&h=H&tw=TW&th=TH, body W*H*4 bytes -> TW*TH*4 bytes (application/octet-stream)
// 1 <= TW <= W <= 8192 and 1 <= TH <= H <= 8192; anything else, or a body of the wrong size, is a 400.
import { parseDecimal, Request, Response, serve } from "../../../sdk/assembly/index";
export * from "../../../sdk/assembly/exports";

const MAX_SIDE = 8192;

function dim(req: Request, name: string): i32 {
  const v = req.query(name);
  if (v == null) return -1;
  const n = parseDecimal(v, -1);
  return n >= 1 && n <= MAX_SIDE ? <i32>n : -1;
}

/**
 * Target pixel (tx, ty) averages the source block [x0, x1) x [y0, y1) with x0 = tx*w/tw, x1 = (tx+1)*w/tw (same
 * for y): every source pixel counts toward exactly one target pixel. Means are rounded to the nearest integer;
 * sums are u64 because one block can hold 2^26 pixels.
 */
function downscale(src: usize, w: i32, h: i32, dst: usize, tw: i32, th: i32): void {
  for (let ty = 0; ty < th; ty++) {
    const y0 = (ty * h) / th;
    const y1 = ((ty + 1) * h) / th;
    for (let tx = 0; tx < tw; tx++) {
      const x0 = (tx * w) / tw;
      const x1 = ((tx + 1) * w) / tw;
      let r: u64 = 0, g: u64 = 0, b: u64 = 0, a: u64 = 0;
      for (let y = y0; y < y1; y++) {
        let p = src + ((<usize>y * <usize>w + <usize>x0) << 2);
        const rowEnd = p + (<usize>(x1 - x0) << 2);
        while (p < rowEnd) {
          r += load<u8>(p);
          g += load<u8>(p, 1);
          b += load<u8>(p, 2);
          a += load<u8>(p, 3);
          p += 4;
        }
      }
      const n = <u64>((y1 - y0) * (x1 - x0));
      const half = n >> 1;
      const q = dst + ((<usize>ty * <usize>tw + <usize>tx) << 2);
      store<u8>(q, <u8>((r + half) / n));
      store<u8>(q, <u8>((g + half) / n), 1);
      store<u8>(q, <u8>((b + half) / n), 2);
      store<u8>(q, <u8>((a + half) / n), 3);
    }
  }
}

serve((req: Request): Response => {
  if (req.method != "POST") return Response.text(405, "use POST with a raw RGBA8 body").setHeader("allow", "POST");
  const w = dim(req, "w");
  const h = dim(req, "h");
  const tw = dim(req, "tw");
  const th = dim(req, "th");
  if (w < 0 || h < 0 || tw < 0 || th < 0) return Response.text(400, "w, h, tw and th must be integers from 1 to 8192");
  if (tw > w || th > h) return Response.text(400, "the target size must not exceed the source size (this only downscales)");
  const expected = <i64>w * <i64>h * 4;
  if (<i64>req.body.length != expected) {
    return Response.text(400, "body must be w*h*4 = " + expected.toString() + " bytes, got " + req.body.length.toString());
  }
  const out = new Uint8Array(tw * th * 4);
  downscale(req.body.dataStart, w, h, out.dataStart, tw, th);
  return Response.bytes(200, out).setHeader("x-image-size", tw.toString() + "x" + th.toString());
});
