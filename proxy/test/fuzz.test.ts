// Fuzzes a real `roam proxy` process over raw sockets (issue 14): HTTP/1.1 request lines and headers, chunked
// framing, abrupt ends, and HTTP/2 (node:http2's client for valid framing, raw frames for the rest).
// A fixed seed and a few runs by default; longer on demand, e.g.
//   ROAM_FUZZ_RUNS=5000 ROAM_FUZZ_SEED=123 npx vitest run proxy/test/fuzz.test.ts
// and to replay a failure fast-check printed: ROAM_FUZZ_SEED=<seed> ROAM_FUZZ_PATH=<path> (no shrinking).
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  EXCHANGE_BOUND_MS,
  type Exchange,
  exchange,
  Flag,
  FrameType,
  fuzzIt,
  H2_PREFACE,
  type HttpResponse,
  h2Frame,
  header,
  hpackLiterals,
  parseResponses,
  readH2Frames,
  u32,
} from '../../test/support/fuzz.ts';
import { fixtureModule } from '../../test/support/modules.ts';
import {
  type RoamProcess,
  removeTempFiles,
  startHost,
  startRoam,
  stopAll,
  tempJson,
} from '../../test/support/processes.ts';

// --- the upstream: counts completed requests per x-fuzz-id and answers with a digest of the body it got ---

interface Hit {
  method: string;
  url: string;
  sha256: string;
}
const hits = new Map<string, Hit[]>();

const upstream = createServer((req, res) => {
  const id = String(req.headers['x-fuzz-id'] ?? '');
  const hash = createHash('sha256');
  req.on('data', (d: Buffer) => hash.update(d));
  req.on('end', () => {
    const sha256 = hash.digest('hex');
    const list = hits.get(id) ?? [];
    list.push({ method: req.method ?? '', url: req.url ?? '', sha256 });
    hits.set(id, list);
    const wanted = Number(req.headers['x-fuzz-status']);
    const status = Number.isInteger(wanted) && wanted >= 200 && wanted <= 599 ? wanted : 200;
    const answer = () => {
      res.writeHead(status, {
        'content-type': 'application/json',
        'x-fuzz-upstream': id,
        'x-fuzz-sha256': sha256,
        'x-fuzz-method': req.method ?? '',
        'x-fuzz-url': encodeURIComponent(req.url ?? ''),
      });
      res.end(JSON.stringify({ id, sha256 }));
    };
    const delay = Number(req.headers['x-fuzz-delay-ms']);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
});

// --- the processes: a proxy (restarted if a run crashes it) with a local and a remote echo endpoint ---

let host: RoamProcess;
let proxy: RoamProcess;
let proxyArgs: string[];

function alive(p: RoamProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

async function ensureProxy(): Promise<void> {
  if (alive(proxy)) return;
  await proxy.stop();
  proxy = await startRoam(proxyArgs);
}

let lastId = 0;
function nextId(kind = 'r'): string {
  return `${kind}${++lastId}`;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function completedHits(id: string): Hit[] {
  return hits.get(id) ?? [];
}

/** Checks the upstream completed exactly `expected` requests carrying `id`; says which when it did not. */
function expectHits(id: string, expected: number, ex: Exchange): void {
  const got = completedHits(id);
  if (got.length === expected) return;
  const seen = got.map((h) => `${h.method} ${h.url}`).join(', ');
  throw new Error(
    `the upstream completed ${got.length} requests for it (${seen}), expected ${expected}; the client got ${describeExchange(ex)}`,
  );
}

/** What the proxy's stderr says, for failure messages. */
function stderrTail(p: RoamProcess): string {
  const err = p.stderr();
  return err.length > 3000 ? `...${err.slice(-3000)}` : err;
}

/**
 * After every run: the proxy process is alive and a well-formed request on a new connection gets the
 * upstream's 200. Throws saying how the proxy died (exit code, stderr) when it did.
 */
async function survived(): Promise<void> {
  const id = nextId('control');
  const ex = await exchange(
    proxy.address,
    Buffer.from(`GET /up/control HTTP/1.1\r\nhost: control\r\nx-fuzz-id: ${id}\r\n\r\n`),
    { done: (d) => parseResponses(d, ['GET'], false).responses.length > 0 },
  );
  const res = parseResponses(ex.data, ['GET'], ex.closed).responses[0];
  if (res?.status === 200 && header(res, 'x-fuzz-upstream') === id) return;
  // Give a dying process a moment to be seen as dead.
  if (alive(proxy)) await Promise.race([once(proxy.child, 'exit'), new Promise((r) => setTimeout(r, 500))]);
  if (!alive(proxy)) {
    throw new Error(
      `the proxy crashed (exit code ${proxy.child.exitCode}, signal ${proxy.child.signalCode}); stderr:\n${stderrTail(proxy)}`,
    );
  }
  throw new Error(
    `the control request after the run got ${describeExchange(ex)}; proxy stderr:\n${stderrTail(proxy)}`,
  );
}

function describeExchange(ex: Exchange): string {
  const text = ex.data.toString('latin1');
  const shown = JSON.stringify(text.length > 600 ? `${text.slice(0, 600)}...` : text);
  return `${ex.hung ? 'no answer and no close within the bound' : ex.closed ? 'close' : 'open'}${ex.error ? ` (${ex.error})` : ''} after ${shown}`;
}

beforeAll(async () => {
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  // The remote echo runs on a standalone host; the proxy reaches it by route and by /.roam/call/NAME.
  host = await startHost('edge');
  const up = await request(`${host.url}/modules`, { method: 'POST', body: fixtureModule('echo') });
  const { digest } = (await up.body.json()) as { digest: string };
  const act = await request(`${host.url}/endpoints/remote-echo`, {
    method: 'PUT',
    body: JSON.stringify({ digest }),
  });
  expect(act.statusCode).toBe(200);
  await act.body.dump();

  const routes = tempJson('routes.json', {
    version: 1,
    routes: [
      { match: '* /echo/*', endpoint: 'echo' },
      { match: '* /remote/*', endpoint: 'remote-echo' },
    ],
    endpoints: {
      echo: {
        module: new URL('../../build/fixtures/echo.wasm', import.meta.url).pathname,
        targets: [{ kind: 'local', weight: 1 }],
      },
      'remote-echo': { targets: [{ kind: 'host', url: host.url, weight: 1 }] },
    },
  });
  // The proxy's own timeouts sit well above the liveness bound: every run's client sends a whole request or
  // ends the connection, so an exchange must end because of what the client did, never by a timer running out.
  proxyArgs = [
    'proxy',
    '--listen',
    '127.0.0.1:0',
    '--upstream',
    upstreamUrl,
    '--routes',
    routes,
    '--headers-timeout-ms',
    String(3 * EXCHANGE_BOUND_MS),
  ];
  proxy = await startRoam(proxyArgs);
}, 60_000);

afterAll(async () => {
  await stopAll();
  removeTempFiles();
  upstream.close();
  upstream.closeAllConnections();
});

// --- the request model: every piece says whether it makes the request malformed ---

/**
 * ok: a well-formed piece. bad: the request is malformed (RFC 9110/9112 say to refuse it, or this proxy
 * refuses it by design): a 4xx (or a status in `also`), or a close, never forwarded. odd: the RFCs leave a
 * choice (lenient parsing, an unknown method): forwarded intact, or refused as bad. lt500: any answer
 * below 500 (OPTIONS *).
 */
type Verdict = 'ok' | 'odd' | 'lt500' | 'bad';
const RANK: Record<Verdict, number> = { ok: 0, odd: 1, lt500: 2, bad: 3 };

/** Who answers a well-formed request: the upstream, an echo endpoint (local or remote), or either. */
type Where = 'upstream' | 'echo' | 'any';

interface Piece {
  text: string;
  verdict: Verdict;
  /** Statuses besides 4xx a refusal may use (501 for methods, 505 for versions). */
  also?: number[];
}

interface TargetPiece extends Piece {
  where: Where;
  /** What the upstream should see as the target (origin form). */
  upstreamUrl: string;
}

const ok = (text: string): Piece => ({ text, verdict: 'ok' });
const odd = (text: string, also?: number[]): Piece => ({ text, verdict: 'odd', ...(also ? { also } : {}) });
const bad = (text: string, also?: number[]): Piece => ({ text, verdict: 'bad', ...(also ? { also } : {}) });

const DIGITS = '0123456789';
const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const TCHAR = `${ALPHA}${DIGITS}!#$%&'*+-.^_\`|~`;
const UNRESERVED = `${ALPHA}${DIGITS}-._~`;
const PCHAR = `${UNRESERVED}!$&'()*+,;=:@`;
const VCHAR = Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
const OBS_TEXT = Array.from({ length: 0x80 }, (_, i) => String.fromCharCode(0x80 + i)).join('');
const HEX = '0123456789abcdefABCDEF';

const chars = (set: string) => fc.constantFrom(...set.split(''));
const token = (max = 12) => fc.string({ unit: chars(TCHAR), minLength: 1, maxLength: max });
const pctValid = fc.tuple(chars(HEX), chars(HEX)).map(([a, b]) => `%${a}${b}`);
const segment = fc
  .array(fc.oneof({ weight: 5, arbitrary: chars(PCHAR) }, { weight: 1, arbitrary: pctValid }), {
    maxLength: 8,
  })
  .map((parts) => parts.join(''))
  // "." and ".." would be dot-segments, which a server may normalise: keep routing unambiguous.
  .map((s) => (s === '.' || s === '..' ? `d${s}` : s));
const subPath = fc.array(segment, { maxLength: 3 }).map((segs) => segs.map((s) => `/${s}`).join(''));
const query = fc.option(
  fc.string({ unit: fc.oneof(chars(`${PCHAR}/?`), pctValid), maxLength: 12 }).map((q) => `?${q}`),
  { nil: '' },
);

/** A well-formed origin-form target under `prefix`, answered at `where`. */
function under(prefix: string, where: Where, verdict: Verdict = 'ok'): fc.Arbitrary<TargetPiece> {
  return fc.tuple(subPath, query).map(([p, q]) => ({
    text: `${prefix}${p}${q}`,
    verdict,
    where,
    upstreamUrl: `${prefix}${p}${q}`,
  }));
}

/** Endpoint names that must be refused (bad percent-encoding, outside the name rule, unknown). */
const BAD_NAMES = [
  '%E2%82%AC',
  'a%0Ab',
  '%ZZ',
  '%',
  '%2',
  'a%2Fb',
  '..',
  '.',
  '-x',
  '_x',
  'a%20b',
  '%00',
  '%C3%28',
  'x'.repeat(129),
  '',
  'nosuch',
];

const originTarget: fc.Arbitrary<TargetPiece> = fc.oneof(
  { weight: 4, arbitrary: under('/up', 'upstream') },
  { weight: 3, arbitrary: under('/echo', 'echo') },
  { weight: 2, arbitrary: under('/remote', 'echo') },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('call', 'invoke'), fc.constantFrom('echo', '%65cho', 'ec%68o', 'remote-echo'))
      .chain(([kind, name]) =>
        // The embedded host does not run remote-echo: invoking it here is a 404.
        under(`/.roam/${kind}/${name}`, 'echo', kind === 'invoke' && name === 'remote-echo' ? 'bad' : 'ok'),
      ),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('call', 'invoke'), fc.constantFrom(...BAD_NAMES))
      .chain(([kind, name]) => under(`/.roam/${kind}/${name}`, 'echo', 'bad')),
  },
);

const oddTarget: fc.Arbitrary<TargetPiece> = fc
  .tuple(
    fc.constantFrom(
      '/up/%ZZ',
      '/up/%',
      '/up/%4',
      '/up/a%00b',
      '/up#frag',
      '/up/a"b',
      '/up/{x}',
      '/up/a|b',
      '/up/a\\b',
      '/up/a^b',
      '/up/`',
      '/up/<x>',
      '/up/./x',
      '/up/../echo/x',
      '/.roam',
      '/.roam/',
      '/.roam/other',
      '/.roam/call',
      '/.roam/invoke',
    ),
    query,
  )
  .map(
    ([t, q]): TargetPiece => ({ text: `${t}${q}`, verdict: 'odd', where: 'any', upstreamUrl: `${t}${q}` }),
  );

const badTarget: fc.Arbitrary<TargetPiece> = fc
  .constantFrom(
    '',
    'up/x',
    '/a b',
    '/a\x01b',
    '/a\x7f',
    '/\xe9',
    '/a\tb',
    '/a\rb',
    '//',
    'x:80',
    'example.com:443',
  )
  .map((t): TargetPiece => ({ text: t, verdict: t === '//' ? 'odd' : 'bad', where: 'any', upstreamUrl: t }));

const absoluteTarget: fc.Arbitrary<TargetPiece> = fc.oneof(
  // A good authority: routed by the path as if it were in origin form.
  fc
    .tuple(
      fc.constantFrom('http', 'HTTP', 'Http', 'https'),
      fc.constantFrom('x', 'example.com:8080', '127.0.0.1', '[::1]:80', 'a.b-c_d~e', 'X.Example'),
      fc.oneof(
        originTarget,
        fc.constantFrom('', '?a=b').map(
          (q): TargetPiece => ({
            text: q,
            verdict: 'ok',
            where: 'upstream',
            upstreamUrl: `/${q}`,
          }),
        ),
      ),
    )
    .map(
      ([scheme, authority, t]): TargetPiece => ({
        ...t,
        text: `${scheme}://${authority}${t.text}`,
        // https on a cleartext hop: serving it as http or refusing it are both defensible.
        verdict: scheme === 'https' && t.verdict === 'ok' ? 'odd' : t.verdict,
      }),
    ),
  fc
    .tuple(
      fc.constantFrom('http://', 'ftp://x', 'http:/x', 'http://u@x', 'http://[::1', 'http://x:y', 'ws://x'),
      under('/up', 'upstream'),
    )
    .map(([start, t]): TargetPiece => ({ ...t, text: `${start}${t.text}`, verdict: 'bad' })),
);

const target: fc.Arbitrary<TargetPiece> = fc.oneof(
  { weight: 8, arbitrary: originTarget },
  { weight: 2, arbitrary: absoluteTarget },
  { weight: 1, arbitrary: oddTarget },
  { weight: 1, arbitrary: badTarget },
  {
    weight: 1,
    arbitrary: fc.constant<TargetPiece>({ text: '*', verdict: 'bad', where: 'any', upstreamUrl: '*' }),
  },
);

const method: fc.Arbitrary<Piece> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS').map(ok),
  },
  // Methods Node's parser knows but that are no ordinary request's: forward them or refuse them.
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('TRACE', 'PROPFIND', 'MKCOL', 'REPORT', 'PURGE', 'QUERY', 'M-SEARCH', 'LINK')
      .map((m) => odd(m, [501])),
  },
  // Any token is a method; one nobody implements is forwarded or refused (501 says "not implemented").
  {
    weight: 2,
    arbitrary: fc.oneof(token(10), fc.constantFrom('get', 'Post', 'FOO')).map((m) => odd(m, [405, 501])),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('G ET', 'GET\x00', '(GET)', 'G\xc9T', 'GET:', '', 'CONNECT', 'PRI')
      .map((m) => bad(m)),
  },
);

