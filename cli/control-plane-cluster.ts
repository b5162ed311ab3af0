// `roam control-plane` on Kubernetes (docs/kubernetes.md): replicas that share state in PostgreSQL and elect a
// leader through a Lease, the secret from a Kubernetes Secret, pods proving who they are with their
// service-account tokens, and the sidecar-injection webhook. Without these flags the control plane runs as it
// always has, on its embedded SQLite alone.

import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { AdmissionWebhook } from '../control-plane/admission-webhook.ts';
import { CA_CONFIGMAP, publishCaConfigMap } from '../control-plane/ca-configmap.ts';
import { ControlPlane, type ControlPlaneOptions } from '../control-plane/control-plane.ts';
import { ADMIN_URL_ANNOTATION, inClusterConfig, LeaseElector } from '../control-plane/leader-election.ts';
import { ReplicatedControlPlane } from '../control-plane/replica.ts';
import { seedSecret } from '../control-plane/shared-state.ts';
import { TokenReviewer } from '../control-plane/token-review.ts';
import { parseHostPort } from '../core/http.ts';
import { UsageError } from './args.ts';

export const clusterFlags = {
  'state-url': { type: 'string' },
  'leader-elect': { type: 'boolean' },
  'lease-name': { type: 'string' },
  'lease-duration-ms': { type: 'string' },
  'replica-id': { type: 'string' },
  'advertise-admin': { type: 'string' },
  'kubernetes-auth': { type: 'boolean' },
  'webhook-listen': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'sidecar-image': { type: 'string' },
  'sidecar-control-plane': { type: 'string' },
} as const;

export const clusterUsage = `
Replicas (Kubernetes):
  --state-url URL        keep the state in PostgreSQL too (postgres://...; default: $ROAM_STATE_URL), so
                         replicas share it; SQLite stays each replica's working copy
  --leader-elect         elect a leader through a coordination.k8s.io Lease (needs --state-url); only the
                         leader changes the state, followers serve discovery and forward admin writes
  --lease-name NAME      the Lease (default: roam-control-plane), in the pod's namespace
  --lease-duration-ms MS how long a leader holds the Lease without renewing it (default: 15000)
  --replica-id ID        this replica's identity (default: $POD_NAME, else the hostname)
  --advertise-admin URL  where other replicas reach this admin API (default: http://$POD_IP:ADMIN_PORT)
  $ROAM_SECRET           the secret tokens derive from (from a Kubernetes Secret); replaces the stored one
  --kubernetes-auth      nodes may also prove who they are with their pod's projected service-account token
                         (audience roam), checked with a TokenReview: the node is the pod (POD in this
                         namespace, NAMESPACE/POD elsewhere). With mTLS on, the mesh CA's certificate is
                         published as the ConfigMap ${CA_CONFIGMAP} (key ca.pem) in this namespace

Sidecar injection:
  --webhook-listen HOST:PORT  serve the mutating admission webhook over HTTPS (/inject/namespace, /inject/workload);
                              needs --kubernetes-auth: injected proxies present their service-account tokens
  --tls-cert FILE, --tls-key FILE  the webhook's certificate and key (PEM)
  --sidecar-image IMAGE       the Roam image injected sidecars run (default: $ROAM_IMAGE)
  --sidecar-control-plane H:P the gRPC address injected proxies dial
                              (default: roam-control-plane.$POD_NAMESPACE.svc:7950)`;

type Values = {
  [K in keyof typeof clusterFlags]?: (typeof clusterFlags)[K]['type'] extends 'boolean' ? boolean : string;
};

