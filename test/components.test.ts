// WASI-HTTP components beside ABI v1 modules: a component is checked for its world when it is stored, and the
// JavaScript hello built with componentize-js answers like the AssemblyScript hello.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { WasmHost } from '../wasm-host/host.ts';

const COMPONENT = new URL('../build/components/hello.wasm', import.meta.url);
const ASC = new URL('../build/endpoints/hello.wasm', import.meta.url);

describe('components', () => {
  const host = new WasmHost({ id: 'h', tier: 'in-process', exec: 'inline' });
  afterAll(() => host.close());

  it('refuses a component that does not export wasi:http/incoming-handler, naming it', () => {
    const empty = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
    expect(() => host.modules.put(empty)).toThrow(
      expect.objectContaining({
        code: 'ROAM_ERR_MODULE_UNSUPPORTED',
        message: expect.stringContaining('does not export "wasi:http/incoming-handler"'),
      }),
    );
  });

  // build/components/hello.wasm is built by hand with componentize-js for now (docs/components.md): npm run
  // build does not make it yet (issue 20), so this comparison runs only where someone built it.
  const built = existsSync(COMPONENT);
  if (!built)
    console.warn(
      'skipped: the JavaScript hello component comparison (build/components/hello.wasm: docs/components.md)',
    );
  it.skipIf(!built)(
    'serves the JavaScript hello with the AssemblyScript hello answers, on one reused instance',
    { timeout: 120_000 },
    async () => {
      await host.activate('hello-js', host.modules.put(readFileSync(COMPONENT)));
      await host.activate('hello-as', host.modules.put(readFileSync(ASC)), { exec: 'inline' });
      for (const req of [
        { method: 'GET', path: '/hello', query: 'name=Ada', headers: [], body: new Uint8Array() },
        { method: 'GET', path: '/hello', query: '', headers: [], body: new Uint8Array() },
        { method: 'GET', path: '/hello', query: 'name=%C3%A9t%C3%A9', headers: [], body: new Uint8Array() },
        { method: 'POST', path: '/hello', query: '', headers: [], body: new Uint8Array([1]) },
      ]) {
        const js = await host.invoke('hello-js', req);
        const as = await host.invoke('hello-as', req);
        expect({ status: js.status, body: Buffer.from(js.body).toString() }).toEqual({
          status: as.status,
          body: Buffer.from(as.body).toString(),
        });
      }
    },
  );
});
