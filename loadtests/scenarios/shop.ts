// The requests the example endpoints answer (examples/endpoints), as the scenarios send them through a proxy:
// `hello` is cheap compute, `resize` CPU and bytes, `cart` is data-heavy, `checkout` is the chatty caller of `cart` and `pricing`.
import type { RequestTemplate } from '../scenario.ts';

export const shopRequests: Record<string, RequestTemplate> = {
  hello: { endpoint: 'hello', method: 'GET', path: '/hello?name={user}' },
  'cart-view': { endpoint: 'cart', method: 'GET', path: '/cart/{user}' },
  'cart-add': {
    endpoint: 'cart',
    method: 'POST',
    path: '/cart/{user}/items',
    body: 'sku={sku}&qty=1',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  },
  pricing: {
    endpoint: 'pricing',
    method: 'POST',
    path: '/pricing',
    body: '{"items":[{"sku":"{sku}","qty":2},{"sku":"sku1","qty":1}]}',
    headers: { 'content-type': 'application/json' },
  },
  // A 64x64 RGBA image (16 KiB: every byte is a valid channel value) down to a 16x16 thumbnail.
  resize: {
    endpoint: 'resize',
    method: 'POST',
    path: '/resize?w=64&h=64&tw=16&th=16',
    body: 'x'.repeat(64 * 64 * 4),
    headers: { 'content-type': 'application/octet-stream' },
  },
  // An empty cart is a normal answer in a random workload, not a failure.
  checkout: { endpoint: 'checkout', method: 'POST', path: '/checkout/{user}', ok: [201, 409] },
};
