// Leader election among control-plane replicas through a Kubernetes Lease (coordination.k8s.io/v1), the way
// client-go's leaderelection package does it: whoever holds the Lease and keeps renewing it leads; the others
// take it over once it has not been renewed for its duration, as timed by their own clock from when they last
// saw it change (so clocks across replicas need not agree). The API server's optimistic concurrency
// (resourceVersion, 409 on a lost race) guarantees a single winner. It talks to the API server over HTTPS with
// the pod's service account (token re-read on each call: bound tokens rotate) through undici, already Roam's
// HTTP client: three calls on one resource do not justify @kubernetes/client-node and its dependency tree.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The Lease annotation where the leader publishes its admin API address (followers forward writes there). */
export const ADMIN_URL_ANNOTATION = 'roam.dev/admin-url';

export interface LeaseElectorOptions {
  /** https://HOST:PORT of the API server. */
  apiServer: string;
  namespace: string;
  /** The Lease's name, shared by every replica. */
  name: string;
  /** This replica's identity (the pod name). */
  identity: string;
  /** The bearer token, read for each request. */
  token: () => string;
  /** PEM of the CA that signed the API server's certificate. */
  ca?: string;
  /** How long a Lease holds without renewal (default 15 s, whole seconds on the wire). */
  leaseDurationMs?: number;
  /** A leader that has not renewed for this long steps down (default 10 s; less than the duration). */
  renewDeadlineMs?: number;
  /** How often to try to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  /** Annotations the leader writes on the Lease (e.g. its admin address). */
  annotations?: Record<string, string>;
  log?: (event: Record<string, unknown>) => void;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

export interface LeaderInfo {
  identity: string;
  annotations: Record<string, string>;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** The in-cluster API server address, token and CA, from the pod's environment and service account. */
export function inClusterConfig(dir = SERVICE_ACCOUNT_DIR): {
  apiServer: string;
  namespace: string;
  token: () => string;
  ca: string;
} {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('KUBERNETES_SERVICE_HOST is not set: this is not running in a pod');
  return {
    apiServer: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    namespace: readFileSync(`${dir}/namespace`, 'utf8').trim(),
    token: () => readFileSync(`${dir}/token`, 'utf8').trim(),
    ca: readFileSync(`${dir}/ca.crt`, 'utf8'),
  };
}

export class LeaseElector extends EventEmitter<{ leading: []; 'stopped-leading': []; leader: [LeaderInfo] }> {
  private readonly options: Required<Omit<LeaseElectorOptions, 'ca' | 'log'>> &
    Pick<LeaseElectorOptions, 'log'>;
  private readonly agent: Agent;
  private readonly path: string;
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last Lease record seen and when (by our clock) it last changed. */
  private observed: { holder: string; renewTime: string; at: number } | undefined;
  private lastRenew = 0;
  private current: LeaderInfo | undefined;