const version: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(ok('HTTP/1.1')) },
  { weight: 2, arbitrary: fc.constant(ok('HTTP/1.0')) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('HTTP/2.0', 'HTTP/3.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/9.9')
      .map((v) => bad(v, [505])),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('http/1.1', 'HTTP/11', 'HTTP/1.', 'HTTP/1.1 ', 'HTTP /1.1', 'HTTP/1.1x')
      .map((v) => bad(v)),
  },
  // No version at all is an HTTP/0.9 request line.
  { weight: 1, arbitrary: fc.constant(odd('')) },
);

/** Host lines, classified later (a missing Host is fine in HTTP/1.0 only). */
interface HostPiece {
  lines: string[];
  kind: 'one' | 'none' | 'duplicate' | 'invalid' | 'empty';
}
const hostName = fc.constantFrom('host', 'Host', 'HOST');
const hostPiece: fc.Arbitrary<HostPiece> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .tuple(
        hostName,
        fc.constantFrom('x', 'example.com:8080', '127.0.0.1', '[::1]:80', 'EXAMPLE.com', 'a.b-c_d~e'),
      )
      .map(([n, v]) => ({ lines: [`${n}: ${v}`], kind: 'one' as const })),
  },
  { weight: 1, arbitrary: fc.constant<HostPiece>({ lines: [], kind: 'none' }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(hostName, hostName, fc.constantFrom('x', 'y'))
      .map(([a, b, v]) => ({ lines: [`${a}: x`, `${b}: ${v}`], kind: 'duplicate' as const })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('a b', 'a/b', 'u@x', '[::1', 'x:y', 'a"b')
      .map((v) => ({ lines: [`host: ${v}`], kind: 'invalid' as const })),
  },
  { weight: 1, arbitrary: fc.constant<HostPiece>({ lines: ['host:'], kind: 'empty' }) },
);

const fieldValue = fc
  .string({
    unit: fc.oneof(
      { weight: 8, arbitrary: chars(`${VCHAR}  \t`) },
      { weight: 1, arbitrary: chars(OBS_TEXT) },
    ),
    maxLength: 40,
  })
  .map((v) => v.trim());

const headerLine: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(token(), fieldValue).map(([n, v]) => ok(`x-h-${n}: ${v}`)) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(
        'connection: close',
        'Connection: keep-alive',
        'connection: close, x-h-private',
        'te: trailers',
        'expect: 100-continue',
        'Expect: 100-Continue',
        'accept: */*',
        'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'traceparent: not-a-trace',
        'x-forwarded-for: 10.0.0.1',
        'x-forwarded-proto: https',
        'via: 1.1 other',
        'cookie: a=b; c=d',
        'x-h-empty:',
        'x-h-private: dropped',
      )
      .map(ok),
  },
  // Lenient parsers take these (RFC 9112 lets a recipient replace obs-fold with SP, accept a bare LF).
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('expect: something-else', 'x-h-a: b\r\n folded', 'x-h-a: b\n')
      .map((l) => odd(l, [417])),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        'x-h-a : b',
        'x h: b',
        'x(h): b',
        ': b',
        'x-h-nocolon',
        'x-h-a: a\x00b',
        'x-h-a: a\x7fb',
        'x-h-a: a\rb',
        'x-h-\xe9: b',
        'x-h-a:\x01',
        `x-h-big: ${'a'.repeat(17_000)}`,
      )
      .map((l) => bad(l)),
  },
);

