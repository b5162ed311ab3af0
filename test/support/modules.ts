// The example endpoints and test fixtures, compiled from source by `npm run build` into build/.
import { readFileSync } from 'node:fs';

export function endpointModule(name: string): Uint8Array {
  return readFileSync(new URL(`../../build/endpoints/${name}.wasm`, import.meta.url));
}

export function fixtureModule(name: string): Uint8Array {
  return readFileSync(new URL(`../../build/fixtures/${name}.wasm`, import.meta.url));
}

export function request(
  method: string,
  pathAndQuery: string,
  body: string | Uint8Array = '',
  headers: [string, string][] = [],
) {
  const q = pathAndQuery.indexOf('?');
  return {
    method,
    path: q < 0 ? pathAndQuery : pathAndQuery.slice(0, q),
    query: q < 0 ? '' : pathAndQuery.slice(q + 1),
    headers,
    body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
  };
}

export function text(body: Uint8Array): string {
  return new TextDecoder().decode(body);
}
