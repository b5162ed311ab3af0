// Content-addressed module store: modules are named by the sha256 of their bytes, checked against the ABI
// when they come in, verified against their digest whenever they are read back from disk, and compiled once
// (instrumented for interrupts) however many instances and endpoints use them.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DigestMismatchError,
  InvalidArgumentError,
  ModuleInvalidError,
  NotFoundError,
} from '../core/errors.ts';
import type { LoadedComponent } from './component.ts';
import { checkComponent, isComponent } from './component-check.ts';
import type { LoadedModule } from './instance.ts';
import { addInterruptChecks } from './interrupt.ts';
import { checkModule, type ModuleInfo } from './module-check.ts';

export const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export class ModuleStore {
  private readonly dir: string | undefined;
  private readonly blobs = new Map<string, Uint8Array>();
  private readonly loaded = new Map<string, Promise<LoadedModule>>();
  private readonly infos = new Map<string, ModuleInfo>();
  private readonly components = new Map<string, Promise<LoadedComponent>>();

  /** With `dir`, blobs also live on disk as DIR/<hex>.wasm and survive restarts. */
  constructor(dir?: string) {
    this.dir = dir;
    if (dir) mkdirSync(dir, { recursive: true });
  }

  /**
   * Checks a module and stores it; returns its digest. With `expected`, refuses bytes whose digest differs.
   * Storing the same bytes twice is a no-op.
   */
  put(bytes: Uint8Array, expected?: string): string {
    if (expected !== undefined && !DIGEST.test(expected)) {
      throw new InvalidArgumentError(`digest "${expected}" is not of the form sha256:<64 hex digits>`);
    }
    const digest = digestOf(bytes);
    if (expected !== undefined && expected !== digest) {
      throw new DigestMismatchError(`module bytes have digest ${digest}, not the expected ${expected}`);
    }
    if (this.blobs.has(digest)) return digest;
    const component = isComponent(bytes);
    if (component) checkComponent(bytes);
    else this.infos.set(digest, checkModule(bytes));
    const copy = Uint8Array.from(bytes);
    if (this.dir) {
      const file = this.file(digest);
      writeFileSync(`${file}.tmp`, copy);
      renameSync(`${file}.tmp`, file);
    }
    this.blobs.set(digest, copy);
    // A component is transpiled when an endpoint first activates it: transpiling costs seconds of CPU.
    if (component) return digest;
    // Compile in the background right away (the engine compiles off the main thread): the activation that
    // usually follows an upload then finds the module ready. Errors surface from load().
    this.load(digest).catch(() => {});
    return digest;
  }

  /** Forgets a module (one that failed to compile, say): from memory and from disk. */
  remove(digest: string): void {
    this.blobs.delete(digest);
    this.infos.delete(digest);
    this.loaded.delete(digest);
    this.components.delete(digest);
    if (this.dir && DIGEST.test(digest)) rmSync(this.file(digest), { force: true });
  }

  has(digest: string): boolean {
    return this.blobs.has(digest) || this.readFromDisk(digest) !== undefined;
  }

  bytes(digest: string): Uint8Array {
    const bytes = this.blobs.get(digest) ?? this.readFromDisk(digest);
    if (bytes === undefined) throw new NotFoundError(`module ${digest} is not in this store`);
    return bytes;
  }

  /** Whether `digest` is a wasi:http component rather than an ABI v1 module. */
  isComponent(digest: string): boolean {
    return isComponent(this.bytes(digest));
  }

  /** The transpiled component; transpiled once per digest (and kept beside the blobs when they are on disk). */
  loadComponent(digest: string): Promise<LoadedComponent> {
    let pending = this.components.get(digest);
    if (pending === undefined) {
      pending = import('./component.ts').then(({ loadComponent }) =>
        loadComponent(digest, this.bytes(digest), this.dir),
      );
      this.components.set(digest, pending);
      pending.catch(() => this.components.delete(digest));
    }
    return pending;
  }

  /** The compiled, instrumented module; compiled once per digest. */
  load(digest: string): Promise<LoadedModule> {
    let pending = this.loaded.get(digest);
    if (pending === undefined) {
      pending = this.compile(digest);
      this.loaded.set(digest, pending);
      pending.catch(() => this.loaded.delete(digest));
    }
    return pending;
  }

  private async compile(digest: string): Promise<LoadedModule> {
    const bytes = this.bytes(digest);
    const info = this.infos.get(digest) ?? checkModule(bytes);
    const instrumented = addInterruptChecks(bytes, info);
    try {
      const module = await WebAssembly.compile(instrumented);
      return { digest, module, info };
    } catch (err) {
      throw new ModuleInvalidError(`module ${digest} failed to compile: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  private file(digest: string): string {
    return join(this.dir!, `${digest.slice('sha256:'.length)}.wasm`);
  }

  private readFromDisk(digest: string): Uint8Array | undefined {
    if (!this.dir || !DIGEST.test(digest)) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(this.file(digest));
    } catch {
      return undefined;
    }
    if (digestOf(bytes) !== digest) {
      throw new DigestMismatchError(`module file for ${digest} on disk is corrupt (digest differs)`);
    }
    this.blobs.set(digest, bytes);
    return bytes;
  }
}