/** The body and the header lines that frame it; `content` is what a recipient should get. */
interface BodyPiece extends Piece {
  headers: string[];
  wire: Uint8Array;
  content: Uint8Array;
  /** The message is incomplete: the client half-closes after it. */
  fin: boolean;
  chunked: boolean;
}

function chunkedWire(content: Uint8Array, cuts: number[]): Buffer {
  const points = [...new Set(cuts.map((c) => c % (content.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const to of [...points, content.length]) {
    if (to > from) {
      parts.push(
        Buffer.from(`${(to - from).toString(16)}\r\n`),
        Buffer.from(content.subarray(from, to)),
        Buffer.from('\r\n'),
      );
      from = to;
    }
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** Framings of an n-byte body a recipient must refuse (bad) or may take as meant (odd), by name. */
const FRAMINGS: Record<
  string,
  { verdict: Verdict; headers: (n: number) => string[]; chunkedWire?: true; fin?: true }
> = {
  'same-twice': { verdict: 'odd', headers: (n) => [`content-length: ${n}`, `content-length: ${n}`] },
  'same-list': { verdict: 'odd', headers: (n) => [`content-length: ${n}, ${n}`] },
  conflicting: { verdict: 'bad', headers: (n) => [`content-length: ${n}`, `content-length: ${n + 1}`] },
  plus: { verdict: 'bad', headers: (n) => [`content-length: +${n}`] },
  negative: { verdict: 'bad', headers: () => ['content-length: -1'] },
  hex: { verdict: 'bad', headers: (n) => [`content-length: 0x${n.toString(16)}`] },
  decimal: { verdict: 'bad', headers: (n) => [`content-length: ${n}.0`] },
  empty: { verdict: 'bad', headers: () => ['content-length:'] },
  letters: { verdict: 'bad', headers: () => ['content-length: abc'] },
  'with-te': {
    verdict: 'bad',
    headers: (n) => [`content-length: ${n}`, 'transfer-encoding: chunked'],
    chunkedWire: true,
  },
  'te-identity': { verdict: 'bad', headers: () => ['transfer-encoding: identity'], chunkedWire: true },
  'te-not-final': {
    verdict: 'bad',
    headers: () => ['transfer-encoding: chunked, identity'],
    chunkedWire: true,
  },
  // Declares more than it sends, then half-closes.
  truncated: { verdict: 'bad', headers: (n) => [`content-length: ${n + 1 + (n % 7)}`], fin: true },
};

const content = fc.uint8Array({ maxLength: 300 });
const body: fc.Arbitrary<BodyPiece> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constant<BodyPiece>({
      text: 'none',
      verdict: 'ok',
      headers: [],
      wire: new Uint8Array(),
      content: new Uint8Array(),
      fin: false,
      chunked: false,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(content, fc.constantFrom('', '0', '00')).map(([c, zeros]) => ({
      text: 'content-length',
      verdict: 'ok' as const,
      headers: [`content-length: ${zeros}${c.length}`],
      wire: c,
      content: c,
      fin: false,
      chunked: false,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(content, fc.array(fc.nat(), { maxLength: 3 })).map(([c, cuts]) => ({
      text: 'chunked',
      verdict: 'ok' as const,
      headers: ['transfer-encoding: chunked'],
      wire: chunkedWire(c, cuts),
      content: c,
      fin: false,
      chunked: true,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(content, fc.constantFrom(...Object.keys(FRAMINGS))).map(([c, kind]): BodyPiece => {
      const f = FRAMINGS[kind]!;
      return {
        text: kind,
        verdict: f.verdict,
        headers: f.headers(c.length),
        wire: f.chunkedWire ? chunkedWire(c, []) : c,
        content: c,
        fin: f.fin === true,
        chunked: false,
      };
    }),
  },
);

interface H1Case {
  method: Piece;
  target: TargetPiece;
  version: Piece;
  sep: Piece;
  eol: Piece;
  host: HostPiece;
  headers: Piece[];
  body: BodyPiece;
  upstreamStatus: number;
  /** TCP segment boundaries. */
  splits: number[];
}

const h1Case: fc.Arbitrary<H1Case> = fc.record({
  method,
  target,
  version,
  sep: fc.oneof(
    { weight: 20, arbitrary: fc.constant(ok(' ')) },
    { weight: 1, arbitrary: fc.constantFrom('  ', '\t').map((s) => odd(s)) },
  ),
  eol: fc.oneof(
    { weight: 20, arbitrary: fc.constant(ok('\r\n')) },
    { weight: 1, arbitrary: fc.constant(odd('\n')) },
  ),
  host: hostPiece,
  headers: fc.array(headerLine, { maxLength: 5 }),
  body,
  upstreamStatus: fc.constantFrom(200, 200, 200, 201, 204, 404, 418, 500, 503),
  splits: fc.array(fc.nat({ max: 400 }), { maxLength: 3 }),
});

interface Expectation {
  verdict: Verdict;
  where: Where;
  also: number[];
}

function expectation(c: H1Case): Expectation {
  const http10 = c.version.text === 'HTTP/1.0' || c.version.text === '';
  const hostVerdict: Verdict =
    c.host.kind === 'one'
      ? 'ok'
      : c.host.kind === 'none'
        ? http10
          ? 'ok'
          : 'bad'
        : c.host.kind === 'empty'
          ? 'odd'
          : 'bad';
  // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request means the framing is faulty.
  const bodyVerdict: Verdict = c.body.chunked && http10 && c.body.verdict === 'ok' ? 'odd' : c.body.verdict;
  let targetVerdict = c.target.verdict;
  // OPTIONS * asks about the server as a whole: any answer will do, as long as it is not an error.
  if (c.target.text === '*' && c.method.text === 'OPTIONS') targetVerdict = 'lt500';
  const pieces: Piece[] = [
    c.method,
    { ...c.target, verdict: targetVerdict },
    c.version,
    c.sep,
    c.eol,
    { text: 'host', verdict: hostVerdict },
    ...c.headers,
    { ...c.body, verdict: bodyVerdict },
  ];
  let verdict: Verdict = 'ok';
  const also: number[] = [];
  for (const p of pieces) {
    if (RANK[p.verdict] > RANK[verdict]) verdict = p.verdict;
    if (p.verdict !== 'ok') also.push(...(p.also ?? []));
  }
  return { verdict, where: c.target.where, also };
}

function render(c: H1Case, id: string): Buffer {
  const line =
    c.version.text === ''
      ? `${c.method.text}${c.sep.text}${c.target.text}`
      : [c.method.text, c.target.text, c.version.text].join(c.sep.text);
  const lines = [
    line,
    `x-fuzz-id: ${id}`,
    `x-fuzz-status: ${c.upstreamStatus}`,
    ...c.host.lines,
    ...c.headers.map((h) => h.text),
    ...c.body.headers,
  ];
  return Buffer.concat([
    Buffer.from(`${lines.join(c.eol.text)}${c.eol.text}${c.eol.text}`, 'latin1'),
    c.body.wire,
  ]);
}

/** Who answered: the upstream or an echo endpoint (for this request), or nobody (a local reply). */
function answeredBy(res: HttpResponse, id: string): 'upstream' | 'echo' | undefined {
  if (header(res, 'x-fuzz-upstream') === id) return 'upstream';
  if (header(res, 'x-echo-x-fuzz-id') === id) return 'echo';
  return undefined;
}

/** Checks a forwarded answer carries what was sent: status, method, body bytes. Returns what is wrong. */
function integrity(
  res: HttpResponse,
  from: 'upstream' | 'echo',
  sent: { method: string; content: Uint8Array; upstreamStatus: number; upstreamUrl?: string },
): string | undefined {
  if (from === 'upstream') {
    if (res.status !== sent.upstreamStatus)
      return `status ${res.status}, the upstream said ${sent.upstreamStatus}`;
    if (header(res, 'x-fuzz-sha256') !== sha256(sent.content)) return 'the upstream got a different body';
    if (header(res, 'x-fuzz-method') !== sent.method)
      return `the upstream got method ${header(res, 'x-fuzz-method')}`;
    if (sent.upstreamUrl !== undefined && header(res, 'x-fuzz-url') !== encodeURIComponent(sent.upstreamUrl))
      return `the upstream got target ${decodeURIComponent(header(res, 'x-fuzz-url') ?? '')}`;
    return undefined;
  }
  if (res.status !== 200) return `status ${res.status} from the echo endpoint`;
  if (header(res, 'x-method') !== sent.method) return `the endpoint got method ${header(res, 'x-method')}`;
  if (sent.method !== 'HEAD' && !res.body.equals(Buffer.from(sent.content)))
    return `the endpoint echoed ${res.body.length} bytes, ${sent.content.length} were sent`;
  return undefined;
}

function refusalOk(status: number, also: number[]): boolean {
  return (status >= 400 && status < 500) || also.includes(status);
}

/** The first response's problem given the expectation, or undefined. */
function judge(
  responses: HttpResponse[],
  id: string,
  exp: Expectation,
  sent: { method: string; content: Uint8Array; upstreamStatus: number; upstreamUrl?: string },
): string | undefined {
  const res = responses[0];
  if (res === undefined) {
    return exp.verdict === 'ok'
      ? 'the proxy closed the connection without answering a well-formed request'
      : undefined;
  }
  const from = answeredBy(res, id);
  switch (exp.verdict) {
    case 'ok':
      if (from === undefined)
        return `answered ${res.status} itself (${res.body.toString('latin1').slice(0, 300)}), expected the ${exp.where}'s answer`;
      if (exp.where !== 'any' && from !== exp.where)
        return `answered by the ${from}, expected the ${exp.where}`;
      return integrity(res, from, sent);
    case 'bad':
      if (from !== undefined)
        return `a malformed request was forwarded to the ${from} (status ${res.status})`;
      if (!refusalOk(res.status, exp.also))
        return `refused with ${res.status} (${res.body.toString('latin1').slice(0, 300)}), expected a 4xx`;
      return undefined;
    case 'odd':
      if (from !== undefined) return integrity(res, from, { ...sent, upstreamUrl: undefined });
      if (!refusalOk(res.status, exp.also))
        return `refused with ${res.status} (${res.body.toString('latin1').slice(0, 300)}), expected a 4xx or the request forwarded`;
      return undefined;
    case 'lt500':
      if (res.status >= 500 && from === undefined)
        return `answered ${res.status} (${res.body.toString('latin1').slice(0, 300)})`;
      return undefined;
  }
}

/** Reads until one final response per request has arrived (or the connection ends). */
function answered(methods: string[]): (data: Buffer) => boolean {
  return (data) => {
    const p = parseResponses(data, methods, false);
    return p.responses.length >= methods.length || p.error !== undefined;
  };
}

function checkResponses(ex: Exchange, methods: string[]): HttpResponse[] {
  if (ex.hung)
    throw new Error(`the exchange did not end within ${EXCHANGE_BOUND_MS} ms: ${describeExchange(ex)}`);
  const parsed = parseResponses(ex.data, methods, ex.closed);
  if (parsed.error !== undefined)
    throw new Error(`unparseable response (${parsed.error}): ${describeExchange(ex)}`);
  if (parsed.rest.length > 0) throw new Error(`incomplete response: ${describeExchange(ex)}`);
  if (parsed.responses.length > methods.length)
    throw new Error(`more responses than requests: ${describeExchange(ex)}`);
  return parsed.responses;
}

/**
 * A property against the proxy: every run starts with a live proxy, so a crash fails the run that caused it
 * (with the proxy's stderr) and not every run after it.
 */
function proxyProperty<T>(
  name: string,
  defaultRuns: number,
  perRunMs: number,
  arb: fc.Arbitrary<T>,
  run: (value: T) => Promise<void>,
): void {
  const property = fc.asyncProperty(arb, run).beforeEach(async (previous) => {
    await previous();
    await ensureProxy();
  });
  fuzzIt(name, defaultRuns, perRunMs, property);
}

// Runs per property by default (ROAM_FUZZ_RUNS overrides them all): about 15 s for the file on 2 cores.
const H1_RUNS = 150;
const CHUNKED_RUNS = 100;
const ABRUPT_RUNS = 40;
const H2_CLIENT_RUNS = 25;
const H2_RAW_RUNS = 60;

describe('HTTP/1.1 fuzz', () => {
  proxyProperty(
    "answers every request line and header set completely: the upstream's answer when well-formed, a 4xx or a close when not",
    H1_RUNS,
    200,
    h1Case,
    async (c) => {
      const id = nextId();
      const exp = expectation(c);
      const methods = [c.method.text];
      const ex = await exchange(proxy.address, render(c, id), {
        splits: c.splits,
        fin: c.body.fin,
        done: answered(methods),
      });
      const responses = checkResponses(ex, methods);
      const problem = judge(responses, id, exp, {
        method: c.method.text,
        content: c.body.content,
        upstreamStatus: c.upstreamStatus,
        upstreamUrl: c.target.upstreamUrl,
      });
      if (problem) throw new Error(`${problem}: ${describeExchange(ex)}`);
      await survived();
      const forwarded = responses[0] !== undefined && answeredBy(responses[0], id) === 'upstream';
      expectHits(id, forwarded ? 1 : 0, ex);
    },
  );
});

// --- chunked framing ---

type Mutation =
  | { kind: 'bad-size'; chunk: number; size: string }
  | { kind: 'size-more'; chunk: number; by: number }
  | { kind: 'size-less'; chunk: number; by: number }
  | { kind: 'no-crlf'; chunk: number }
  | { kind: 'bare-lf'; chunk: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'no-last-chunk' }
  | { kind: 'no-final-crlf' };

interface ChunkSpec {
  data: Uint8Array;
  size: 'lower' | 'upper' | 'zeros';
  ext: Piece;
}

interface ChunkedCase {
  route: { path: string; where: 'upstream' | 'echo' };
  te: Piece & { lines: string[] };
  chunks: ChunkSpec[];
  lastExt: Piece;
  trailers: Piece[];
  mutation: Mutation | null;
  followUp: boolean;
  splits: number[];
}

const extension: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(ok('')) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        token(6),
        fc.option(
          fc.oneof(
            token(6),
            fc.string({ unit: chars(`${ALPHA} !#`), maxLength: 8 }).map((s) => `"${s}"`),
          ),
        ),
      )
      .map(([n, v]) => ok(v === null ? `;${n}` : `;${n}=${v}`)),
  },
  { weight: 1, arbitrary: fc.constantFrom(';=x', ';a=', ';a="\\"q\\""').map((e) => odd(e)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(';a b', ';a=\x01', ';a="open', ';a=b c', ' ;a').map((e) => bad(e)),
  },
);

const trailer: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(token(), fieldValue).map(([n, v]) => ok(`x-t-${n}: ${v}`)) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('content-length: 5', 'transfer-encoding: chunked', 'host: y')
      .map((t) => odd(t)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('x t: v', 'x-t: a\x00b', 'x-t-nocolon', ' x-t: folded').map((t) => bad(t)),
  },
);

const mutation: fc.Arbitrary<Mutation | null> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  {
    weight: 4,
    arbitrary: fc.oneof(
      fc.record({
        kind: fc.constant('bad-size' as const),
        chunk: fc.nat(),
        size: fc.constantFrom(
          'g',
          'x1',
          '-1',
          '',
          '+1',
          '0x1',
          '1.0',
          '10000000000000000',
          'fffffffffffffffff',
        ),
      }),
      fc.record({
        kind: fc.constant('size-more' as const),
        chunk: fc.nat(),
        by: fc.integer({ min: 1, max: 2 }),
      }),
      fc.record({
        kind: fc.constant('size-less' as const),
        chunk: fc.nat(),
        by: fc.integer({ min: 1, max: 5 }),
      }),
      fc.record({ kind: fc.constant('no-crlf' as const), chunk: fc.nat() }),
      fc.record({ kind: fc.constant('bare-lf' as const), chunk: fc.nat() }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.constant({ kind: 'no-last-chunk' as const }),
      fc.constant({ kind: 'no-final-crlf' as const }),
    ),
  },
);

const chunkedCase: fc.Arbitrary<ChunkedCase> = fc.record({
  route: fc.constantFrom(
    { path: '/up/chunked', where: 'upstream' as const },
    { path: '/echo/chunked', where: 'echo' as const },
    { path: '/remote/chunked', where: 'echo' as const },
    { path: '/.roam/call/echo/chunked', where: 'echo' as const },
  ),
  te: fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .constantFrom(
          'transfer-encoding: chunked',
          'Transfer-Encoding: Chunked',
          'TRANSFER-ENCODING:   chunked  ',
        )
        .map((l) => ({ ...ok(l), lines: [l] })),
    },
    {
      weight: 1,
      arbitrary: fc.constant<Piece & { lines: string[] }>({
        ...odd('twice'),
        lines: ['transfer-encoding: chunked', 'transfer-encoding: chunked'],
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<string[]>(
          ['transfer-encoding: chunked', 'content-length: 3'],
          ['content-length: 0', 'transfer-encoding: chunked'],
          ['transfer-encoding: identity'],
          ['transfer-encoding: chunked, identity'],
          ['transfer-encoding: xchunked'],
        )
        .map((lines) => ({ ...bad(lines.join(' + ')), lines })),
    },
  ),
  chunks: fc.array(
    fc.record({
      data: fc.uint8Array({ minLength: 1, maxLength: 300 }),
      size: fc.constantFrom('lower' as const, 'upper' as const, 'zeros' as const),
      ext: extension,
    }),
    { maxLength: 4 },
  ),
  lastExt: extension,
  trailers: fc.array(trailer, { maxLength: 2 }),
  mutation,
  followUp: fc.boolean(),
  splits: fc.array(fc.nat({ max: 1500 }), { maxLength: 3 }),
});

function sizeText(n: number, style: ChunkSpec['size']): string {
  const hex = n.toString(16);
  return style === 'upper' ? hex.toUpperCase() : style === 'zeros' ? `00${hex}` : hex;
}

/** The chunked message for `c` (head and body), its verdict, and whether the client half-closes after it. */
function renderChunked(c: ChunkedCase, id: string): { bytes: Buffer; verdict: Verdict; fin: boolean } {
  const m = c.mutation;
  let verdict: Verdict = 'ok';
  const worst = (v: Verdict) => {
    if (RANK[v] > RANK[verdict]) verdict = v;
  };
  worst(c.te.verdict);
  let fin = false;
  const parts: Buffer[] = [];
  const n = c.chunks.length + 1; // the data chunks and the last chunk
  const at = m && 'chunk' in m ? m.chunk % n : -1;
  c.chunks.forEach((chunk, i) => {
    let data = Buffer.from(chunk.data);
    let size = sizeText(data.length, chunk.size);
    let eol = '\r\n';
    let after = '\r\n';
    worst(chunk.ext.verdict);
    if (i === at && m) {
      if (m.kind === 'bad-size') {
        size = m.size;
        worst('bad');
      } else if (m.kind === 'size-more') {
        size = sizeText(data.length + m.by, chunk.size);
        worst('bad');
        fin = true;
      } else if (m.kind === 'size-less' && data.length > m.by) {
        size = sizeText(data.length - m.by, chunk.size);
        // The byte after the declared data is not a CR, so the parser cannot take it for the chunk's end.
        data = Buffer.from(data);
        data[data.length - m.by] = 0x58;
        worst('bad');
      } else if (m.kind === 'size-less') {
        size = sizeText(data.length + 1, chunk.size);
        worst('bad');
        fin = true;
      } else if (m.kind === 'no-crlf') {
        after = '';
        worst('bad');
      } else if (m.kind === 'bare-lf') {
        eol = '\n';
        worst('odd');
      }
    }
    parts.push(Buffer.from(`${size}${chunk.ext.text}${eol}`, 'latin1'), data, Buffer.from(after, 'latin1'));
  });
  worst(c.lastExt.verdict);
  let last = `0${c.lastExt.text}\r\n`;
  if (at === n - 1 && m) {
    if (m.kind === 'bad-size') {
      last = `${m.size}${c.lastExt.text}\r\n`;
      worst('bad');
    } else if (m.kind === 'size-more' || m.kind === 'size-less') {
      // The last chunk claims data: what follows is taken as data, then the message is cut.
      last = `${m.by}${c.lastExt.text}\r\n`;
      worst('bad');
      fin = true;
    } else if (m.kind === 'bare-lf') {
      last = `0${c.lastExt.text}\n`;
      worst('odd');
    }
  }
  const trailerText = c.trailers.map((t) => `${t.text}\r\n`).join('');
  for (const t of c.trailers) worst(t.verdict);
  if (m?.kind === 'no-last-chunk') {
    worst('bad');
    fin = true;
  } else if (m?.kind === 'no-final-crlf') {
    parts.push(Buffer.from(`${last}${trailerText}`, 'latin1'));
    worst('bad');
    fin = true;
  } else {
    parts.push(Buffer.from(`${last}${trailerText}\r\n`, 'latin1'));
  }
  const head = Buffer.from(
    `POST ${c.route.path} HTTP/1.1\r\nhost: x\r\nx-fuzz-id: ${id}\r\n${c.te.lines.map((l) => `${l}\r\n`).join('')}\r\n`,
    'latin1',
  );
  let chunked = Buffer.concat(parts);
  if (m?.kind === 'truncate') {
    chunked = chunked.subarray(0, m.at % chunked.length);
    worst('bad');
    fin = true;
  }
  return { bytes: Buffer.concat([head, chunked]), verdict, fin };
}

describe('chunked framing fuzz', () => {
  proxyProperty(
    'delivers valid chunked bodies byte for byte; refuses invalid ones with 400 before any upstream completes them',
    CHUNKED_RUNS,
    200,
    chunkedCase,
    async (c) => {
      const id = nextId();
      const { bytes, verdict, fin } = renderChunked(c, id);
      const content = Buffer.concat(c.chunks.map((ch) => ch.data));
      // A well-formed request right behind it: it must be served only if the first one was delimited.
      const follow = c.followUp && !fin;
      const nextIdFor = `${id}-next`;
      const payload = follow
        ? Buffer.concat([
            bytes,
            Buffer.from(`GET /up/next HTTP/1.1\r\nhost: x\r\nx-fuzz-id: ${nextIdFor}\r\n\r\n`),
          ])
        : bytes;
      const methods = follow ? ['POST', 'GET'] : ['POST'];
      const ex = await exchange(proxy.address, payload, {
        splits: c.splits,
        fin,
        done: answered(methods),
      });
      const responses = checkResponses(ex, methods);
      const first = responses[0];
      const from = first && answeredBy(first, id);
      const sent = { method: 'POST', content, upstreamStatus: 200 };
      let problem: string | undefined;
      if (verdict === 'ok' || (verdict === 'odd' && from !== undefined)) {
        if (first === undefined) problem = 'no answer to a valid chunked request';
        else if (from === undefined)
          problem = `answered ${first.status} itself (${first.body.toString('latin1').slice(0, 300)})`;
        else if (verdict === 'ok' && from !== c.route.where) problem = `answered by the ${from}`;
        else problem = integrity(first, from, sent);
        if (!problem && follow) {
          const second = responses[1];
          if (second === undefined) problem = 'the request after it got no answer';
          else if (answeredBy(second, nextIdFor) !== 'upstream' || second.status !== 200)
            problem = `the request after it got ${second.status}`;
        }
      } else if (first !== undefined) {
        if (from !== undefined) problem = `an invalid chunked body was delivered to the ${from}`;
        else if (first.status !== 400) problem = `refused with ${first.status}, expected 400`;
        else if (responses.length > 1) problem = 'the request behind an invalid chunked body was served';
      } else if (!fin && verdict === 'bad') {
        problem = 'closed without the 400 an invalid chunked body should get';
      }
      if (problem) throw new Error(`${problem}: ${describeExchange(ex)}`);
      await survived();
      expectHits(id, from === 'upstream' ? 1 : 0, ex);
      const delivered = completedHits(id)[0];
      if (delivered && delivered.sha256 !== sha256(content))
        throw new Error('the upstream completed it with a corrupted body');
      // The request behind a refused body must not have been taken from what followed it.
      if (from === undefined) expectHits(nextIdFor, 0, ex);
    },
  );
});

// --- abrupt ends: a connection cut (FIN or RST) after any number of bytes of a request ---

const cutHow = fc.constantFrom('rst' as const, 'fin' as const);
const abruptCase = fc.oneof(
  // Nothing at all, then FIN or RST: what a load balancer's TCP health check does.
  fc.record({ request: fc.constant(null), cut: fc.constant(0), how: cutHow }),
  fc.record({
    request: fc.oneof(
      fc.constant({ kind: 'http/2' as const, c: null }),
      h1Case.map((c) => ({ kind: 'http/1.1' as const, c })),
    ),
    cut: fc.nat(),
    how: cutHow,
  }),
);

/** A request on HTTP/2 to cut short: preface, SETTINGS, HEADERS and part of a body. */
const H2_REQUEST = Buffer.concat([
  H2_PREFACE,
  h2Frame(FrameType.SETTINGS, 0, 0, new Uint8Array()),
  h2Frame(
    FrameType.HEADERS,
    Flag.END_HEADERS,
    1,
    hpackLiterals([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/up/abrupt'],
      [':authority', 'x'],
    ]),
  ),
  h2Frame(FrameType.DATA, 0, 1, Buffer.alloc(100, 1)),
]);

describe('abrupt ends', () => {
  proxyProperty(
    'survives connections cut at any byte, by FIN or RST, including before the first byte',
    ABRUPT_RUNS,
    200,
    abruptCase,
    async ({ request: r, cut, how }) => {
      const full = r === null ? Buffer.alloc(0) : r.kind === 'http/2' ? H2_REQUEST : render(r.c, nextId());
      const bytes = full.subarray(0, cut % (full.length + 1));
      const ex = await exchange(proxy.address, bytes, { [how === 'rst' ? 'reset' : 'fin']: true });
      if (ex.hung) {
        const cutBy = how === 'fin' ? 'half-closed it (FIN)' : 'reset it (RST)';
        throw new Error(
          `the connection was neither answered nor closed within ${EXCHANGE_BOUND_MS} ms after the client ${cutBy}: ${describeExchange(ex)}`,
        );
      }
      await survived();
    },
  );
});

// --- HTTP/2 ---

interface H2Answer {
  response?: HttpResponse;
  /** The stream ended without a response: its reset code, or the error. */
  failure?: string;
}

/** One request on `session`; resolves when its stream has closed (or after the bound). */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Uint8Array,
  options: {
    pieces?: number;
    cancel?: { when: 'at-once' | 'after-headers' | 'mid-body'; code: number } | null;
  } = {},
): Promise<H2Answer> {
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: body.length === 0 && !options.cancel });
    } catch (err) {
      resolve({ failure: `request refused by the client: ${(err as Error).message}` });
      return;
    }
    let status: number | undefined;
    let sent = 0;
    const timer = setTimeout(() => {
      const got = status === undefined ? 'no response' : `status ${status}`;
      stream.close(http2.constants.NGHTTP2_CANCEL);
      resolve({
        failure: `the stream did not end within ${EXCHANGE_BOUND_MS} ms (${got}, ${sent} of ${body.length} body bytes sent)`,
      });
    }, EXCHANGE_BOUND_MS);
    let resHeaders: [string, string][] = [];
    const data: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = Object.entries(h)
        .filter(([k]) => !k.startsWith(':'))
        .flatMap(([k, v]) =>
          Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, String(v)] as [string, string]],
        );
    });
    stream.on('data', (d: Buffer) => data.push(d));
    stream.on('error', () => {});
    stream.on('close', () => {
      clearTimeout(timer);
      if (status !== undefined && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR) {
        resolve({ response: { status, headers: resHeaders, body: Buffer.concat(data), interim: [] } });
      } else {
        resolve({
          failure: `stream closed with code ${stream.rstCode}${status !== undefined ? ` after status ${status}` : ''}`,
        });
      }
    });
    const cancel = options.cancel;
    if (cancel?.when === 'at-once') {
      stream.close(cancel.code);
      return;
    }
    const write = async () => {
      const pieces = Math.max(1, options.pieces ?? 1);
      const size = Math.ceil(body.length / pieces);
      for (let i = 0; i < body.length; i += size) {
        if (cancel?.when === 'mid-body' && i >= body.length / 2) {
          stream.close(cancel.code);
          return;
        }
        const piece = body.subarray(i, i + size);
        const flowing = stream.write(piece, () => {
          sent += piece.length;
        });
        if (!flowing) await once(stream, 'drain').catch(() => {});
        if (stream.destroyed) return;
      }
      if (cancel) stream.close(cancel.code);
      else if (body.length > 0) stream.end();
    };
    if (cancel?.when === 'after-headers') stream.once('ready', () => stream.close(cancel.code));
    else void write();
  });
}

