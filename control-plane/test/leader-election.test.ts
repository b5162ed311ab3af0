// Leader election through a Lease, against a minimal fake of the API server's Lease endpoints (HTTPS, bearer
// token, resourceVersion conflicts): one leader at a time, takeover when the leader stops renewing, immediate
// handover when it releases, and no leadership without valid credentials.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_URL_ANNOTATION, LeaseElector, type LeaseElectorOptions } from '../leader-election.ts';
import { type FakeLeaseApi, startFakeLeaseApi } from './fake-lease-api.ts';
import { selfSignedCert, type TestCert } from './tls.ts';

let cert: TestCert;
let api: FakeLeaseApi;
const electors: LeaseElector[] = [];

beforeAll(async () => {
  cert = selfSignedCert();
  api = await startFakeLeaseApi(cert, 'roam-system', 'sa-token');
});

afterAll(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  await api.close();
  cert.remove();
});

function elector(identity: string, overrides: Partial<LeaseElectorOptions> = {}): LeaseElector {
  const e = new LeaseElector({
    apiServer: api.url,
    namespace: 'roam-system',
    name: overrides.name ?? 'roam-control-plane',
    identity,
    token: () => 'sa-token',
    ca: cert.cert,
    leaseDurationMs: 1000,
    renewDeadlineMs: 700,
    retryPeriodMs: 100,
    annotations: { [ADMIN_URL_ANNOTATION]: `http://${identity}:7900` },
    ...overrides,
  });
  electors.push(e);
  return e;
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Lease leader election', () => {
  it('elects one leader, hands over when it stops renewing, and at once when it releases', async () => {
    let reachable = true;
    const a = elector('cp-a', {
      token: () => {
        if (!reachable) throw new Error('API server unreachable');
        return 'sa-token';
      },
    });
    const b = elector('cp-b');
    let both = 0;
    const watch = setInterval(() => {
      if (a.isLeader() && b.isLeader()) both++;
    }, 5);
    a.start();
    await until('a leads', () => a.isLeader());
    b.start();
    await until('b sees a', () => b.leader()?.identity === 'cp-a');
    expect(b.isLeader()).toBe(false);
    expect(b.leader()?.annotations[ADMIN_URL_ANNOTATION]).toBe('http://cp-a:7900');
    expect(api.leases.get('roam-control-plane').spec.holderIdentity).toBe('cp-a');

    // a loses the API server: it steps down by its renew deadline, b takes over once the Lease expires.
    const stepped = new Promise<void>((resolve) => a.once('stopped-leading', resolve));
    reachable = false;
    await stepped;
    await until('b leads', () => b.isLeader());
    const lease = api.leases.get('roam-control-plane');
    expect(lease.spec.holderIdentity).toBe('cp-b');
    expect(lease.spec.leaseTransitions).toBe(1);
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    // a is back; b releases on stop, so a takes over without waiting for the Lease to expire.
    reachable = true;
    await until('a follows b', () => a.leader()?.identity === 'cp-b');
    await b.stop();
    await until('a leads again', () => a.isLeader(), 1000);
    clearInterval(watch);
    expect(both).toBe(0);
  });

  it('does not lead without valid credentials', async () => {
    const errors: string[] = [];
    const c = elector('cp-c', {
      name: 'other-lease',
      token: () => 'wrong',
      log: (e) => {
        if (e.event === 'lease-error') errors.push(String(e.message));
      },
    });
    c.start();
    await until('an error', () => errors.length > 0);
    expect(c.isLeader()).toBe(false);
    expect(errors[0]).toContain('HTTP 401');
  });
});
