// Mutual TLS between mesh nodes, on real sockets on loopback (issue 17): a proxy and a standalone host holding
// a mesh identity speak TLS to each other on their usual ports, the application's plaintext traffic still
// flows, and the mesh's own paths refuse whoever is not a mesh identity, each with the reason.
import { type AddressInfo, connect as tcpConnect } from 'node:net';
import tls from 'node:tls';
import { Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IdentityMaterial, MeshIdentity, setMeshIdentity } from '../core/mesh-identity.ts';
import { SidecarProxy } from '../proxy/index.ts';
import { WasmHost } from '../wasm-host/index.ts';
import { HostServer } from '../wasm-host/server.ts';
import { endpointModule } from './support/modules.ts';
import { issue, makeCa, type TestCa } from './support/pki.ts';

let ca: TestCa;
let identity: MeshIdentity;
let wasm: WasmHost;
let host: HostServer;
let hostUrl: string;
let proxy: SidecarProxy;
let proxyAddr: AddressInfo;
let proxyUrl: string;

beforeAll(async () => {
  ca = await makeCa('roam-test.local');
  identity = new MeshIdentity(await issue(ca, { nodeId: 'p1', tier: 'in-process', site: 'device' }));
  setMeshIdentity(identity);
  wasm = new WasmHost({ id: 'h1', tier: 'cluster' });
  await wasm.activate('hello', wasm.modules.put(endpointModule('hello')));
  host = new HostServer(wasm);
  hostUrl = `http://127.0.0.1:${(await host.listen(0)).port}`;
  proxy = new SidecarProxy({ id: 'p1' });
  await proxy.applyRoutes({
    version: 1,
    routes: [{ match: 'GET /hello', endpoint: 'hello' }],
    endpoints: { hello: { targets: [{ kind: 'host', url: hostUrl, weight: 1 }] } },
  });
  proxyAddr = await proxy.listen(0, '127.0.0.1');
  proxyUrl = `http://127.0.0.1:${proxyAddr.port}`;
});

afterAll(async () => {
  await proxy.drain(100);
  await host.close();
  await wasm.close();
  setMeshIdentity(undefined);
});

/** A mesh client presenting `material` (or no certificate), trusting the mesh CA. */
function meshClient(material?: IdentityMaterial): Client {
  return new Client(`https://127.0.0.1:${proxyAddr.port}`, {
    connect: {
      ca: ca.certPem,
      ...(material ? { key: material.keyPem, cert: material.certPem } : {}),
      // The server is named by its SPIFFE ID, not by 127.0.0.1.
      checkServerIdentity: () => undefined,
    },
  });
}

async function get(client: Client, path: string) {
  const res = await client.request({ method: 'GET', path });
  const body = await res.body.text();
  return { status: res.statusCode, error: res.headers['x-roam-error'], body };
}