function h2Connect(): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(proxy.url);
  session.on('error', () => {});
  return new Promise((resolve, reject) => {
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/**
 * Another HTTP/2 connection with a request in flight while a run goes on: once the run is over, that
 * request and a new one on the same connection must be answered by the upstream.
 */
async function bystander(): Promise<{ check(): Promise<void>; close(): void }> {
  const session = await h2Connect();
  const request = (delayMs: number) => {
    const id = nextId('bystander');
    return h2Request(
      session,
      { ':method': 'GET', ':path': '/up/bystander', 'x-fuzz-id': id, 'x-fuzz-delay-ms': String(delayMs) },
      new Uint8Array(),
    ).then((a) => ({ a, id }));
  };
  const inFlight = request(50);
  return {
    async check() {
      for (const { a, id } of [await inFlight, await request(0)]) {
        if (a.response?.status !== 200 || answeredBy(a.response, id) !== 'upstream')
          throw new Error(
            `another connection was disturbed: its request got ${a.response ? `status ${a.response.status}` : a.failure}`,
          );
      }
    },
    close: () => session.destroy(),
  };
}

interface H2ClientRequest {
  method: string;
  target: TargetPiece;
  headers: [string, string][];
  body: Uint8Array;
  pieces: number;
  cancel: { when: 'at-once' | 'after-headers' | 'mid-body'; code: number } | null;
  upstreamStatus: number;
}

const h2Settings = fc.record(
  {
    headerTableSize: fc.nat({ max: 65_536 }),
    initialWindowSize: fc.oneof(fc.integer({ min: 16, max: 65_535 }), fc.constant(2 ** 31 - 1)),
    maxFrameSize: fc.oneof(fc.constant(16_384), fc.integer({ min: 16_384, max: 2 ** 24 - 1 })),
    maxConcurrentStreams: fc.nat({ max: 1000 }),
    enablePush: fc.boolean(),
  },
  { requiredKeys: [] },
);

const h2ClientCase = fc.record({
  settings: h2Settings,
  requests: fc.array(
    fc.record({
      method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      target: originTarget,
      headers: fc.array(
        fc.tuple(
          token(10).map((t) => `x-h-${t.toLowerCase()}`),
          fc.string({ unit: chars(`${VCHAR} `), maxLength: 30 }).map((v) => v.trim()),
        ),
        { maxLength: 4 },
      ),
      body: fc.oneof(
        { weight: 4, arbitrary: fc.uint8Array({ maxLength: 2000 }) },
        // Past the 65,535-byte initial window: the body moves only as the proxy reads it.
        {
          weight: 1,
          arbitrary: fc.integer({ min: 70_000, max: 300_000 }).map((n) => new Uint8Array(n).fill(7)),
        },
      ),
      pieces: fc.integer({ min: 1, max: 5 }),
      cancel: fc.option(
        fc.record({
          when: fc.constantFrom('at-once' as const, 'after-headers' as const, 'mid-body' as const),
          code: fc.oneof(fc.constantFrom(0, 1, 2, 7, 8, 11), fc.integer({ min: 0, max: 0xffffffff })),
        }),
        { freq: 4 },
      ),
      upstreamStatus: fc.constantFrom(200, 201, 404, 503),
    }),
    { minLength: 1, maxLength: 5 },
  ),
  midSettings: fc.option(h2Settings),
  ping: fc.boolean(),
});

// Raw frames: what node:http2's client would never send.
const PING_DATA = Buffer.from('fuzzping');

type HeaderBlock =
  | 'request'
  | 'echo-request'
  | 'bad-name-request'
  | 'random'
  | 'index-0'
  | 'index-too-big'
  | 'integer-overflow'
  | 'table-size-too-big'
  | 'bad-huffman'
  | 'uppercase-name'
  | 'pseudo-after-regular'
  | 'connection-header'
  | 'no-path'
  | 'te-gzip'
  | 'duplicate-path'
  | 'authority-host-disagree';

type RawFrame =
  | { kind: 'settings'; stream: number; ack: boolean; entries: [number, number][]; trim: number }
  | {
      kind: 'headers';
      stream: number;
      endStream: boolean;
      endHeaders: boolean;
      pad: number | null;
      priority: boolean;
      block: HeaderBlock;
      noise: Uint8Array;
    }
  | { kind: 'continuation'; stream: number; count: number; endLast: boolean; payload: Uint8Array }
  | { kind: 'data'; stream: number; endStream: boolean; pad: number | null; payload: Uint8Array }
  | { kind: 'window-update'; stream: number; increment: number; length: number }
  | { kind: 'priority'; stream: number; dependsOn: number | 'self'; length: number }
  | { kind: 'rst-stream'; stream: number; code: number; length: number }
  | { kind: 'goaway'; last: number; code: number; debug: Uint8Array }
  | { kind: 'ping'; ack: boolean; stream: number; length: number }
  | { kind: 'push-promise'; stream: number; promised: number }
  | { kind: 'unknown'; type: number; flags: number; stream: number; payload: Uint8Array }
  | { kind: 'oversize'; type: number; stream: number; size: number }
  | { kind: 'short-length'; type: number; stream: number; payload: Uint8Array; declared: number };

const streamId = fc.constantFrom(0, 1, 1, 1, 3, 5, 2, 0x7fffffff, 0x80000001);
const anyU32 = fc.oneof(
  fc.constantFrom(
    0,
    1,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    16_383,
    16_384,
    65_535,
    65_536,
    2 ** 24 - 1,
    2 ** 24,
  ),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const smallBytes = fc.uint8Array({ maxLength: 64 });

const rawFrame: fc.Arbitrary<RawFrame> = fc.oneof(
  fc.record({
    kind: fc.constant('settings' as const),
    stream: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: streamId }),
    ack: fc.boolean(),
    entries: fc.array(fc.tuple(fc.integer({ min: 0, max: 10 }), anyU32), { maxLength: 4 }),
    trim: fc.oneof(
      { weight: 5, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }) },
    ),
  }),
  fc.record({
    kind: fc.constant('headers' as const),
    stream: streamId,
    endStream: fc.boolean(),
    endHeaders: fc.oneof(
      { weight: 4, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    pad: fc.option(fc.nat({ max: 255 }), { freq: 4 }),
    priority: fc.boolean(),
    block: fc.constantFrom<HeaderBlock>(
      'request',
      'request',
      'echo-request',
      'bad-name-request',
      'random',
      'index-0',
      'index-too-big',
      'integer-overflow',
      'table-size-too-big',
      'bad-huffman',
      'uppercase-name',
      'pseudo-after-regular',
      'connection-header',
      'no-path',
      'te-gzip',
      'duplicate-path',
      'authority-host-disagree',
    ),
    noise: smallBytes,
  }),
  fc.record({
    kind: fc.constant('continuation' as const),
    stream: streamId,
    count: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 50, max: 2000 })),
    endLast: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 16 }),
  }),
  fc.record({
    kind: fc.constant('data' as const),
    stream: streamId,
    endStream: fc.boolean(),
    pad: fc.option(fc.nat({ max: 255 }), { freq: 4 }),
    payload: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({
    kind: fc.constant('window-update' as const),
    stream: streamId,
    increment: anyU32,
    length: fc.constantFrom(4, 4, 4, 3, 5),
  }),
  fc.record({
    kind: fc.constant('priority' as const),
    stream: streamId,
    dependsOn: fc.oneof(fc.constant('self' as const), streamId),
    length: fc.constantFrom(5, 5, 4, 6),
  }),
  fc.record({
    kind: fc.constant('rst-stream' as const),
    stream: streamId,
    code: anyU32,
    length: fc.constantFrom(4, 4, 3, 5),
  }),
  fc.record({ kind: fc.constant('goaway' as const), last: anyU32, code: anyU32, debug: smallBytes }),
  fc.record({
    kind: fc.constant('ping' as const),
    ack: fc.boolean(),
    stream: fc.constantFrom(0, 0, 0, 1),
    length: fc.constantFrom(8, 8, 7, 9),
  }),
  fc.record({ kind: fc.constant('push-promise' as const), stream: streamId, promised: streamId }),
  fc.record({
    kind: fc.constant('unknown' as const),
    type: fc.integer({ min: 10, max: 255 }),
    flags: fc.nat({ max: 255 }),
    stream: streamId,
    payload: smallBytes,
  }),
  fc.record({
    kind: fc.constant('oversize' as const),
    type: fc.constantFrom(FrameType.DATA, FrameType.HEADERS, FrameType.SETTINGS, FrameType.PING),
    stream: streamId,
    size: fc.integer({ min: 16_385, max: 40_000 }),
  }),
  fc.record({
    kind: fc.constant('short-length' as const),
    type: fc.constantFrom(FrameType.DATA, FrameType.HEADERS, FrameType.SETTINGS, FrameType.WINDOW_UPDATE),
    stream: streamId,
    payload: fc.uint8Array({ minLength: 1, maxLength: 40 }),
    declared: fc.nat({ max: 39 }),
  }),
);

const rawH2Case = fc.record({
  preface: fc.oneof(
    { weight: 12, arbitrary: fc.constant('exact') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r',
        'PRI * HTTP/2.0\r\n\r\n',
        'PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n',
      ),
    },
  ),
  settings: fc.oneof(
    { weight: 8, arbitrary: fc.constant<[number, number][] | null>([]) },
    {
      weight: 2,
      arbitrary: fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), anyU32), { minLength: 1, maxLength: 4 }),
    },
    { weight: 1, arbitrary: fc.constant(null) },
  ),
  frames: fc.array(rawFrame, { minLength: 1, maxLength: 8 }),
  // Cut points, some inside the 24-byte preface: TCP may deliver it in any number of segments.
  splits: fc.oneof(
    { weight: 4, arbitrary: fc.constant<number[]>([]) },
    {
      weight: 1,
      arbitrary: fc.array(fc.oneof(fc.nat({ max: 24 }), fc.nat({ max: 200 })), {
        minLength: 1,
        maxLength: 3,
      }),
    },
  ),
});