export interface Cluster {
  cp: ControlPlane;
  /** With --kubernetes-auth: checks nodes' service-account tokens. */
  kubernetesAuth?: TokenReviewer;
  /** For the admin API: on a follower, forwards writes to the leader. */
  forward?: ReplicatedControlPlane['forwardToLeader'];
  /** With shared state: settles a setting every replica must share (the mesh CA), the first offer winning. */
  settle?: (name: string, value: unknown) => Promise<void>;
  /** Once the admin API listens: starts campaigning for the Lease and serving the webhook. */
  afterListen(admin: AddressInfo): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

function log(event: Record<string, unknown>): void {
  console.error(JSON.stringify(event));
}

export async function startCluster(values: Values, options: ControlPlaneOptions): Promise<Cluster> {
  const stateUrl = values['state-url'] ?? process.env.ROAM_STATE_URL;
  if (values['leader-elect'] && !stateUrl) {
    throw new UsageError('--leader-elect needs --state-url: replicas must share their state');
  }
  const leaseMs = values['lease-duration-ms'] === undefined ? 15_000 : Number(values['lease-duration-ms']);
  if (!(leaseMs >= 1000)) throw new UsageError('--lease-duration-ms expects at least 1000');
  const webhookAt = values['webhook-listen']
    ? parseHostPort(values['webhook-listen'], '--webhook-listen')
    : undefined;
  const image = values['sidecar-image'] ?? process.env.ROAM_IMAGE;
  if (webhookAt && (!values['tls-cert'] || !values['tls-key'])) {
    throw new UsageError(
      '--webhook-listen needs --tls-cert and --tls-key (the API server calls webhooks over HTTPS)',
    );
  }
  if (webhookAt && !image) throw new UsageError('--webhook-listen needs --sidecar-image or $ROAM_IMAGE');
  if (webhookAt && !values['kubernetes-auth'])
    throw new UsageError(
      '--webhook-listen needs --kubernetes-auth: injected proxies prove who they are with their service-account tokens',
    );
  const replicaId = values['replica-id'] ?? process.env.POD_NAME ?? hostname();
  let kube: ReturnType<typeof inClusterConfig> | undefined;
  const kubeFlag = values['leader-elect']
    ? '--leader-elect'
    : values['kubernetes-auth']
      ? '--kubernetes-auth'
      : '';
  if (kubeFlag) {
    try {
      kube = inClusterConfig(process.env.ROAM_SERVICE_ACCOUNT_DIR);
    } catch (err) {
      throw new UsageError(`${kubeFlag} needs the pod's service account: ${(err as Error).message}`);
    }
  }
  const kubernetesAuth =
    kube && values['kubernetes-auth']
      ? new TokenReviewer({ ...kube, homeNamespace: kube.namespace })
      : undefined;
  let elector: LeaseElector | undefined;

  let cp: ControlPlane;
  let replica: ReplicatedControlPlane | undefined;
  if (stateUrl) {
    replica = new ReplicatedControlPlane({
      ...options,
      stateUrl,
      replicaId,
      elector: values['leader-elect']
        ? {
            isLeader: () => elector?.isLeader() ?? false,
            leaderAdminUrl: () => elector?.leader()?.annotations[ADMIN_URL_ANNOTATION],
          }
        : undefined,
      log,
    });
    cp = replica;
  } else {
    cp = new ControlPlane(options);
  }
  if (process.env.ROAM_SECRET) seedSecret(options.dataDir, process.env.ROAM_SECRET);
  await replica?.start().catch((err: Error) => {
    // The URL carries a password: name the flag, not the value.
    throw new UsageError(`cannot use the shared state (--state-url / $ROAM_STATE_URL): ${err.message}`);
  });
  let webhook: AdmissionWebhook | undefined;

  return {
    cp,
    ...(kubernetesAuth ? { kubernetesAuth } : {}),
    ...(replica
      ? {
          forward: replica.forwardToLeader,
          settle: (name: string, value: unknown) => replica.shared.settle(name, value),
        }
      : {}),
    async afterListen(admin) {
      const info: Record<string, unknown> = {};
      if (kubernetesAuth && cp.issuer) {
        // Not fatal: hosts wait for the ConfigMap, and the next start (or another replica) writes it.
        await publishCaConfigMap(kube!, cp.issuer.ca.certPem).then(
          (outcome) => log({ event: 'ca-configmap', name: CA_CONFIGMAP, outcome }),
          (err: Error) =>
            log({ event: 'ca-configmap-failed', level: 'error', name: CA_CONFIGMAP, message: err.message }),
        );
      }
      if (kube && values['leader-elect']) {
        const advertise =
          values['advertise-admin'] ?? `http://${process.env.POD_IP ?? admin.address}:${admin.port}`;
        elector = new LeaseElector({
          ...kube,
          name: values['lease-name'] ?? 'roam-control-plane',
          identity: replicaId,
          leaseDurationMs: leaseMs,
          renewDeadlineMs: Math.round((leaseMs * 2) / 3),
          retryPeriodMs: Math.max(100, Math.round(leaseMs / 7.5)),
          annotations: { [ADMIN_URL_ANNOTATION]: advertise },
          log,
        });
        // A leader that could not renew may already have a successor: it must not write again, so it stops and
        // Kubernetes restarts it as a follower (client-go's leader election ends the process the same way).
        elector.on('stopped-leading', () => {
          log({ event: 'leadership-lost', replica: replicaId });
          process.exit(1);
        });
        elector.start();
        info.replica = replicaId;
      }
      if (webhookAt) {
        const namespace = process.env.POD_NAMESPACE ?? 'roam-system';
        webhook = new AdmissionWebhook(
          { cert: values['tls-cert']!, key: values['tls-key']! },
          {
            image: image!,
            controlPlane: values['sidecar-control-plane'] ?? `roam-control-plane.${namespace}.svc:7950`,
            caPem: () => cp.issuer?.ca.certPem,
          },
        );
        const at = await webhook.listen(webhookAt.port, webhookAt.host);
        info.webhook = `${at.address}:${at.port}`;
      }
      return info;
    },
    async stop() {
      await webhook?.close();
      await kubernetesAuth?.close();
      elector?.removeAllListeners('stopped-leading');
      await elector?.stop();
      if (replica) await replica.stop();
      else cp.close();
    },
  };
}
