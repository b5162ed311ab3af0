// The control plane's core: keeps the state, knows which nodes are connected, and publishes a new snapshot to
// every node whose configuration changed, in make-before-break order (snapshot.ts). The gRPC service and
// the admin API are thin layers over this.
import { ConflictError, InvalidArgumentError, NotFoundError } from '../core/errors.ts';
import { ProfileStore, type ProfileStoreOptions } from '../profiler/index.ts';
import type { RouteSpec } from '../proxy/index.ts';
import { RouteTable } from '../proxy/index.ts';
import type { Issued } from './ca.ts';
import type { Issuer } from './issuance.ts';
import {
  type Layout,
  type MigrationOptions,
  type MigrationRecord,
  Migrations,
  type ShiftPolicy,
} from './migration.ts';
import { Pins } from './pins.ts';
import { observeReplicas } from './placement-inputs.ts';
import type { CertificateRequestMsg, SnapshotMsg, SubscribeMsg } from './proto.ts';
import { buildSnapshots, type SnapshotContent } from './snapshot.ts';
import { type EndpointPolicy, type NodeRecord, policyViolation, State } from './state.ts';

/** How an operator's move goes (`roam migrate`). */
export interface ManualMove {
  shift?: ShiftPolicy;
  /** Skip the verify step's regression check. */
  force?: boolean;
  /** How long the pin holds; absent: until `roam resume NAME`. */
  pinForMs?: number;
}

export interface NodeLoad {
  inFlight: number;
  cpuMillis: number;
  memoryMib: number;
}

/** A connected node's stream, as the gRPC layer exposes it. */
export interface NodeSession {
  send(snapshot: SnapshotMsg): void;
  sentVersion: number;
}

export interface ControlPlaneOptions {
  dataDir: string;
  /** A node that sends nothing (heartbeats included) for this long is marked down. */
  nodeTimeoutMs?: number;
  /** After start, how long nodes may take to reconnect before any is marked down. */
  restartGraceMs?: number;
  /** Windows, drift thresholds and caps of the profile store (profiler/). */
  profiles?: Omit<ProfileStoreOptions, 'node'>;
  migration?: Partial<MigrationOptions>;
  /** With replicas (leader-election.ts), whether this one leads; without, it always does. */
  leadership?: { isLeader(): boolean };
}

export class ControlPlane {
  readonly state: State;
  /** Per-endpoint profiles merged from the nodes' reports; the placement loop reads them and their drift. */
  readonly profiles: ProfileStore;
  private readonly sessions = new Map<string, NodeSession>();
  /** Per node, the snapshot content it last acknowledged (what it is running now). */
  private readonly acked = new Map<string, SnapshotContent>();
  private readonly nodeTimeoutMs: number;
  private readonly liveness: NodeJS.Timeout;
  private readonly waiters = new Set<() => void>();
  private graceUntil: number;
  private readonly leadership: { isLeader(): boolean } | undefined;
  /** The load each node reported in its last heartbeat (kept in memory: it is stale after a restart anyway). */
  private readonly load = new Map<string, NodeLoad>();
  readonly migrations: Migrations;
  /** Endpoints operators moved by hand, which the placement loop leaves alone. */
  readonly pins: Pins;
  private readonly stepListeners = new Set<(m: MigrationRecord) => void>();
  /** The mesh CA nodes get their certificates from; undefined while mTLS is off. */
  issuer: Issuer | undefined;

