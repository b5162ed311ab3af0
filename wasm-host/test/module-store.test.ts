// Modules are checked against the ABI on the way in and refused with a reason; stored by digest and verified
// when read back; compiled once; instrumented so that the watchdog can interrupt them.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointModule, fixtureModule } from '../../test/support/modules.ts';
import { addInterruptChecks } from '../interrupt.ts';
import { checkModule } from '../module-check.ts';
import { digestOf, ModuleStore } from '../module-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'roam-modules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('module checks', () => {
  it('accepts every example endpoint and reports the host functions it imports', () => {
    expect(checkModule(endpointModule('hello')).hostImports).toEqual([]);
    expect(checkModule(endpointModule('cart')).hostImports).toEqual(
      expect.arrayContaining(['kv_get', 'kv_put']),
    );
    expect(checkModule(endpointModule('checkout')).hostImports).toContain('call');
  });

  it.each([
    [
      'not Wasm at all',
      new TextEncoder().encode('hello, world'),
      'ROAM_ERR_MODULE_INVALID',
      /not a valid WebAssembly module/,
    ],
    [
      'a truncated module',
      endpointModule('hello').subarray(0, 40),
      'ROAM_ERR_MODULE_INVALID',
      /not a valid WebAssembly module/,
    ],
    [
      'an import the ABI does not offer',
      fixtureModule('badimport'),
      'ROAM_ERR_MODULE_UNSUPPORTED',
      /roam\.open_socket/,
    ],
    ['its own memory', fixtureModule('ownmemory'), 'ROAM_ERR_MODULE_UNSUPPORTED', /env\.memory/],
    ['another ABI version', fixtureModule('badabi'), 'ROAM_ERR_MODULE_UNSUPPORTED', /ABI version 2/],
  ])('refuses %s, saying why', (_what, bytes, code, message) => {
    expect(() => checkModule(bytes)).toThrow(
      expect.objectContaining({ code, message: expect.stringMatching(message) }),
    );
  });

  it('instruments every loop and keeps the module valid', () => {
    const bytes = fixtureModule('loop');
    const info = checkModule(bytes);
    const out = addInterruptChecks(bytes, info);
    expect(WebAssembly.validate(out)).toBe(true);
    expect(out.length).toBeGreaterThan(bytes.length);
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(out));
    expect(imports).toContainEqual({ module: 'roam', name: 'interrupt', kind: 'memory' });
  });
});

describe('module store', () => {
  it('names modules by sha256, deduplicates, and refuses a digest that does not match', () => {
    const store = new ModuleStore();
    const bytes = endpointModule('hello');
    const digest = store.put(bytes);
    expect(digest).toBe(digestOf(bytes));
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(store.put(bytes, digest)).toBe(digest);
    const other = digestOf(new Uint8Array([1]));
    expect(() => store.put(bytes, other)).toThrow(
      expect.objectContaining({ code: 'ROAM_ERR_DIGEST_MISMATCH' }),
    );
    expect(() => store.put(bytes, 'md5:abc')).toThrow(
      expect.objectContaining({ code: 'ROAM_ERR_INVALID_ARGUMENT' }),
    );
  });

  it('does not store a module that speaks another ABI version', () => {
    const store = new ModuleStore(dir);
    const bytes = fixtureModule('badabi');
    expect(() => store.put(bytes)).toThrow(
      expect.objectContaining({
        code: 'ROAM_ERR_MODULE_UNSUPPORTED',
        message: expect.stringContaining('ABI version 2'),
      }),
    );
    expect(store.has(digestOf(bytes))).toBe(false);
  });

  it('compiles a module once however often it is loaded', async () => {
    const store = new ModuleStore();
    const digest = store.put(endpointModule('hello'));
    const [a, b] = await Promise.all([store.load(digest), store.load(digest)]);
    expect(a).toBe(b);
    expect(await store.load(digest)).toBe(a);
  });

  it('keeps blobs on disk across restarts and detects a corrupted blob', () => {
    const digest = new ModuleStore(dir).put(endpointModule('hello'));
    const again = new ModuleStore(dir);
    expect(again.has(digest)).toBe(true);
    expect(digestOf(again.bytes(digest))).toBe(digest);
    const file = readdirSync(dir).find((f) => f.endsWith('.wasm'))!;
    writeFileSync(join(dir, file), new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    expect(() => new ModuleStore(dir).bytes(digest)).toThrow(
      expect.objectContaining({ code: 'ROAM_ERR_DIGEST_MISMATCH' }),
    );
  });
});
