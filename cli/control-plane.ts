// `roam control-plane`: the registry and config server (gRPC for nodes, HTTP for the admin API), and
// `roam token`, which prints the credentials derived from its secret.
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { AdminApi } from '../control-plane/admin-api.ts';
import { adminToken, nodeToken } from '../control-plane/auth.ts';
import type { ControlPlane } from '../control-plane/control-plane.ts';
import { startDiscoveryServer } from '../control-plane/discovery-service.ts';
import { Issuer, readCaFiles, type ServingCertificate } from '../control-plane/issuance.ts';
import { loopInputs } from '../control-plane/placement-inputs.ts';
import { PlacementLoop } from '../control-plane/placement-loop.ts';
import { State } from '../control-plane/state.ts';
import { parseHostPort } from '../core/http.ts';
import { startTelemetry } from '../core/telemetry.ts';
import { migrationCounter, registerPlacementMetrics } from '../profiler/index.ts';
import { type Command, durationFlag, integerFlag, parse, UsageError } from './args.ts';
import { clusterFlags, clusterUsage, startCluster } from './control-plane-cluster.ts';
import { onShutdown } from './lifecycle.ts';

export const DEFAULT_DATA_DIR = '.roam/control-plane';

const usage = `Usage: roam control-plane [--grpc HOST:PORT] [--admin HOST:PORT] [--data-dir DIR]

Options:
  --grpc HOST:PORT       discovery for proxies and hosts (default: 127.0.0.1:7950)
  --admin HOST:PORT      admin API for the roam CLI (default: 127.0.0.1:7900)
  --data-dir DIR         state (SQLite) and module blobs (default: ${DEFAULT_DATA_DIR})
  --node-timeout-ms MS   a node silent this long is marked down (default: 3000)
  --placement-loop on|off  re-place endpoints from live profiles (default: on; off leaves placement to
                         deploys and "roam migrate")
  --loop-period-ms MS    how often the placement loop re-plans; drift re-plans at once (default: 5000)
  --profile-half-life-ms MS
                         half-life of the profile window the loop places from: shorter follows a shifting
                         workload sooner, longer is steadier (default: 30000)

Mesh identities (mTLS):
  --mtls on|off          act as the mesh's certificate authority and serve gRPC over TLS (default: on);
                         nodes then need --ca DIR/ca.pem. Off: plaintext, nodes get no certificates
  --trust-domain TD      the SPIFFE trust domain (default: generated on first start, kept in the state)
  --ca-cert FILE, --ca-key FILE
                         issue from your own CA (PEM); its key is then never stored (default: a CA
                         generated on first start, ECDSA P-256 for 10 years, kept with the state)
  --cert-ttl DURATION    lifetime of node certificates (and the control plane's own), renewed at half
                         of it: 90s, 30m, 24h (default: 24h)
  --tls-name NAME        a DNS name or address the control plane's certificate also carries (repeatable;
                         localhost, 127.0.0.1, ::1 and the listen hosts are always in it)
  --admin-tls            serve the admin API over HTTPS with the control plane's certificate (the CLI
                         then checks it with --ca, $ROAM_CA or DIR/ca.pem)

The admin token is written to DIR/admin.token and the mesh CA's certificate to DIR/ca.pem; "roam token
--node ID" prints a node's token (see "roam token --help" for how a node gets its certificate).
${clusterUsage}`;