  constructor(options: ControlPlaneOptions) {
    this.state = new State(options.dataDir);
    this.pins = new Pins(this.state);
    this.profiles = new ProfileStore({
      ...options.profiles,
      node: (id) => {
        const n = this.state.node(id);
        return n && { id: n.id, kind: n.kind, tier: n.tier, site: n.location };
      },
    });
    this.nodeTimeoutMs = options.nodeTimeoutMs ?? 3000;
    this.leadership = options.leadership;
    this.graceUntil = 0;
    this.resume(options.restartGraceMs ?? 10_000);
    this.liveness = setInterval(() => this.markSilentNodesDown(), Math.max(100, this.nodeTimeoutMs / 3));
    this.liveness.unref();
    this.migrations = new Migrations(
      {
        state: this.state,
        publish: () => this.publish(),
        onStep: (m) => {
          for (const l of this.stepListeners) l(m);
          this.notify();
        },
      },
      {
        // The verify step compares the new replicas with the old ones as their hosts report them.
        observe: (endpoint, hostIds) => observeReplicas(this.profiles, endpoint, hostIds),
        ...options.migration,
      },
    );
  }

  /** Whether this replica decides (placement, liveness, operations): the HA leader, or the only replica. */
  isLeader(): boolean {
    return this.leadership?.isLeader() ?? true;
  }

  /**
   * After a restart, or when this replica takes over as leader: what each node acknowledged last is what it
   * still runs (static stability), and nodes get `graceMs` to reconnect (their backoff may be seconds) before
   * silence counts against them.
   */
  resume(graceMs: number): void {
    this.graceUntil = Date.now() + graceMs;
    for (const n of this.state.nodes()) {
      const snap = this.state.snapshotOf(n.id);
      if (snap && snap.version === n.appliedVersion) this.acked.set(n.id, JSON.parse(snap.content));
    }
  }

  /**
   * Stops deciding, first thing on the way out: its nodes go silent because it stopped serving them, which must
   * not be recorded as their going down (the next control plane would start from that), and moves in flight
   * stay as persisted for the next one to resume.
   */
  stopDeciding(): void {
    clearInterval(this.liveness);
    this.migrations.close();
  }

  close(): void {
    this.stopDeciding();
    this.state.close();
  }

  /** Calls `listener` whenever a migration changes step; returns a function that stops it. */
  onMigrationStep(listener: (m: MigrationRecord) => void): () => void {
    this.stepListeners.add(listener);
    return () => this.stepListeners.delete(listener);
  }

  /** Resolves when something changes (an ACK, a node up or down); for callers waiting on a rollout. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private notify(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  // --- nodes ---

  subscribe(msg: SubscribeMsg, session: NodeSession): NodeRecord {
    if (msg.kind !== 'proxy' && msg.kind !== 'host') {
      throw new InvalidArgumentError(`subscribe: kind must be "proxy" or "host", got "${msg.kind}"`);
    }
    const previous = this.state.node(msg.nodeId);
    const node: NodeRecord = {
      id: msg.nodeId,
      kind: msg.kind,
      tier: tierOf(msg),
      location: msg.location || msg.nodeId,
      address: msg.address,
      cpuMillis: msg.cpuMillis,
      memoryMib: msg.memoryMib,
      capabilities: msg.capabilities,
      stores: msg.stores,
      // What the node says it runs; a node that does not say keeps what it ACKed, if it applied that version.
      ready: msg.ready ?? (previous && previous.appliedVersion === msg.appliedVersion ? previous.ready : []),
      appliedVersion: msg.appliedVersion,
      lastSeen: Date.now(),
      status: 'up',
    };
    this.state.saveNode(node);
    if (previous?.status !== 'up') this.state.record('node-up', null, { node: node.id, kind: node.kind });
    this.sessions.set(node.id, session);
    session.sentVersion = -1;
    this.publish();
    return node;
  }

  /**
   * Signs a certificate for `nodeId` (the node its token proves) from its CSR, naming the tier and site it
   * subscribes with. Undefined when mTLS is off.
   */
  async issueCertificate(nodeId: string, request: CertificateRequestMsg): Promise<Issued | undefined> {
    if (!this.issuer) return undefined;
    const node = request.node;
    const issued = await this.issuer.issue(request.csr, {
      nodeId,
      tier: tierOf(node),
      site: node.location || nodeId,
    });
    this.recordCertificate(nodeId, issued.spiffeId, issued.notAfter.getTime());
    return issued;
  }