function settingsPayload(entries: [number, number][]): Buffer {
  return Buffer.concat(
    entries.map(([id, value]) => {
      const b = Buffer.alloc(6);
      b.writeUInt16BE(id);
      b.writeUInt32BE(value >>> 0, 2);
      return b;
    }),
  );
}

function headerBlock(kind: HeaderBlock, noise: Uint8Array): Buffer {
  const request = (path: string, extra: [string, string][] = []): [string, string][] => [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'x'],
    ['x-fuzz-id', 'raw'],
    ...extra,
  ];
  switch (kind) {
    case 'request':
      return hpackLiterals(request('/up/raw'));
    case 'echo-request':
      return hpackLiterals(request('/echo/raw'));
    case 'bad-name-request':
      return hpackLiterals(request('/.roam/call/%E2%82%AC/x'));
    case 'random':
      return Buffer.from(noise);
    case 'index-0':
      return Buffer.from([0x80]);
    case 'index-too-big':
      return Buffer.from([0xff, 0xff, 0x01]);
    case 'integer-overflow':
      return Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    case 'table-size-too-big':
      return Buffer.concat([Buffer.from([0x3f, 0xe1, 0xff, 0xff, 0x0f]), hpackLiterals(request('/up/raw'))]);
    case 'bad-huffman':
      // A Huffman-coded name of three 0xff bytes: that is EOS, which must not appear in a string.
      return Buffer.from([0x00, 0x83, 0xff, 0xff, 0xff, 0x01, 0x61]);
    case 'uppercase-name':
      return hpackLiterals(request('/up/raw', [['X-Upper', 'v']]));
    case 'pseudo-after-regular':
      return hpackLiterals([['x-a', 'b'], ...request('/up/raw')]);
    case 'connection-header':
      return hpackLiterals(request('/up/raw', [['connection', 'keep-alive']]));
    case 'no-path':
      return hpackLiterals(request('/up/raw').filter(([k]) => k !== ':path'));
    case 'te-gzip':
      return hpackLiterals(request('/up/raw', [['te', 'gzip']]));
    case 'duplicate-path':
      return hpackLiterals(request('/up/raw', [[':path', '/echo/raw']]));
    case 'authority-host-disagree':
      return hpackLiterals(request('/up/raw', [['host', 'y']]));
  }
}