  constructor(options: LeaseElectorOptions) {
    super();
    this.options = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      annotations: {},
      ...options,
    };
    if (this.options.renewDeadlineMs >= this.options.leaseDurationMs) {
      throw new Error('the renew deadline must be shorter than the lease duration');
    }
    this.agent = new Agent({ connect: options.ca ? { ca: options.ca } : {} });
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases`;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder as last seen (undefined before the first look or while nobody holds the Lease). */
  leader(): LeaderInfo | undefined {
    return this.current;
  }

  start(): void {
    void this.tick();
  }

  /** Stops campaigning, for good; a leader releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      await this.release().catch((err) => this.log({ event: 'lease-release-failed', message: String(err) }));
      this.emit('stopped-leading');
    }
    await this.agent.close();
  }

  private log(event: Record<string, unknown>): void {
    this.options.log?.({ ...event, lease: this.options.name, identity: this.options.identity });
  }

  private async tick(): Promise<void> {
    try {
      await this.tryAcquireOrRenew();
    } catch (err) {
      this.log({ event: 'lease-error', message: (err as Error).message });
    }
    if (this.leading && Date.now() - this.lastRenew > this.options.renewDeadlineMs) {
      // Could not renew in time: someone else may hold it by now, so stop acting as the leader.
      this.leading = false;
      this.log({ event: 'lease-lost' });
      this.emit('stopped-leading');
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.tick(), this.options.retryPeriodMs);
      this.timer.unref();
    }
  }

  private async call(method: 'GET' | 'POST' | 'PUT', path: string, body?: Lease) {
    const res = await request(`${this.options.apiServer}${path}`, {
      method,
      dispatcher: this.agent,
      headers: {
        authorization: `Bearer ${this.options.token()}`,
        accept: 'application/json',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : null,
      headersTimeout: this.options.retryPeriodMs * 2,
      bodyTimeout: this.options.retryPeriodMs * 2,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      lease: res.statusCode < 300 ? (JSON.parse(text) as Lease) : undefined,
      text,
    };
  }

  private record(now: number): Lease['spec'] & { holderIdentity: string } {
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.options.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = Date.now();
    const got = await this.call('GET', `${this.path}/${encodeURIComponent(this.options.name)}`);
    if (got.status === 404) {
      const created = await this.call('POST', this.path, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.options.name, annotations: this.options.annotations },
        spec: { ...this.record(now), acquireTime: microTime(now), leaseTransitions: 0 },
      });
      if (created.status === 201 || created.status === 200) return this.became(created.lease!, now);
      if (created.status !== 409)
        throw new Error(`creating the Lease: HTTP ${created.status} ${created.text}`);
      return;
    }
    if (got.status !== 200 || !got.lease)
      throw new Error(`reading the Lease: HTTP ${got.status} ${got.text}`);
    const lease = got.lease;
    const holder = lease.spec.holderIdentity ?? '';
    const renewTime = lease.spec.renewTime ?? '';
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: now };
    }
    const durationMs = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
    const mine = holder === this.options.identity;
    const expired = holder === '' || this.observed.at + durationMs <= now;
    if (!mine && !expired) {
      this.follow(holder, lease);
      if (this.leading) {
        this.leading = false;
        this.log({ event: 'lease-lost', holder });
        this.emit('stopped-leading');
      }
      return;
    }
    const next: Lease = {
      ...lease,
      metadata: {
        ...lease.metadata,
        annotations: { ...lease.metadata.annotations, ...this.options.annotations },
      },
      spec: mine
        ? { ...lease.spec, ...this.record(now) }
        : {
            ...lease.spec,
            ...this.record(now),
            acquireTime: microTime(now),
            leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1,
          },
    };
    const put = await this.call('PUT', `${this.path}/${encodeURIComponent(this.options.name)}`, next);
    if (put.status === 200) return this.became(put.lease!, now);
    // 409: another replica wrote the Lease first; it leads, and the next look says who.
    if (put.status !== 409) throw new Error(`updating the Lease: HTTP ${put.status} ${put.text}`);
  }

  private became(lease: Lease, now: number): void {
    this.lastRenew = now;
    this.observed = { holder: this.options.identity, renewTime: lease.spec.renewTime ?? '', at: now };
    this.follow(this.options.identity, lease);
    if (!this.leading) {
      this.leading = true;
      this.log({ event: 'lease-acquired', transitions: lease.spec.leaseTransitions ?? 0 });
      this.emit('leading');
    }
  }

  private follow(identity: string, lease: Lease): void {
    if (this.current?.identity !== identity) {
      this.current = { identity, annotations: lease.metadata.annotations ?? {} };
      this.emit('leader', this.current);
    } else {
      this.current.annotations = lease.metadata.annotations ?? {};
    }
  }

  private async release(): Promise<void> {
    const got = await this.call('GET', `${this.path}/${encodeURIComponent(this.options.name)}`);
    if (got.status !== 200 || got.lease?.spec.holderIdentity !== this.options.identity) return;
    await this.call('PUT', `${this.path}/${encodeURIComponent(this.options.name)}`, {
      ...got.lease,
      spec: {
        ...got.lease.spec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: microTime(Date.now()),
      },
    });
  }
}
