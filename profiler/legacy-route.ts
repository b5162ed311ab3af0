// Names legacy traffic: a passthrough request has no endpoint, so its path is reduced to a route template
// ("/orders/{id}") by replacing segments that look like identifiers and cutting deep paths, which keeps the
// number of names small enough to profile each one.

const MAX_SEGMENTS = 3;
const CACHE_SIZE = 1024;

function looksLikeId(seg: string): boolean {
  if (seg.length > 32) return true;
  if (/^\d+$/.test(seg)) return true;
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(seg)) return true;
  // Hex or base64-ish tokens: long, and mixing digits with letters.
  return seg.length >= 12 && /\d/.test(seg) && /[a-z]/i.test(seg);
}

function template(path: string): string {
  const segs = path.split('/').slice(1);
  const deep = segs.length > MAX_SEGMENTS;
  const kept = segs.slice(0, MAX_SEGMENTS).map((s) => (looksLikeId(s) ? '{id}' : s));
  return `/${kept.join('/')}${deep ? '/*' : ''}`;
}

/** Route templates of recent paths: a request path usually repeats, so the template is computed once. */
export class RouteTemplates {
  private readonly cache = new Map<string, string>();

  of(url: string): string {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    let t = this.cache.get(path);
    if (t === undefined) {
      if (this.cache.size >= CACHE_SIZE) this.cache.clear();
      t = template(path);
      this.cache.set(path, t);
    }
    return t;
  }
}