function padded(pad: number | null, body: Buffer): { flags: number; payload: Buffer } {
  if (pad === null) return { flags: 0, payload: body };
  // A pad length larger than the frame is itself an error the peer must catch.
  return {
    flags: Flag.PADDED,
    payload: Buffer.concat([Buffer.from([pad]), body, Buffer.alloc(Math.min(pad, 64))]),
  };
}

function renderFrame(f: RawFrame): Buffer {
  switch (f.kind) {
    case 'settings': {
      const p = settingsPayload(f.entries);
      return h2Frame(
        FrameType.SETTINGS,
        f.ack ? Flag.ACK : 0,
        f.stream,
        p.subarray(0, Math.max(0, p.length - f.trim)),
      );
    }
    case 'headers': {
      let block = headerBlock(f.block, f.noise);
      if (f.priority) block = Buffer.concat([u32(f.stream), Buffer.from([16]), block]);
      const { flags, payload } = padded(f.pad, block);
      const all =
        flags |
        (f.priority ? Flag.PRIORITY : 0) |
        (f.endStream ? Flag.END_STREAM : 0) |
        (f.endHeaders ? Flag.END_HEADERS : 0);
      return h2Frame(FrameType.HEADERS, all, f.stream, payload);
    }
    case 'continuation': {
      const head = h2Frame(FrameType.HEADERS, 0, f.stream, hpackLiterals([[':method', 'GET']]));
      const frames = Array.from({ length: f.count }, (_, i) =>
        h2Frame(
          FrameType.CONTINUATION,
          f.endLast && i === f.count - 1 ? Flag.END_HEADERS : 0,
          f.stream,
          f.payload,
        ),
      );
      return Buffer.concat([head, ...frames]);
    }
    case 'data': {
      const { flags, payload } = padded(f.pad, Buffer.from(f.payload));
      return h2Frame(FrameType.DATA, flags | (f.endStream ? Flag.END_STREAM : 0), f.stream, payload);
    }
    case 'window-update':
      return h2Frame(
        FrameType.WINDOW_UPDATE,
        0,
        f.stream,
        Buffer.concat([u32(f.increment), Buffer.alloc(1)]).subarray(0, f.length),
      );
    case 'priority': {
      const dep = f.dependsOn === 'self' ? f.stream : f.dependsOn;
      return h2Frame(
        FrameType.PRIORITY,
        0,
        f.stream,
        Buffer.concat([u32(dep), Buffer.from([255, 0])]).subarray(0, f.length),
      );
    }
    case 'rst-stream':
      return h2Frame(
        FrameType.RST_STREAM,
        0,
        f.stream,
        Buffer.concat([u32(f.code), Buffer.alloc(1)]).subarray(0, f.length),
      );
    case 'goaway':
      return h2Frame(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(f.last), u32(f.code), f.debug]));
    case 'ping':
      return h2Frame(FrameType.PING, f.ack ? Flag.ACK : 0, f.stream, Buffer.alloc(f.length, 0x70));
    case 'push-promise':
      return h2Frame(
        FrameType.PUSH_PROMISE,
        Flag.END_HEADERS,
        f.stream,
        Buffer.concat([u32(f.promised), hpackLiterals([[':method', 'GET']])]),
      );
    case 'unknown':
      return h2Frame(f.type, f.flags, f.stream, f.payload);
    case 'oversize':
      return h2Frame(f.type, 0, f.stream, Buffer.alloc(f.size, 0x61));
    case 'short-length':
      return h2Frame(f.type, 0, f.stream, f.payload, f.declared);
  }
}