  recordCertificate(nodeId: string, spiffeId: string, notAfter: number): void {
    this.state.saveCertificate(nodeId, spiffeId, notAfter);
    this.state.record('certificate-issued', null, {
      node: nodeId,
      spiffeId,
      notAfter: new Date(notAfter).toISOString(),
    });
    this.notify();
  }

  disconnect(nodeId: string, session: NodeSession): void {
    if (this.sessions.get(nodeId) === session) this.sessions.delete(nodeId);
  }

  heartbeat(nodeId: string, load?: NodeLoad): void {
    const node = this.state.node(nodeId);
    if (!node) return;
    node.lastSeen = Date.now();
    if (load) this.load.set(nodeId, load);
    if (node.status === 'down') {
      node.status = 'up';
      this.state.saveNode(node);
      this.publish();
    } else {
      this.state.saveNode(node);
    }
  }

  ack(nodeId: string, version: number, ready: string[]): void {
    const node = this.state.node(nodeId);
    if (!node) return;
    const snap = this.state.snapshotOf(nodeId);
    if (snap && snap.version === version) this.acked.set(nodeId, JSON.parse(snap.content));
    node.appliedVersion = version;
    node.ready = ready;
    node.lastSeen = Date.now();
    this.state.saveNode(node);
    // A host that became ready may now receive traffic; a proxy that dropped a route lets a host unload.
    this.publish();
    this.migrations.tick();
    this.notify();
  }

  nack(nodeId: string, version: number, reason: string): void {
    this.state.record('nack', null, { node: nodeId, version, reason });
    this.notify();
  }

  private markSilentNodesDown(): void {
    const now = Date.now();
    if (now < this.graceUntil) return;
    const down: string[] = [];
    for (const n of this.state.nodes()) {
      if (n.status === 'up' && now - Math.max(n.lastSeen, this.graceUntil) > this.nodeTimeoutMs) {
        n.status = 'down';
        this.state.saveNode(n);
        this.state.record('node-down', null, { node: n.id, silentForMs: now - n.lastSeen });
        down.push(n.id);
      }
    }
    if (down.length > 0) {
      this.publish();
      this.migrations.tick();
      for (const id of down) this.replaceFrom(id);
      this.notify();
    }
  }

  /**
   * Endpoints that ran on a host that went down move off it: to their other replicas, or where the default
   * placement puts them (the placement loop refines that later). Moves already under way roll back by
   * themselves when their target dies.
   */
  private replaceFrom(nodeId: string): void {
    for (const ep of this.state.endpoints()) {
      const hosts = this.placementOf(ep.name);
      if (!hosts.includes(nodeId) || this.migrations.inFlight(ep.name)) continue;
      const upHosts = new Set(
        this.state
          .nodes()
          .filter((n) => n.status === 'up')
          .map((n) => n.id),
      );
      let to = hosts.filter((h) => h !== nodeId && upHosts.has(h));
      try {
        if (to.length === 0) to = this.defaultPlacement(ep.name, ep.policy);
        this.migrations.start(ep.name, { hosts: to }, { reason: `host-down:${nodeId}` });
      } catch (err) {
        this.state.record('unplaceable', ep.name, { node: nodeId, why: (err as Error).message });
      }
    }
  }

  // --- publishing ---

