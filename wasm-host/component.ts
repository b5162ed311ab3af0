// Runs wasi:http/proxy components: jco transpiles a component into JavaScript glue and core modules (once per
// digest, kept on disk beside the module blobs), and one instance per endpoint version serves every request
// through an in-memory wasi:http host. jco is an optional dependency loaded on first use, so only a host that
// runs a component pays for it.
import { randomBytes, randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  EndpointTimeoutError,
  EndpointTrapError,
  ModuleInvalidError,
  ModuleUnsupportedError,
} from '../core/errors.ts';
import type { EndpointRequest, EndpointResponse, HeaderList } from './abi.ts';
import type { LogSink } from './host-services.ts';
import type { Limits } from './limits.ts';

const JCO = '@bytecodealliance/jco-transpile';

/** A transpiled component: its JavaScript glue (an ES module file) and its compiled core modules. */
export interface LoadedComponent {
  digest: string;
  glue: string;
  cores: Map<string, WebAssembly.Module>;
}

interface Glue {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
  ): Promise<Record<string, unknown>>;
}

interface Transpiled {
  files: Record<string, Uint8Array | string>;
}

let scratch: string | undefined;

/**
 * Transpiles the component into DIR/<hex>.component/ (a fresh temporary directory without `dir`), or reuses
 * what an earlier run left there, and compiles its core modules.
 */
export async function loadComponent(
  digest: string,
  bytes: Uint8Array,
  dir: string | undefined,
): Promise<LoadedComponent> {
  scratch ??= dir ? undefined : mkdtempSync(join(tmpdir(), 'roam-components-'));
  const out = join(dir ?? scratch!, `${digest.slice('sha256:'.length)}.component`);
  const glue = join(out, 'component.js');
  if (!existsSync(glue)) {
    let jco: { transpileBytes(b: Uint8Array, o: object): Promise<Transpiled> };
    try {
      jco = await import(JCO);
    } catch (err) {
      throw new ModuleUnsupportedError(
        `this host cannot run components: ${JCO} is not installed (npm install ${JCO})`,
        { cause: err },
      );
    }
    let transpiled: Transpiled;
    try {
      transpiled = await jco.transpileBytes(bytes, {
        name: 'component',
        instantiation: { tag: 'async' },
        noTypescript: true,
      });
    } catch (err) {
      throw new ModuleInvalidError(`component ${digest} failed to transpile: ${(err as Error).message}`, {
        cause: err,
      });
    }
    // Written beside and renamed into place, so a crash never leaves a half-written cache entry.
    const tmp = `${out}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    for (const [name, content] of Object.entries(transpiled.files)) {
      if (name.endsWith('.d.ts')) continue;
      mkdirSync(dirname(join(tmp, name)), { recursive: true });
      writeFileSync(join(tmp, name), content);
    }
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  }
  const cores = new Map<string, WebAssembly.Module>();
  const source = readFileSync(glue, 'utf8');
  for (const [, name] of source.matchAll(/getCoreModule\('([^']+\.wasm)'\)/g)) {
    try {
      cores.set(name!, await WebAssembly.compile(readFileSync(join(out, name!))));
    } catch (err) {
      throw new ModuleInvalidError(`component ${digest} failed to compile: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return { digest, glue, cores };
}

interface IncomingHandler {
  handle(request: IncomingRequest, out: ResponseOutparam): void;
}

/**
 * One instance of a component serving an endpoint. Invocations run synchronously to completion (the
 * component's event loop turns inside `handle`), so they never interleave on the instance. A trap discards
 * the instance; the next invocation makes a fresh one.
 */
export class ComponentRunner {
  private readonly endpoint: string;
  private readonly component: LoadedComponent;
  private readonly limits: Limits;
  private readonly log: LogSink;
  private handler: IncomingHandler | undefined;

  constructor(endpoint: string, component: LoadedComponent, limits: Limits, log: LogSink) {
    this.endpoint = endpoint;
    this.component = component;
    this.limits = limits;
    this.log = log;
  }

  /** Instantiates the component (its start-up code runs now, so a component that cannot start fails here). */
  async start(): Promise<void> {
    const { instantiate } = (await import(pathToFileURL(this.component.glue).href)) as Glue;
    const exports = await instantiate(
      (name) => this.component.cores.get(name)!,
      wasiImports((level, line) => this.log(this.endpoint, level, line)),
    );
    const handler = (exports.incomingHandler ??
      Object.entries(exports).find(([k]) => k.startsWith('wasi:http/incoming-handler'))?.[1]) as
      | IncomingHandler
      | undefined;
    if (typeof handler?.handle !== 'function') {
      throw new ModuleUnsupportedError(`component ${this.component.digest} has no incoming-handler.handle`);
    }
    this.handler = handler;
  }

  async invoke(req: EndpointRequest): Promise<EndpointResponse> {
    if (!this.handler) await this.start();
    const start = performance.now();
    let response: OutgoingResponse | undefined;
    let failure: unknown;
    const out = new ResponseOutparam((result) => {
      if (result.tag === 'ok') response = result.val;
      else failure = result.val;
    });
    try {
      this.handler!.handle(incomingRequest(req), out);
    } catch (err) {
      this.handler = undefined;
      throw new EndpointTrapError(`endpoint "${this.endpoint}" trapped: ${(err as Error).message}`, {
        endpoint: this.endpoint,
        cause: err,
      });
    }
    // The handler runs to completion on this thread, so the deadline can only be checked once it returns.
    if (performance.now() - start > this.limits.timeoutMs) {
      throw new EndpointTimeoutError(
        `endpoint "${this.endpoint}" exceeded its ${this.limits.timeoutMs} ms deadline`,
        { endpoint: this.endpoint },
      );
    }
    if (!response) {
      throw new EndpointTrapError(
        `endpoint "${this.endpoint}" did not set a response${failure ? `: ${JSON.stringify(failure)}` : ''}`,
        { endpoint: this.endpoint },
      );
    }
    const body = response.bodyBytes();
    if (body.length > this.limits.maxResponseBytes) {
      throw new EndpointTrapError(
        `endpoint "${this.endpoint}" answered ${body.length} bytes, over its ${this.limits.maxResponseBytes}`,
        { endpoint: this.endpoint },
      );
    }
    return { status: response.statusCode(), headers: response.fields.list(), body };
  }
}

// An in-memory host for the wasi:http/proxy world: the request and response live in memory, every stream is
// ready at once, and outgoing HTTP is refused (mesh calls from components are not mapped yet).

const encoder = new TextEncoder();
const decoder = new TextDecoder();
type Result<T, E> = { tag: 'ok'; val: T } | { tag: 'err'; val: E };

class Pollable {
  private readonly deadline: bigint;
  constructor(deadline = 0n) {
    this.deadline = deadline;
  }
  ready(): boolean {
    return process.hrtime.bigint() >= this.deadline;
  }
  block(): void {
    const wait = this.deadline - process.hrtime.bigint();
    if (wait > 0n)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(wait / 1_000_000n) + 1);
  }
}

