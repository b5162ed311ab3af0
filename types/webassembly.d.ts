// The WebAssembly JS API as Node 24 provides it. TypeScript ships these types only in the DOM libs, which
// would bring browser globals into server code; JSPI (Suspending, promising) is in no lib yet.
declare namespace WebAssembly {
  type ImportValue = ExportValue | number;
  type ExportValue = ((...args: any[]) => any) | Global | Memory | Table;
  type Imports = Record<string, Record<string, ImportValue>>;
  type Exports = Record<string, ExportValue>;

  interface ModuleImportDescriptor {
    kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
    module: string;
    name: string;
  }
  interface ModuleExportDescriptor {
    kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
    name: string;
  }
  class Module {
    constructor(bytes: BufferSource);
    static imports(module: Module): ModuleImportDescriptor[];
    static exports(module: Module): ModuleExportDescriptor[];
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  class Global {
    constructor(descriptor: { value: string; mutable?: boolean }, value?: unknown);
    value: any;
  }
  class Table {
    readonly length: number;
  }
  class CompileError extends Error {}
  class LinkError extends Error {}
  class RuntimeError extends Error {}
  /** JSPI: marks an import that may return a promise; the calling Wasm stack suspends until it settles. */
  class Suspending {
    constructor(fn: (...args: any[]) => any);
  }
  /** JSPI: wraps an export so that it returns a promise and may suspend inside Suspending imports. */
  function promising(fn: (...args: any[]) => any): (...args: any[]) => Promise<any>;
  function validate(bytes: BufferSource): boolean;
  function compile(bytes: BufferSource): Promise<Module>;
  function instantiate(module: Module, imports?: Imports): Promise<Instance>;
}
