// A control plane that is one of several replicas sharing state through PostgreSQL (shared-state.ts). The
// leader (leader-election.ts decides who) is the only one that changes the state: it runs operations, the
// placement loop (gated on isLeader()) and node liveness, and pushes every change. Followers mirror the state
// and serve discovery from it: nodes connected to a follower get the snapshots the leader built, and their
// subscribe/ACK/NACK/heartbeat messages travel to the leader through the shared store. Admin writes that reach
// a follower are forwarded to the leader's admin API. A replica that takes over first catches up from the
// shared store, then behaves as a restarted control plane would (static stability, a grace period for nodes).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'undici';
import { InvalidArgumentError, NoLeaderError } from '../core/errors.ts';
import { sendError } from '../core/http.ts';
import { ControlPlane, type ControlPlaneOptions, type NodeLoad, type NodeSession } from './control-plane.ts';
import type { SubscribeMsg } from './proto.ts';
import { type NodeEvent, SharedState } from './shared-state.ts';
import type { NodeRecord } from './state.ts';

/** The part of a LeaseElector a replica needs. */
export interface Leadership {
  isLeader(): boolean;
  /** The current leader's admin API URL, if one is known. */
  leaderAdminUrl(): string | undefined;
}

export interface ReplicaOptions extends ControlPlaneOptions {
  /** postgres://USER:PASSWORD@HOST:PORT/DB */
  stateUrl: string;
  /** This replica's name in the shared store (the pod name). */
  replicaId: string;
  /** Without an elector the replica always leads: one control plane that keeps its state in PostgreSQL. */
  elector?: Leadership;
  /** How often to push (leader) or pull (follower); default 200 ms. */
  syncIntervalMs?: number;
  log?: (event: Record<string, unknown>) => void;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'te',
  'trailer',
]);

export class ReplicatedControlPlane extends ControlPlane {
  readonly shared: SharedState;
  private readonly elector: Leadership | undefined;
  private readonly syncIntervalMs: number;
  private readonly graceMs: number;
  private readonly log: (event: Record<string, unknown>) => void;
  /** Set once this replica has caught up after winning the election: only then does it act as the leader. */
  private promoted = false;
  /** Follower: the nodes whose streams end here, with their subscribe message. */
  private readonly relayed = new Map<string, { msg: SubscribeMsg; session: NodeSession }>();
  /** Leader: stand-ins for streams that end at a follower (the follower does the sending). */
  private readonly remote = new Map<string, NodeSession>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;

  constructor(options: ReplicaOptions) {
    super(options);
    this.elector = options.elector;
    this.syncIntervalMs = options.syncIntervalMs ?? 200;
    this.graceMs = options.restartGraceMs ?? 10_000;
    this.log = options.log ?? (() => {});
    this.shared = new SharedState(options.stateUrl, options.dataDir, this.state.modules, options.replicaId);
  }