  /** Rebuilds every node's snapshot; a node whose content changed gets a new version, pushed if connected. */
  publish(): void {
    const routed = new Map<string, Set<string>>();
    for (const n of this.state.nodes()) {
      if (n.kind !== 'proxy') continue;
      for (const ep of this.acked.get(n.id)?.endpoints ?? []) {
        let set = routed.get(ep.endpoint);
        if (!set) {
          set = new Set();
          routed.set(ep.endpoint, set);
        }
        for (const t of ep.targets) set.add(t.hostId);
      }
    }
    const contents = buildSnapshots({
      endpoints: this.state.endpoints(),
      placements: this.state.placements(),
      nodes: this.state.nodes(),
      routed,
      weights: this.state.allWeights(),
    });
    for (const [nodeId, content] of contents) {
      const json = JSON.stringify(content);
      let snap = this.state.snapshotOf(nodeId);
      if (!snap || snap.content !== json) {
        snap = { version: this.state.nextVersion(), content: json };
        this.state.saveSnapshot(nodeId, snap.version, json);
      }
      const session = this.sessions.get(nodeId);
      if (session && session.sentVersion !== snap.version) {
        session.sentVersion = snap.version;
        session.send({ version: snap.version, ...content });
      }
    }
  }

  // --- operations (admin API and CLI) ---

  uploadModule(bytes: Uint8Array, expected?: string): string {
    const digest = this.state.modules.put(bytes, expected);
    this.state.record('module-upload', null, { digest, size: bytes.length });
    return digest;
  }

  deploy(
    endpoint: string,
    digest: string,
    routes: RouteSpec[] | undefined,
    policy?: EndpointPolicy,
    options: { takeRoute?: boolean } = {},
  ): { version: number } {
    if (routes) {
      // Validate the routes as a proxy would, so a bad route is refused here and never reaches a proxy.
      RouteTable.build({
        version: 1,
        routes: routes.map((r) => ({ ...r, endpoint })),
        endpoints: { [endpoint]: { targets: [{ kind: 'upstream', weight: 1 }] } },
      });
      this.claimRoutes(endpoint, digest, routes, options.takeRoute === true);
    }
    const existing = this.state.endpoint(endpoint);
    const effective = policy ?? existing?.policy ?? {};
    // A placement that the (new) policy forbids is replaced; an empty one gets the default.
    let placement = this.placementOf(endpoint);
    const moving = this.migrations.inFlight(endpoint) !== undefined;
    const hosts = new Map(this.state.nodes().map((n) => [n.id, n]));
    if (!moving) {
      placement = placement.filter((id) => hosts.has(id) && !policyViolation(effective, hosts.get(id)!));
      if (placement.length === 0) placement = this.defaultPlacement(endpoint, effective);
    }
    const { version, changed } = this.state.deploy(
      endpoint,
      digest,
      routes?.map((r) => ({ ...r, endpoint })),
      policy,
    );
    this.state.setPlacement(endpoint, placement);
    if (changed) this.state.record('deploy', endpoint, { version, digest, placement, policy: effective });
    this.publish();
    return { version };
  }

  /**
   * A route another endpoint serves is not taken silently: refused (409, naming its owner) unless the
   * operator says so, and then it leaves its owner (a new version of it, without the route) and the move is
   * in the history.
   */
  private claimRoutes(endpoint: string, digest: string, routes: RouteSpec[], take: boolean): void {
    const key = (r: RouteSpec) =>
      `${r.match
        .trim()
        .split(/\s+/)
        .map((p, i) => (i === 0 ? p.toUpperCase() : p))
        .join(' ')}|${r.host?.toLowerCase() ?? ''}`;
    const wanted = new Set(routes.map(key));
    const owners = this.state
      .endpoints()
      .filter((e) => e.name !== endpoint)
      .map((e) => ({ owner: e, taken: e.routes.filter((r) => wanted.has(key(r))) }))
      .filter((o) => o.taken.length > 0);
    if (owners.length === 0) return;
    if (!take) {
      const { owner, taken } = owners[0]!;
      throw new ConflictError(
        `route "${taken[0]!.match}" belongs to endpoint "${owner.name}": deploy with --take-route (API: "takeRoute": true) to move it to "${endpoint}"`,
        { endpoint },
      );
    }
    if (!this.state.modules.has(digest)) throw new NotFoundError(`module ${digest} has not been uploaded`);
    for (const { owner, taken } of owners) {
      const kept = owner.routes.filter((r) => !wanted.has(key(r)));
      this.state.deploy(owner.name, owner.digest, kept, undefined);
      for (const r of taken)
        this.state.record('route-taken', endpoint, {
          route: r.match,
          host: r.host ?? null,
          from: owner.name,
        });
    }
  }