describe('mesh mTLS', () => {
  it('carries the proxy -> host hop over mTLS while the application speaks plaintext to the proxy', async () => {
    const res = await request(`${proxyUrl}/hello?name=tls`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ message: 'Hello, tls!' });
    // The host answers mesh identities only: the same call in plaintext is refused; its health is not.
    const plain = await request(`${hostUrl}/invoke/hello/hello?name=x`);
    expect(plain.statusCode).toBe(403);
    expect(plain.headers['x-roam-error']).toBe('ROAM_ERR_MESH_IDENTITY_REQUIRED');
    expect(await plain.body.text()).toMatch(/plaintext/);
    expect((await request(`${hostUrl}/healthz`)).statusCode).toBe(200);
  });

  it('refuses the reserved paths to anyone but a mesh identity, saying why', async () => {
    const other = await makeCa('roam-test.local');
    const cases: [string, Client | undefined, RegExp][] = [
      ['plaintext', undefined, /plaintext/],
      ['no certificate', meshClient(), /no client certificate/],
      [
        'expired',
        meshClient(
          await issue(ca, {
            nodeId: 'old',
            notBefore: new Date(Date.now() - 7_200_000),
            notAfter: new Date(Date.now() - 3_600_000),
          }),
        ),
        /expired/,
      ],
      ['another CA', meshClient(await issue(other, { nodeId: 'h1' })), /not issued by this mesh's CA/],
      [
        'another trust domain',
        meshClient(await issue(ca, { nodeId: 'h1', trustDomain: 'elsewhere.local' })),
        /not in trust domain roam-test\.local/,
      ],
    ];
    for (const [what, client, why] of cases) {
      for (const path of ['/.roam/ping', '/.roam/call/hello/hello', '/.roam/invoke/hello/']) {
        const out = client
          ? await get(client, path)
          : await request(`${proxyUrl}${path}`).then(async (r) => ({
              status: r.statusCode,
              error: r.headers['x-roam-error'],
              body: await r.body.text(),
            }));
        expect({ what, path, status: out.status, error: out.error }).toEqual({
          what,
          path,
          status: 403,
          error: 'ROAM_ERR_MESH_IDENTITY_REQUIRED',
        });
        expect(out.body).toMatch(why);
      }
      await client?.close();
    }
    // A valid identity of this mesh is served.
    const peer = meshClient(await issue(ca, { nodeId: 'h2', tier: 'edge', site: 'edge' }));
    expect((await get(peer, '/.roam/ping')).status).toBe(204);
    const called = await get(peer, '/.roam/call/hello/hello?name=mesh');
    expect(called.status).toBe(200);
    expect(JSON.parse(called.body)).toMatchObject({ message: 'Hello, mesh!' });
    await peer.close();
  });

  it("enforces an endpoint's caller policy on mesh calls: 403 ROAM_ERR_FORBIDDEN naming who and what", async () => {
    await proxy.applyRoutes({
      version: 2,
      routes: [{ match: 'GET /hello', endpoint: 'hello' }],
      endpoints: {
        hello: { targets: [{ kind: 'host', url: hostUrl, weight: 1 }], callers: { tiers: ['edge'] } },
      },
    });
    try {
      const edge = meshClient(await issue(ca, { nodeId: 'e1', tier: 'edge', site: 'edge' }));
      const cluster = meshClient(await issue(ca, { nodeId: 'c1', tier: 'cluster', site: 'cluster' }));
      expect((await get(edge, '/.roam/call/hello/hello')).status).toBe(200);
      const refused = await get(cluster, '/.roam/call/hello/hello');
      expect(refused).toMatchObject({ status: 403, error: 'ROAM_ERR_FORBIDDEN' });
      expect(JSON.parse(refused.body).message).toMatch(
        /spiffe:\/\/roam-test\.local\/node\/c1 \(tier cluster, site cluster\) may not call endpoint "hello"/,
      );
      // The application's own route to the endpoint is not a mesh call: it still answers.
      expect((await request(`${proxyUrl}/hello`)).statusCode).toBe(200);
      await Promise.all([edge.close(), cluster.close()]);
    } finally {
      await proxy.applyRoutes({
        version: 3,
        routes: [{ match: 'GET /hello', endpoint: 'hello' }],
        endpoints: { hello: { targets: [{ kind: 'host', url: hostUrl, weight: 1 }] } },
      });
    }
  });

  it('rotates its certificate under steady load without failing a request; new connections get the new one', async () => {
    const peerMaterial = await issue(ca, { nodeId: 'h3' });
    let ok = 0;
    let failed = 0;
    let running = true;
    // Application traffic through the proxy (kept-alive and new connections to the host alike), and mesh
    // calls on a new connection each time, while the certificate changes under them.
    const worker = async (fresh: boolean) => {
      while (running) {
        const client = fresh ? meshClient(peerMaterial) : undefined;
        try {
          const status = client
            ? (await get(client, '/.roam/call/hello/hello?name=r')).status
            : await request(`${proxyUrl}/hello?name=r`).then(async (r) => {
                await r.body.dump();
                return r.statusCode;
              });
          if (status === 200) ok++;
          else failed++;
        } catch {
          failed++;
        } finally {
          await client?.close();
        }
      }
    };
    const workers = [worker(false), worker(false), worker(false), worker(true), worker(true)];
    const serials: string[] = [];
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      identity.update(await issue(ca, { nodeId: 'p1', tier: 'in-process', site: 'device' }));
      serials.push(await serverSerial());
    }
    await new Promise((r) => setTimeout(r, 150));
    running = false;
    await Promise.all(workers);
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(50);
    // Each new connection after a rotation was answered with that rotation's certificate.
    expect(new Set(serials).size).toBe(4);
    expect(identity.generation).toBe(5);
  });
});

/** The serial number of the certificate the proxy answers a new TLS connection with. */
function serverSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(proxyAddr.port, '127.0.0.1', () => {
      const t = tls.connect({ socket, ca: ca.certPem, checkServerIdentity: () => undefined }, () => {
        resolve(t.getPeerCertificate().serialNumber);
        t.destroy();
      });
      t.on('error', reject);
    });
    socket.on('error', reject);
  });
}
