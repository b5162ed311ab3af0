// The fast path's HTTP/1.1 reading (proxy/h1-parse.ts): which request heads it carries itself (anything odd
// goes to Node's parser), how it reads an upstream's framing, and where a chunked body ends however its bytes
// are split.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkedFraming, headEnd, parseRequestHead, parseResponseHead } from '../h1-parse.ts';

function request(text: string) {
  const buf = Buffer.from(text, 'latin1');
  const end = headEnd(buf);
  return end < 0 ? undefined : parseRequestHead(buf, end, 100);
}

function response(text: string, method = 'GET') {
  const buf = Buffer.from(text, 'latin1');
  return parseResponseHead(buf, headEnd(buf), method);
}

describe('request heads', () => {
  it('carries the plain form: method, origin-form target, one Host, a Content-Length', () => {
    const head = request(
      'POST /a/b?x=1 HTTP/1.1\r\nHost: svc:8080\r\nContent-Length: 5\r\nX-A:  v \r\n\r\nhello',
    );
    expect(head).toMatchObject({
      method: 'POST',
      target: '/a/b?x=1',
      path: '/a/b',
      host: 'svc:8080',
      contentLength: 5,
      keepAlive: true,
      headers: ['Host', 'svc:8080', 'Content-Length', '5', 'X-A', 'v'],
    });
    expect(head!.length).toBe(
      Buffer.byteLength('POST /a/b?x=1 HTTP/1.1\r\nHost: svc:8080\r\nContent-Length: 5\r\nX-A:  v \r\n\r\n'),
    );
    expect(request('GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n')?.keepAlive).toBe(false);
  });

  it.each([
    ['chunked upload', 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n'],
    [
      'Content-Length and Transfer-Encoding',
      'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n',
    ],
    ['two Content-Lengths', 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\n'],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: +3\r\n\r\n'],
    ['no Host', 'GET / HTTP/1.1\r\nx: y\r\n\r\n'],
    ['two Hosts', 'GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nhost: a\r\n\r\n'],
    ['absolute form', 'GET http://a/ HTTP/1.1\r\nhost: a\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nhost: a\r\n\r\n'],
    ['an unknown method', 'BREW / HTTP/1.1\r\nhost: a\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nhost: a\r\nx: 1\r\n 2\r\n\r\n'],
    ['a bare LF', 'GET / HTTP/1.1\nhost: a\r\n\r\n'],
    ['a bare CR', 'GET / HTTP/1.1\r\nhost: a\rx: 1\r\n\r\n'],
    ['a NUL in a value', 'GET / HTTP/1.1\r\nhost: a\r\nx: a\x00b\r\n\r\n'],
    ['space before the colon', 'GET / HTTP/1.1\r\nhost : a\r\n\r\n'],
    ['an Upgrade', 'GET / HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'],
    ['Expect', 'PUT / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\nexpect: 100-continue\r\n\r\n'],
    ['Connection naming a header', 'GET / HTTP/1.1\r\nhost: a\r\nconnection: x-private\r\n\r\n'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\nhost: a\r\n\r\n'],
    ['a non-ASCII target', 'GET /\xe9 HTTP/1.1\r\nhost: a\r\n\r\n'],
  ])('leaves %s to the slow path', (_what, text) => {
    expect(request(text)).toBeUndefined();
  });

  it('leaves heads with more header lines than allowed to the slow path', () => {
    const lines = Array.from({ length: 101 }, (_, i) => `x-${i}: v\r\n`).join('');
    expect(request(`GET / HTTP/1.1\r\nhost: a\r\n${lines}\r\n`)).toBeUndefined();
  });
});

describe('response heads', () => {
  it('reads the framing an answer declares', () => {
    expect(response('HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n')).toMatchObject({
      framing: 'length',
      contentLength: 12,
      close: false,
    });
    expect(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n')).toMatchObject({
      framing: 'chunked',
    });
    expect(response('HTTP/1.1 200 OK\r\n\r\n')).toMatchObject({ framing: 'close', close: true });
    expect(response('HTTP/1.1 204 No Content\r\ncontent-length: 3\r\n\r\n')).toMatchObject({
      framing: 'none',
    });
    expect(response('HTTP/1.1 304 Not Modified\r\n\r\n')).toMatchObject({ framing: 'none' });
    expect(response('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n', 'HEAD')).toMatchObject({
      framing: 'none',
    });
    expect(response('HTTP/1.1 200 \r\ncontent-length: 0\r\n\r\n')).toMatchObject({ reason: '', status: 200 });
  });

  it('knows when the service will close or how long it keeps a connection', () => {
    expect(response('HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n')).toMatchObject({
      http10: true,
      close: true,
    });
    expect(response('HTTP/1.0 200 OK\r\ncontent-length: 1\r\nconnection: keep-alive\r\n\r\n')).toMatchObject({
      close: false,
    });
    expect(response('HTTP/1.1 200 OK\r\ncontent-length: 1\r\nConnection: close\r\n\r\n')).toMatchObject({
      close: true,
    });
    expect(response('HTTP/1.1 200 OK\r\ncontent-length: 1\r\nKeep-Alive: timeout=5\r\n\r\n')).toMatchObject({
      keepAliveSeconds: 5,
    });
  });

  it.each([
    [
      'Transfer-Encoding with Content-Length',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n',
      /both/,
    ],
    [
      'conflicting Content-Lengths',
      'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n',
      /conflicting/,
    ],
    ['a bad Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 3x\r\n\r\n', /Content-Length/],
    ['an unknown coding', 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n', /unsupported/],
    ['a bad status line', 'HTTP/2 200\r\n\r\n', /status line/],
    ['a bare LF', 'HTTP/1.1 200 OK\ncontent-length: 0\r\n\r\n', /bare/],
  ])('refuses %s', (_what, text, message) => {
    expect(response(text)).toMatch(message);
  });
});

/** Feeds `body` to a fresh framing in the given pieces; returns the body length it found, or its error. */
function frame(body: Buffer, cuts: number[]): number | string {
  const framing = new ChunkedFraming();
  let consumed = 0;
  let from = 0;
  for (const to of [...cuts.sort((a, b) => a - b), body.length]) {
    const piece = body.subarray(from, to);
    from = to;
    const n = framing.feed(piece);
    if (typeof n === 'string') return n;
    consumed += n;
    if (framing.done) return consumed;
  }
  return framing.done ? consumed : 'incomplete';
}

describe('chunked framing', () => {
  const body = Buffer.from(
    '5;ext=1\r\nhello\r\n1A\r\n' + 'x'.repeat(26) + '\r\n0\r\nx-trailer: 1\r\nx-two: 2\r\n\r\n',
  );

  it('finds the end of a chunked body however it is split, and nothing past it', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: body.length }), { maxLength: 8 }), (cuts) => {
        expect(frame(Buffer.concat([body, Buffer.from('NEXT')]), cuts)).toBe(body.length);
      }),
      { seed: 15, numRuns: 300 },
    );
  });

  it.each([
    ['a missing size', '\r\nhello\r\n0\r\n\r\n'],
    ['a bad size digit', '5g\r\nhello\r\n0\r\n\r\n'],
    ['a size line with a bare LF', '5\nhello\r\n0\r\n\r\n'],
    ['data longer than its size', '5\r\nhello!\r\n0\r\n\r\n'],
    ['an overlong size', `${'f'.repeat(13)}\r\n`],
    ['a bare LF in a trailer', '0\r\nx: 1\n\r\n'],
  ])('refuses %s', (_what, text) => {
    expect(frame(Buffer.from(text), [])).toMatch(/chunk|trailer|CRLF/);
  });
});