  /** Connects to the shared store and catches up; the replica serves nothing before this resolves. */
  async start(): Promise<void> {
    await this.shared.open();
    await this.shared.pull();
    this.resume(this.graceMs);
    if (!this.elector) await this.promote();
    this.timer = setInterval(() => {
      this.syncing ??= this.sync().finally(() => {
        this.syncing = undefined;
      });
    }, this.syncIntervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
    if (this.promoted) await this.shared.push().catch(() => {});
    await this.shared.close();
    this.close();
  }

  override isLeader(): boolean {
    return this.promoted && (this.elector?.isLeader() ?? true);
  }

  private async sync(): Promise<void> {
    try {
      if (this.elector?.isLeader() && !this.promoted) await this.promote();
      if (this.isLeader()) {
        await this.shared.drainEvents((e) => this.apply(e));
        await this.shared.push();
      } else if ((await this.shared.pull()) > 0) {
        this.publish();
      }
    } catch (err) {
      this.log({ event: 'shared-state-error', message: (err as Error).message });
    }
  }

  private async promote(): Promise<void> {
    const term = await this.shared.claim();
    await this.shared.pull();
    this.resume(this.graceMs);
    this.promoted = true;
    // Streams that ended here while following are now this leader's own sessions.
    for (const { msg, session } of this.relayed.values()) super.subscribe(msg, session);
    this.relayed.clear();
    await this.shared.drainEvents((e) => this.apply(e));
    this.publish();
    this.log({ event: 'leading', term });
  }

  /** Leader: a node message that reached a follower, applied as if the node were connected here. */
  private apply(e: NodeEvent): void {
    try {
      const p = e.payload as Record<string, unknown> | null;
      let session = this.remote.get(e.nodeId);
      if (!session) {
        session = { sentVersion: -1, send: () => {} };
        this.remote.set(e.nodeId, session);
      }
      if (e.kind === 'subscribe') super.subscribe(p as unknown as SubscribeMsg, session);
      else if (e.kind === 'ack') super.ack(e.nodeId, p!.version as number, p!.ready as string[]);
      else if (e.kind === 'nack') super.nack(e.nodeId, p!.version as number, p!.reason as string);
      else if (e.kind === 'heartbeat') super.heartbeat(e.nodeId, (p ?? undefined) as NodeLoad | undefined);
      else if (e.kind === 'disconnect') super.disconnect(e.nodeId, session);
      else if (e.kind === 'certificate')
        super.recordCertificate(e.nodeId, p!.spiffeId as string, p!.notAfter as number);
    } catch (err) {
      this.log({
        event: 'node-event-refused',
        node: e.nodeId,
        kind: e.kind,
        message: (err as Error).message,
      });
    }
  }

  private relay(nodeId: string, kind: NodeEvent['kind'], payload: unknown): void {
    this.shared.relay(nodeId, kind, payload).catch((err) => {
      this.log({ event: 'node-relay-failed', node: nodeId, kind, message: (err as Error).message });
    });
  }

  /** Follower: sends `nodeId` the snapshot the leader built for it, if it has not seen that version. */
  private sendMirrored(nodeId: string, session: NodeSession): void {
    const snap = this.state.snapshotOf(nodeId);
    if (!snap || session.sentVersion === snap.version) return;
    session.sentVersion = snap.version;
    session.send({ version: snap.version, ...JSON.parse(snap.content) });
  }

  override subscribe(msg: SubscribeMsg, session: NodeSession): NodeRecord {
    if (this.isLeader()) return super.subscribe(msg, session);
    if (msg.kind !== 'proxy' && msg.kind !== 'host') {
      throw new InvalidArgumentError(`subscribe: kind must be "proxy" or "host", got "${msg.kind}"`);
    }
    this.relayed.set(msg.nodeId, { msg, session });
    session.sentVersion = -1;
    this.relay(msg.nodeId, 'subscribe', msg);
    this.sendMirrored(msg.nodeId, session);
    return {
      id: msg.nodeId,
      kind: msg.kind,
      tier: msg.tier,
      location: msg.location,
      address: msg.address,
      cpuMillis: msg.cpuMillis,
      memoryMib: msg.memoryMib,
      capabilities: msg.capabilities,
      stores: msg.stores,
      ready: [],
      appliedVersion: msg.appliedVersion,
      lastSeen: Date.now(),
      status: 'up',
    };
  }

  override disconnect(nodeId: string, session: NodeSession): void {
    if (this.relayed.get(nodeId)?.session === session) {
      this.relayed.delete(nodeId);
      this.relay(nodeId, 'disconnect', null);
    }
    super.disconnect(nodeId, session);
  }

  // A follower issues certificates itself (every replica holds the CA); the leader records them.
  override recordCertificate(nodeId: string, spiffeId: string, notAfter: number): void {
    if (this.isLeader()) super.recordCertificate(nodeId, spiffeId, notAfter);
    else this.relay(nodeId, 'certificate', { spiffeId, notAfter });
  }

  override heartbeat(nodeId: string, load?: NodeLoad): void {
    if (this.isLeader()) super.heartbeat(nodeId, load);
    else this.relay(nodeId, 'heartbeat', load ?? null);
  }

  override ack(nodeId: string, version: number, ready: string[]): void {
    if (this.isLeader()) super.ack(nodeId, version, ready);
    else this.relay(nodeId, 'ack', { version, ready });
  }

  override nack(nodeId: string, version: number, reason: string): void {
    if (this.isLeader()) super.nack(nodeId, version, reason);
    else this.relay(nodeId, 'nack', { version, reason });
  }

  override publish(): void {
    if (this.isLeader()) {
      super.publish();
      return;
    }
    for (const [nodeId, { session }] of this.relayed) this.sendMirrored(nodeId, session);
  }

  /**
   * Leader: the answer to a write leaves only once the write is in PostgreSQL, so a failover right after it
   * cannot lose what the client was told succeeded. If PostgreSQL is unreachable the answer still goes (the
   * write is committed here and pushed when it is back): the control plane stays usable, at that risk.
   */
  private holdUntilShared(res: ServerResponse): void {
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      this.shared.push().then(
        () => end(...args),
        (err: Error) => {
          this.log({ event: 'shared-state-error', message: err.message });
          end(...args);
        },
      );
      return res;
    }) as ServerResponse['end'];
  }

  /**
   * Follower: streams an admin write to the leader and its answer back; answers false on the leader (handle
   * it here). Refuses with 503 while no leader is known.
   */
  forwardToLeader = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (this.isLeader()) {
      this.holdUntilShared(res);
      return false;
    }
    const leader = this.elector?.leaderAdminUrl();
    if (!leader) {
      sendError(res, new NoLeaderError('no control-plane replica leads right now; retry in a few seconds'));
      return true;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string' && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    const answer = await request(`${leader}${req.url ?? '/'}`, {
      method: req.method as 'POST',
      headers,
      body: req,
    }).catch((err: Error) => {
      // The leader died and its Lease has not expired yet: the same answer as during an election.
      throw new NoLeaderError(
        `the leader at ${leader} did not answer (${err.message}); retry in a few seconds`,
      );
    });
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(answer.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    }
    res.writeHead(answer.statusCode, out);
    for await (const chunk of answer.body) res.write(chunk);
    res.end();
    return true;
  };
}