type RawH2Case = typeof rawH2Case extends fc.Arbitrary<infer T> ? T : never;

function renderRawH2(c: RawH2Case): Buffer {
  return Buffer.concat([
    c.preface === 'exact' ? H2_PREFACE : Buffer.from(c.preface, 'latin1'),
    c.settings === null ? Buffer.alloc(0) : h2Frame(FrameType.SETTINGS, 0, 0, settingsPayload(c.settings)),
    ...c.frames.map(renderFrame),
    h2Frame(FrameType.PING, 0, 0, PING_DATA),
  ]);
}

/** The connection has answered our closing PING, or sent GOAWAY: it has dealt with everything before. */
function h2Settled(data: Buffer): boolean {
  // An answer in HTTP/1.1 is not going to turn into HTTP/2: stop reading (the property then fails).
  if (!speaksH2(data)) return true;
  return readH2Frames(data).some(
    (f) =>
      f.type === FrameType.GOAWAY ||
      (f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(PING_DATA)),
  );
}

/** A server's side of an HTTP/2 connection starts with a SETTINGS frame on stream 0 (RFC 9113 3.4). */
function speaksH2(data: Buffer): boolean {
  if (data.length < 9) return !'HTTP/'.startsWith(data.toString('latin1', 0, 5)) || data.length === 0;
  return data[3] === FrameType.SETTINGS && (data.readUInt32BE(5) & 0x7fffffff) === 0;
}