  rollback(endpoint: string, to: number | undefined): { version: number; digest: string } {
    const ep = this.state.rollback(endpoint, to);
    this.state.record('rollback', endpoint, { version: ep.version, digest: ep.digest });
    this.publish();
    return { version: ep.version, digest: ep.digest };
  }

  /**
   * An operator's move of `endpoint` to `to` (host or proxy ids) through a live migration; returns at once. It
   * wins over a loop move in flight and pins the endpoint (for `pinForMs`, or until released) so the loop
   * leaves it where the operator put it. `force` skips the verify step's regression check.
   */
  migrate(endpoint: string, to: string[], how: ManualMove = {}): MigrationRecord {
    if (!this.state.endpoint(endpoint))
      throw new NotFoundError(`endpoint "${endpoint}" does not exist`, { endpoint });
    if (to.length === 0) throw new InvalidArgumentError('a migration needs at least one target');
    const policy = this.state.endpoint(endpoint)!.policy;
    for (const id of to) {
      const node = this.state.node(id);
      if (!node) throw new NotFoundError(`host "${id}" is not known to the control plane`);
      const why = policyViolation(policy, node);
      if (why) throw new ConflictError(`cannot place "${endpoint}" on ${id}: ${why}`, { endpoint });
      if (node.status !== 'up')
        throw new ConflictError(`cannot place "${endpoint}" on ${id}: it is down`, { endpoint });
    }
    const layout: Layout = { hosts: [...new Set(to)] };
    const m = this.migrations.start(endpoint, layout, {
      reason: 'manual',
      ...(how.shift ? { shift: how.shift } : {}),
      ...(how.force ? { force: true } : {}),
    });
    this.pins.set(endpoint, m.id, how.pinForMs);
    return m;
  }

  placementOf(endpoint: string): string[] {
    return this.state.placements(endpoint).map((p) => p.nodeId);
  }

  /**
   * Where an endpoint goes before the placement loop has measured anything (a new endpoint, or one whose hosts
   * all died): every up host the policy allows, preferring the cluster tier. Refuses with the reasons when no
   * host qualifies, so a person can act on it.
   */
  private defaultPlacement(endpoint: string, policy: EndpointPolicy): string[] {
    const hosts = this.state.nodes().filter((n) => n.kind === 'host' && n.status === 'up');
    const allowed = hosts.filter((h) => !policyViolation(policy, h));
    if (allowed.length === 0) {
      const reasons = hosts.map((h) => policyViolation(policy, h)).join('; ');
      throw new ConflictError(
        `no host can run "${endpoint}"${reasons ? `: ${reasons}` : ': no host is up'}`,
        {
          endpoint,
        },
      );
    }
    const cluster = allowed.filter((h) => h.tier === 'cluster');
    return (cluster.length > 0 ? cluster : allowed).map((h) => h.id);
  }

  status() {
    const certificates = this.state.certificateExpiries();
    return this.state.nodes().map((n) => {
      const desired = this.state.snapshotOf(n.id)?.version ?? 0;
      const certExpires = certificates.get(n.id);
      return {
        ...n,
        desiredVersion: desired,
        inSync: desired === n.appliedVersion,
        connected: this.sessions.has(n.id),
        load: this.load.get(n.id) ?? null,
        certExpires: certExpires === undefined ? null : new Date(certExpires).toISOString(),
      };
    });
  }
}

/** A node's tier as it subscribes: proxies embed an in-process host; a host says nothing means cluster. */
function tierOf(node: Pick<SubscribeMsg, 'kind' | 'tier'>): string {
  return node.tier || (node.kind === 'proxy' ? 'in-process' : 'cluster');
}
