// The relay on real loopback sockets: bytes arrive intact and in order, a link's RTT is paid (and a site's own
// traffic does not pay it), bandwidth bounds a transfer, a lost segment costs a retransmission timeout.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { type Link, Relay, retransmissionTimeout } from '../index.ts';
import { BURST_BYTES } from '../token-bucket.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Echoes every byte back. */
async function echoServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
  });
  return listen(server);
}

/** Hashes what each connection sends and answers the digest and byte count when the client half-closes. */
async function digestServer(): Promise<string> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    const hash = createHash('sha256');
    let bytes = 0;
    s.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    s.on('end', () => s.end(`${hash.digest('hex')} ${bytes}`));
  });
  return listen(server);
}

async function relayTo(target: string, link: Partial<Link>, random?: () => number): Promise<string> {
  const full: Link = { rttMs: 0, jitterMs: 0, bandwidthMbps: null, loss: 0, ...link };
  const relay = new Relay(
    [{ from: 'a', to: 'b', target, listen: '127.0.0.1:0', link: full }],
    random ? { random } : {},
  );
  const [route] = await relay.start();
  cleanup.push(() => relay.close());
  return route!.listen;
}

async function open(address: string): Promise<Socket> {
  const [host, port] = address.split(':');
  const s = connect({ host: host!, port: Number(port), noDelay: true });
  await once(s, 'connect');
  cleanup.push(() => {
    s.destroy();
  });
  return s;
}

/** Sends one byte and waits for it to come back; answers the round trip in ms. */
async function ping(s: Socket): Promise<number> {
  const t0 = performance.now();
  s.write('x');
  await once(s, 'data');
  return performance.now() - t0;
}

/** Sends `data` in uneven writes, half-closes, and answers the server's "digest bytes" reply. */
async function sendAll(address: string, data: Buffer): Promise<string> {
  const s = await open(address);
  let reply = '';
  s.on('data', (c: Buffer) => {
    reply += c;
  });
  for (let i = 0, step = 1; i < data.length; i += step, step = (step * 7) % 65_521)
    s.write(data.subarray(i, i + step));
  s.end();
  await once(s, 'close');
  return reply;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('relay', () => {
  it('delivers every byte in order through jitter and loss', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    // A seeded draw: jitter up to 15 ms each way between chunks, and a few lost segments.
    let seed = 42;
    const random = () => {
      seed = (seed * 48_271) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const address = await relayTo(await digestServer(), { rttMs: 4, jitterMs: 30, loss: 0.001 }, random);
    expect(await sendAll(address, data)).toBe(`${sha(data)} ${data.length}`);
  });

  it('pays the link RTT each round trip, one more for the handshake, and the same site does not', async () => {
    const echo = await echoServer();
    const relayed = await open(await relayTo(echo, { rttMs: 40, jitterMs: 4 }));
    const first = await ping(relayed);
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) rtts.push(await ping(relayed));
    const direct = await open(echo);
    const local: number[] = [];
    for (let i = 0; i < 5; i++) local.push(await ping(direct));

    expect(first).toBeGreaterThanOrEqual(80);
    for (const rtt of rtts) {
      expect(rtt).toBeGreaterThanOrEqual(40);
      expect(rtt).toBeLessThan(40 + 4 + 500);
    }
    expect(Math.min(...local)).toBeLessThan(Math.min(...rtts) / 4);
  });

  it('holds a transfer to the link bandwidth', async () => {
    const mbps = 8; // 1,000,000 bytes/s
    const data = randomBytes(600_000);
    const address = await relayTo(await digestServer(), { bandwidthMbps: mbps });
    const t0 = performance.now();
    expect(await sendAll(address, data)).toBe(`${sha(data)} ${data.length}`);
    const elapsedMs = performance.now() - t0;
    expect(elapsedMs).toBeGreaterThanOrEqual(((data.length - BURST_BYTES) / 1_000_000) * 1000);
  });

  it('makes a lost segment cost a retransmission timeout, not bytes', async () => {
    const link = { rttMs: 10, loss: 0.01 };
    // random() = 0: every draw is a loss (and no jitter), so each direction pays one timeout.
    const s = await open(await relayTo(await echoServer(), link, () => 0));
    await ping(s);
    const rto = retransmissionTimeout({ rttMs: 10, jitterMs: 0, bandwidthMbps: null, loss: 0.01 });
    expect(rto).toBe(200);
    expect(await ping(s)).toBeGreaterThanOrEqual(10 + 2 * rto);
  });

  it('closes the client when the destination refuses', async () => {
    const dead = createServer();
    const address = await listen(dead);
    await new Promise<void>((r) => dead.close(() => r()));
    const s = await open(await relayTo(address, { rttMs: 2 }));
    s.on('error', () => {});
    s.write('hello');
    await once(s, 'close');
    expect(s.destroyed).toBe(true);
  });
});