function poll(list: Pollable[]): Uint32Array {
  for (;;) {
    const ready = list.flatMap((p, i) => (p.ready() ? [i] : []));
    if (ready.length) return Uint32Array.from(ready);
    list[0]?.block();
  }
}

class IoError {
  private readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
  toDebugString(): string {
    return this.message;
  }
}

class InputStream {
  private bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
  read(len: bigint): Uint8Array {
    if (this.bytes.length === 0) throw { tag: 'closed' };
    const n = Math.min(Number(len), this.bytes.length);
    const chunk = this.bytes.slice(0, n);
    this.bytes = this.bytes.subarray(n);
    return chunk;
  }
  blockingRead(len: bigint): Uint8Array {
    return this.read(len);
  }
  skip(len: bigint): bigint {
    return BigInt(this.read(len).length);
  }
  blockingSkip(len: bigint): bigint {
    return this.skip(len);
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}

class OutputStream {
  readonly chunks: Uint8Array[] = [];
  private readonly sink: ((bytes: Uint8Array) => void) | undefined;
  constructor(sink?: (bytes: Uint8Array) => void) {
    this.sink = sink;
  }
  checkWrite(): bigint {
    return 1n << 20n;
  }
  write(bytes: Uint8Array): void {
    if (this.sink) this.sink(bytes);
    else this.chunks.push(Uint8Array.from(bytes));
  }
  blockingWriteAndFlush(bytes: Uint8Array): void {
    this.write(bytes);
  }
  writeZeroes(len: bigint): void {
    this.write(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len: bigint): void {
    this.writeZeroes(len);
  }
  flush(): void {}
  blockingFlush(): void {}
  subscribe(): Pollable {
    return new Pollable();
  }
  splice(from: InputStream, len: bigint): bigint {
    const chunk = from.read(len);
    this.write(chunk);
    return BigInt(chunk.length);
  }
  blockingSplice(from: InputStream, len: bigint): bigint {
    return this.splice(from, len);
  }
}

class Fields {
  private entries_: [string, Uint8Array][] = [];
  immutable = false;
  static fromList(entries: [string, Uint8Array][]): Fields {
    const f = new Fields();
    f.entries_ = entries.map(([k, v]) => [k.toLowerCase(), Uint8Array.from(v)]);
    return f;
  }
  private mutable(): void {
    if (this.immutable) throw { tag: 'immutable' };
  }
  get(name: string): Uint8Array[] {
    const key = name.toLowerCase();
    return this.entries_.filter(([k]) => k === key).map(([, v]) => v);
  }
  has(name: string): boolean {
    return this.get(name).length > 0;
  }
  set(name: string, values: Uint8Array[]): void {
    this.delete(name);
    for (const v of values) this.append(name, v);
  }
  delete(name: string): void {
    this.mutable();
    const key = name.toLowerCase();
    this.entries_ = this.entries_.filter(([k]) => k !== key);
  }
  append(name: string, value: Uint8Array): void {
    this.mutable();
    this.entries_.push([name.toLowerCase(), Uint8Array.from(value)]);
  }
  entries(): [string, Uint8Array][] {
    return this.entries_.map(([k, v]) => [k, v]);
  }
  clone(): Fields {
    return Fields.fromList(this.entries_);
  }
  list(): HeaderList {
    return this.entries_.map(([k, v]) => [k, decoder.decode(v)]);
  }
}

function frozen(fields: Fields): Fields {
  fields.immutable = true;
  return fields;
}

const METHODS = new Set(['get', 'head', 'post', 'put', 'delete', 'connect', 'options', 'trace', 'patch']);

class IncomingRequest {
  private readonly req: EndpointRequest;
  private readonly fields: Fields;
  private consumed = false;
  constructor(req: EndpointRequest) {
    this.req = req;
    this.fields = frozen(Fields.fromList(req.headers.map(([k, v]) => [k, encoder.encode(v)])));
  }
  method(): { tag: string; val?: string } {
    const m = this.req.method.toLowerCase();
    return METHODS.has(m) ? { tag: m } : { tag: 'other', val: this.req.method };
  }
  pathWithQuery(): string {
    return this.req.query ? `${this.req.path}?${this.req.query}` : this.req.path;
  }
  scheme(): { tag: string } {
    return { tag: 'HTTP' };
  }
  authority(): string {
    return this.req.headers.find(([k]) => k === 'host')?.[1] ?? 'localhost';
  }
  headers(): Fields {
    return this.fields;
  }
  consume(): IncomingBody {
    if (this.consumed) throw undefined;
    this.consumed = true;
    return new IncomingBody(this.req.body);
  }
}

function incomingRequest(req: EndpointRequest): IncomingRequest {
  return new IncomingRequest(req);
}

class FutureTrailers {
  subscribe(): Pollable {
    return new Pollable();
  }
  get(): Result<Result<undefined, unknown>, undefined> {
    return { tag: 'ok', val: { tag: 'ok', val: undefined } };
  }
}

class IncomingBody {
  private body: InputStream | undefined;
  constructor(bytes: Uint8Array) {
    this.body = new InputStream(bytes);
  }
  stream(): InputStream {
    const s = this.body;
    if (!s) throw undefined;
    this.body = undefined;
    return s;
  }
  static finish(_body: IncomingBody): FutureTrailers {
    return new FutureTrailers();
  }
}

class OutgoingBody {
  readonly out = new OutputStream();
  private taken = false;
  write(): OutputStream {
    if (this.taken) throw undefined;
    this.taken = true;
    return this.out;
  }
  static finish(_body: OutgoingBody, _trailers?: Fields): void {}
}

class OutgoingResponse {
  readonly fields: Fields;
  private status = 200;
  private body_: OutgoingBody | undefined;
  constructor(headers: Fields) {
    this.fields = frozen(headers);
  }
  statusCode(): number {
    return this.status;
  }
  setStatusCode(status: number): void {
    if (status < 100 || status > 599) throw undefined;
    this.status = status;
  }
  headers(): Fields {
    return this.fields;
  }
  body(): OutgoingBody {
    if (this.body_) throw undefined;
    this.body_ = new OutgoingBody();
    return this.body_;
  }
  bodyBytes(): Uint8Array {
    const chunks = this.body_?.out.chunks ?? [];
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    return bytes;
  }
}

class ResponseOutparam {
  private readonly listener: (result: Result<OutgoingResponse, unknown>) => void;
  constructor(listener: (result: Result<OutgoingResponse, unknown>) => void) {
    this.listener = listener;
  }
  static set(param: ResponseOutparam, result: Result<OutgoingResponse, unknown>): void {
    param.listener(result);
  }
}

/** Built by a component that calls fetch(); never sent: outgoing-handler.handle refuses it. */
class OutgoingRequest {
  private readonly fields: Fields;
  constructor(headers: Fields) {
    this.fields = frozen(headers);
  }
  headers(): Fields {
    return this.fields;
  }
  body(): OutgoingBody {
    return new OutgoingBody();
  }
  method(): { tag: string } {
    return { tag: 'get' };
  }
  setMethod(): void {}
  pathWithQuery(): undefined {
    return undefined;
  }
  setPathWithQuery(): void {}
  scheme(): undefined {
    return undefined;
  }
  setScheme(): void {}
  authority(): undefined {
    return undefined;
  }
  setAuthority(): void {}
}

class RequestOptions {
  connectTimeout(): undefined {
    return undefined;
  }
  setConnectTimeout(): void {}
  firstByteTimeout(): undefined {
    return undefined;
  }
  setFirstByteTimeout(): void {}
  betweenBytesTimeout(): undefined {
    return undefined;
  }
  setBetweenBytesTimeout(): void {}
}

class Unavailable {}

const randomBytesOf = (len: bigint) => new Uint8Array(randomBytes(Number(len)));
const randomU64 = () => randomFillSync(new BigUint64Array(1))[0]!;

/** The imports jco's glue asks for, by interface name without version. */
function wasiImports(log: (level: number, line: string) => void): Record<string, unknown> {
  const logStream = (level: number) =>
    new OutputStream((bytes) => {
      for (const line of decoder.decode(bytes).split('\n')) if (line) log(level, line);
    });
  const stdout = logStream(1);
  const stderr = logStream(3);
  return {
    'wasi:cli/stdin': { getStdin: () => new InputStream(new Uint8Array()) },
    'wasi:cli/stdout': { getStdout: () => stdout },
    'wasi:cli/stderr': { getStderr: () => stderr },
    'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    'wasi:cli/exit': {
      exit: () => {
        throw new Error('component called exit');
      },
    },
    'wasi:cli/terminal-input': { TerminalInput: Unavailable },
    'wasi:cli/terminal-output': { TerminalOutput: Unavailable },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:clocks/monotonic-clock': {
      now: () => process.hrtime.bigint(),
      resolution: () => 1n,
      subscribeInstant: (at: bigint) => new Pollable(at),
      subscribeDuration: (d: bigint) => new Pollable(process.hrtime.bigint() + d),
    },
    'wasi:clocks/wall-clock': {
      now: () => {
        const ms = Date.now();
        return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
      },
      resolution: () => ({ seconds: 0n, nanoseconds: 1_000_000 }),
    },
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    'wasi:filesystem/types': { Descriptor: Unavailable, filesystemErrorCode: () => undefined },
    'wasi:http/outgoing-handler': {
      handle: () => {
        throw { tag: 'HTTP-request-denied' };
      },
    },
    'wasi:http/types': {
      Fields,
      FutureIncomingResponse: Unavailable,
      FutureTrailers,
      IncomingBody,
      IncomingRequest,
      IncomingResponse: Unavailable,
      OutgoingBody,
      OutgoingRequest,
      OutgoingResponse,
      RequestOptions,
      ResponseOutparam,
      httpErrorCode: () => undefined,
    },
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:random/random': { getRandomBytes: randomBytesOf, getRandomU64: randomU64 },
    'wasi:random/insecure': { getInsecureRandomBytes: randomBytesOf, getInsecureRandomU64: randomU64 },
    'wasi:random/insecure-seed': { insecureSeed: () => [1n, 2n] },
  };
}
