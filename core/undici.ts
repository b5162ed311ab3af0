// undici, loaded on first use. Its full index costs a process about 26 MB resident (its HTTP/1.1 parser is
// compiled WebAssembly, loaded with it), and a sidecar that only passes plain HTTP/1.1 through (the fast path,
// proxy/fast-passthrough.ts) never needs it: code that runs in the sidecar takes undici from here, and imports
// only undici's types directly. (undici is CommonJS, so it loads synchronously where it is first needed.)
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

let loaded: typeof Undici | undefined;

export function undici(): typeof Undici {
  loaded ??= createRequire(import.meta.url)('undici') as typeof Undici;
  return loaded;
}