function describeH2(ex: Exchange): string {
  const frames = readH2Frames(ex.data).map((f) => `${f.type}/${f.flags}/${f.stream}/${f.payload.length}`);
  return `${ex.closed ? 'closed' : 'open'}${ex.error ? ` (${ex.error})` : ''}, frames (type/flags/stream/length) ${frames.join(' ')}`;
}

describe('HTTP/2 fuzz', () => {
  proxyProperty(
    'serves valid HTTP/2 clients with odd settings, concurrent streams, bodies and resets; other connections unaffected',
    H2_CLIENT_RUNS,
    1000,
    h2ClientCase,
    async (c) => {
      const others = await bystander();
      const session = http2.connect(proxy.url, { settings: c.settings });
      session.on('error', () => {});
      try {
        const requests: H2ClientRequest[] = c.requests;
        const ids = requests.map(() => nextId());
        const answers = Promise.all(
          requests.map((r, i) =>
            h2Request(
              session,
              {
                ':method': r.method,
                ':path': r.target.text,
                'x-fuzz-id': ids[i]!,
                'x-fuzz-status': String(r.upstreamStatus),
                ...Object.fromEntries(r.headers),
              },
              r.body,
              { pieces: r.pieces, cancel: r.cancel },
            ),
          ),
        );
        if (c.midSettings) session.settings(c.midSettings, () => {});
        if (c.ping) session.ping(() => {});
        const got = await answers;
        session.close();
        const problems: string[] = [];
        got.forEach((a, i) => {
          const r = requests[i]!;
          if (r.cancel) return;
          const sent = {
            method: r.method,
            content: r.body,
            upstreamStatus: r.upstreamStatus,
            upstreamUrl: r.target.text,
          };
          const problem = a.response
            ? judge(
                [a.response],
                ids[i]!,
                { verdict: r.target.verdict, where: r.target.where, also: [] },
                sent,
              )
            : a.failure;
          if (problem) problems.push(`request ${i} (${r.method} ${r.target.text}): ${problem}`);
        });
        if (problems.length > 0) throw new Error(problems.join('\n'));
        await survived();
        await others.check();
      } finally {
        session.destroy();
        others.close();
      }
    },
  );

  proxyProperty(
    'survives raw frame sequences, valid and invalid: answers a PING or ends the connection, in HTTP/2, and other connections are unaffected',
    H2_RAW_RUNS,
    300,
    rawH2Case,
    async (c) => {
      const others = await bystander();
      try {
        const ex = await exchange(proxy.address, renderRawH2(c), { splits: c.splits, done: h2Settled });
        if (ex.hung)
          throw new Error(`neither a PING ACK, a GOAWAY nor a close within the bound: ${describeH2(ex)}`);
        // "PRI * HTTP/1.1" is an HTTP/1.1 request line, not a preface: an HTTP/1.1 4xx is the right answer.
        const h1Line = c.preface !== 'exact' && !c.preface.startsWith('PRI * HTTP/2.0');
        if (h1Line) {
          if (!/^HTTP\/1\.1 4\d\d /.test(ex.data.toString('latin1')))
            throw new Error(`an HTTP/1.1 request line did not get a 4xx: ${describeExchange(ex)}`);
        } else if (!speaksH2(ex.data)) {
          throw new Error(`the answer to an HTTP/2 connection is not HTTP/2: ${describeExchange(ex)}`);
        }
        await survived();
        await others.check();
      } finally {
        others.close();
      }
    },
  );
});
