// Route matching and validation: the most specific route wins, bad configs are refused with the reason, and
// weighted picks follow the weights.
import { describe, expect, it } from 'vitest';
import { pickTarget, type RouteConfig, RouteTable } from '../route-table.ts';

const config: RouteConfig = {
  version: 7,
  routes: [
    { match: 'GET /cart/*', endpoint: 'cart' },
    { match: 'POST /cart/{user}/items', endpoint: 'cart-write' },
    { match: '* /hello', endpoint: 'hello' },
    { match: 'GET /hello', endpoint: 'hello-get', host: 'api.example.com' },
    { match: 'GET /*', endpoint: 'catch-all' },
  ],
  endpoints: {
    cart: { targets: [{ kind: 'host', url: 'http://127.0.0.1:1', weight: 1 }] },
    'cart-write': { targets: [{ kind: 'upstream', weight: 1 }] },
    hello: {
      targets: [
        { kind: 'local', weight: 3 },
        { kind: 'upstream', weight: 1 },
      ],
      digest: 'sha256:x',
    },
    'hello-get': { targets: [{ kind: 'upstream', weight: 1 }] },
    'catch-all': { targets: [{ kind: 'upstream', weight: 1 }] },
  },
};

describe('route table', () => {
  const table = RouteTable.build(config);

  it('matches the most specific route', () => {
    expect(table.version).toBe(7);
    expect(table.match('GET', undefined, '/cart/42')?.endpoint).toBe('cart');
    expect(table.match('GET', undefined, '/cart/42/items')?.endpoint).toBe('cart');
    expect(table.match('POST', undefined, '/cart/42/items')?.endpoint).toBe('cart-write');
    expect(table.match('POST', undefined, '/cart//items')).toBeUndefined();
    expect(table.match('DELETE', undefined, '/hello')?.endpoint).toBe('hello');
    expect(table.match('GET', 'api.example.com', '/hello')?.endpoint).toBe('hello-get');
    expect(table.match('HEAD', undefined, '/cart/1')?.endpoint).toBe('cart');
    expect(table.match('GET', undefined, '/anything/else')?.endpoint).toBe('catch-all');
    expect(table.match('POST', undefined, '/anything')).toBeUndefined();
  });

  it('keeps a copy of its config, so later edits to the source cannot change it', () => {
    const source = structuredClone(config);
    const t = RouteTable.build(source);
    source.routes.length = 0;
    expect(t.config.routes).toHaveLength(5);
  });

  it.each([
    [{ ...config, version: -1 }, /version/],
    [{ ...config, routes: [{ match: 'GET cart', endpoint: 'cart' }] }, /must start with "\/"/],
    [{ ...config, routes: [{ match: 'FETCH /x', endpoint: 'cart' }] }, /unknown method/],
    [{ ...config, routes: [{ match: 'GET /x/*/y', endpoint: 'cart' }] }, /only allowed as the last segment/],
    [{ ...config, routes: [{ match: 'GET /x', endpoint: 'nope' }] }, /names endpoint "nope"/],
    [{ ...config, endpoints: { ...config.endpoints, cart: { targets: [] } } }, /at least one target/],
    [
      { ...config, endpoints: { ...config.endpoints, hello: { targets: [{ kind: 'local', weight: 1 }] } } },
      /no "digest"/,
    ],
    [
      {
        ...config,
        endpoints: { ...config.endpoints, cart: { targets: [{ kind: 'host', url: 'nope', weight: 1 }] } },
      },
      /not a URL/,
    ],
    [{ ...config, routes: [{ match: 'GET /x', endpoint: 'cart', retries: 9 }] }, /retries/],
  ] as [RouteConfig, RegExp][])('refuses a bad config with the reason (%#)', (bad, message) => {
    expect(() => RouteTable.build(bad)).toThrow(
      expect.objectContaining({ code: 'ROAM_ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });

  it('picks targets by weight and skips the ones it is told to', () => {
    const ep = table.endpoint('hello')!;
    const counts = { local: 0, upstream: 0 };
    for (let i = 0; i < 400; i++)
      counts[pickTarget(ep, () => false, i / 400)!.spec.kind as 'local' | 'upstream']++;
    expect(counts).toEqual({ local: 300, upstream: 100 });
    expect(pickTarget(ep, (t) => t.key === 'local', 0.1)!.key).toBe('upstream');
    expect(pickTarget(ep, () => true, 0.1)).toBeUndefined();
  });
});