export const controlPlaneCommand: Command = {
  name: 'control-plane',
  summary: 'run the control plane: registry, config push over gRPC, deploys, admin API',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        grpc: { type: 'string' },
        admin: { type: 'string' },
        'data-dir': { type: 'string' },
        'node-timeout-ms': { type: 'string' },
        'placement-loop': { type: 'string' },
        'loop-period-ms': { type: 'string' },
        'profile-half-life-ms': { type: 'string' },
        mtls: { type: 'string' },
        'trust-domain': { type: 'string' },
        'ca-cert': { type: 'string' },
        'ca-key': { type: 'string' },
        'cert-ttl': { type: 'string' },
        'tls-name': { type: 'string', multiple: true },
        'admin-tls': { type: 'boolean' },
        ...clusterFlags,
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const grpcAt = parseHostPort(values.grpc ?? '127.0.0.1:7950', '--grpc');
    const adminAt = parseHostPort(values.admin ?? '127.0.0.1:7900', '--admin');
    const dataDir = values['data-dir'] ?? DEFAULT_DATA_DIR;
    const timeout = integerFlag('--node-timeout-ms', values['node-timeout-ms']);
    const halfLife = integerFlag('--profile-half-life-ms', values['profile-half-life-ms'], 1000);
    // Every flag is checked before anything listens: a bad one must end the process, not leave servers up.
    const loopMode = values['placement-loop'] ?? 'on';
    if (loopMode !== 'on' && loopMode !== 'off')
      throw new UsageError(`--placement-loop expects on or off, got "${loopMode}"`);
    const loopPeriodMs = integerFlag('--loop-period-ms', values['loop-period-ms'], 100);
    const mtls = values.mtls ?? 'on';
    if (mtls !== 'on' && mtls !== 'off') throw new UsageError(`--mtls expects on or off, got "${mtls}"`);
    const certTtlMs = durationFlag('--cert-ttl', values['cert-ttl']);
    if ((values['ca-cert'] === undefined) !== (values['ca-key'] === undefined))
      throw new UsageError('--ca-cert and --ca-key go together: the CA certificate and its private key');
    for (const f of [values['ca-cert'], values['ca-key']])
      if (f !== undefined && !existsSync(f)) throw new UsageError(`no file at ${f}`);
    if (mtls === 'off' && values['admin-tls'])
      throw new UsageError(
        '--admin-tls needs --mtls on: the admin API serves the certificate the mesh CA issues',
      );
    const cluster = await startCluster(values, {
      dataDir,
      ...(timeout ? { nodeTimeoutMs: timeout } : {}),
      ...(halfLife ? { profiles: { halfLifeMs: halfLife } } : {}),
    });
    const cp = cluster.cp;
    const tokenFile = join(dataDir, 'admin.token');
    writeFileSync(tokenFile, `${adminToken(cp.state.secret())}\n`);
    chmodSync(tokenFile, 0o600);
    let serving: ServingCertificate | undefined;
    if (mtls === 'on') {
      cp.issuer = await Issuer.open(cp.state, {
        ...(values['ca-cert'] ? { ca: readCaFiles(values['ca-cert'], values['ca-key']!) } : {}),
        ...(values['trust-domain'] ? { trustDomain: values['trust-domain'] } : {}),
        ...(certTtlMs ? { certTtlMs } : {}),
        ...(cluster.settle ? { settle: cluster.settle } : {}),
      }).catch((err: Error) => {
        throw new UsageError(`cannot set up the mesh CA: ${err.message}`);
      });
      serving = await cp.issuer.serving([grpcAt.host, adminAt.host, ...(values['tls-name'] ?? [])]);
    }
    const { server, port } = await startDiscoveryServer(
      cp,
      grpcAt.host,
      grpcAt.port,
      serving,
      cluster.kubernetesAuth ? { kubernetes: cluster.kubernetesAuth } : {},
    );
    const loop = loopMode === 'on' ? startPlacementLoop(cp, loopPeriodMs) : undefined;
    const telemetry = await startTelemetry('roam-control-plane');
    registerPlacementMetrics(() => {
      const nodes = new Map(cp.state.nodes().map((n) => [n.id, n]));
      return cp.state
        .placements()
        .map((p) => ({ endpoint: p.endpoint, host: p.nodeId, tier: nodes.get(p.nodeId)?.tier ?? 'unknown' }));
    });
    const countMigration = migrationCounter();
    cp.onMigrationStep((m) => {
      if (m.outcome) countMigration(m.endpoint, m.outcome);
    });
    const admin = new AdminApi(
      cp,
      loop,
      cluster.forward,
      telemetry.metricsHandler,
      values['admin-tls'] ? serving : undefined,
    );
    const adminAddress = await admin.listen(adminAt.port, adminAt.host);
    const clusterInfo = await cluster.afterListen(adminAddress);
    const stopped = onShutdown(async () => {
      cp.stopDeciding();
      loop?.close();
      await admin.close();
      await telemetry.shutdown();
      await stopGrpc(server);
      serving?.close();
      await cluster.stop();
    });
    console.log(
      JSON.stringify({
        event: 'listening',
        component: 'control-plane',
        address: `${adminAddress.address}:${adminAddress.port}`,
        grpc: `${grpcAt.host}:${port}`,
        dataDir,
        ...(cp.issuer
          ? {
              trustDomain: cp.issuer.trustDomain,
              ca: cp.issuer.caFile,
              adminTls: values['admin-tls'] === true,
            }
          : { mtls: 'off' }),
        ...clusterInfo,
      }),
    );
    await stopped;
    return 0;
  },
};

function startPlacementLoop(cp: ControlPlane, periodMs: number | undefined): PlacementLoop {
  const loop = new PlacementLoop(
    cp,
    loopInputs(cp.profiles, () => cp.isLeader()),
    {
      ...(periodMs ? { periodMs } : {}),
    },
  );
  cp.profiles.onDrift(() => loop.requestRound('drift'));
  loop.start();
  return loop;
}

const tokenUsage = `Usage: roam token [--data-dir DIR] [--node ID]

Prints the admin token, or with --node the token node ID presents to the control plane. With $ROAM_SECRET set
(the control plane's secret on Kubernetes), derives it from that instead of reading DIR.

How a node gets its identity (mTLS on, the default):
  1. the node dials the control plane's gRPC over TLS and checks its certificate against the mesh CA
     (--ca DIR/ca.pem or $ROAM_CA on roam proxy and roam host), presenting its node token;
  2. it generates a key pair (the private key never leaves the node) and sends a certificate signing request;
  3. the control plane signs a certificate for the node its token names (never another: PERMISSION_DENIED),
     spiffe://TRUST-DOMAIN/node/ID, valid for --cert-ttl (24h), and the node serves and calls the mesh with it;
  4. at half the certificate's lifetime the node sends a new CSR for a new key, and keeps the old certificate
     while it is valid if the control plane cannot be reached. "roam status" shows each node's expiry.
The token is the bootstrap credential: keep it as secret as a key.`;

export const tokenCommand: Command = {
  name: 'token',
  summary: "print the admin token or a node's token",
  usage: tokenUsage,
  async run(argv) {
    const { values } = parse(argv, { 'data-dir': { type: 'string' }, node: { type: 'string' } }, tokenUsage);
    if (values.help) {
      console.log(tokenUsage);
      return 0;
    }
    let secret = process.env.ROAM_SECRET;
    if (!secret) {
      const state = new State(values['data-dir'] ?? DEFAULT_DATA_DIR);
      secret = state.secret();
      state.close();
    }
    console.log(values.node ? nodeToken(secret, values.node) : adminToken(secret));
    return 0;
  },
};

/**
 * Stops the gRPC server: calls in flight get a second to end, then every stream is cut. Nodes' discovery
 * streams never end by themselves (over TLS they held tryShutdown for seconds), and a node reconnects to the
 * next control plane anyway, with what it applied last still serving meanwhile.
 */
function stopGrpc(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const cut = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 1000);
    server.tryShutdown(() => {
      clearTimeout(cut);
      resolve();
    });
  });
}
