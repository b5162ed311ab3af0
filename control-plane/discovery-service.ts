// The gRPC face of the control plane (protocol/roam.proto): the discovery stream, module fetches, the report
// stream and certificate issuance. Every call presents a node credential: a node token, or with Kubernetes auth
// a pod's projected service-account token (control-plane/token-review.ts); a node can only subscribe, report
// and get a certificate as itself. With mTLS on, the server speaks TLS with the control plane's own certificate.
import * as grpc from '@grpc/grpc-js';
import { toRoamError } from '../core/errors.ts';
import { bearer, verifyNodeToken } from './auth.ts';
import { CsrRefusedError, InvalidCsrError } from './ca.ts';
import type { ControlPlane, NodeSession } from './control-plane.ts';
import type { ServingCertificate } from './issuance.ts';
import {
  type CertificateRequestMsg,
  Discovery,
  type IssuedCertificateMsg,
  type NodeMessage,
  type ReportAckMsg,
  type ReportBatchMsg,
  type SnapshotMsg,
} from './proto.ts';
import { looksLikeJwt, TokenRefusedError, type TokenReviewer } from './token-review.ts';

export interface NodeAuthOptions {
  /** Also accept Kubernetes service-account tokens, checked with a TokenReview (`--kubernetes-auth`). */
  kubernetes?: TokenReviewer;
}

type Refusal = Partial<grpc.StatusObject>;

/** The node id the call's credential proves; rejects with the status to answer. */
async function authenticate(
  cp: ControlPlane,
  metadata: grpc.Metadata,
  auth: NodeAuthOptions,
): Promise<string> {
  const value = metadata.get('authorization')[0];
  const token = bearer(typeof value === 'string' ? value : value?.toString());
  const nodeId = verifyNodeToken(cp.state.secret(), token);
  if (nodeId) return nodeId;
  if (auth.kubernetes && looksLikeJwt(token)) {
    try {
      return await auth.kubernetes.nodeId(token);
    } catch (err) {
      const code = err instanceof TokenRefusedError ? grpc.status.UNAUTHENTICATED : grpc.status.UNAVAILABLE;
      throw fail(code, (err as Error).message);
    }
  }
  throw fail(
    grpc.status.UNAUTHENTICATED,
    auth.kubernetes
      ? 'missing or invalid node credential (a node token or a service-account token with audience roam)'
      : 'missing or invalid node token',
  );
}

function fail(code: grpc.status, details: string): Refusal {
  return { code, details };
}

/** Ends a stream with a status the node sees (and logs) as the reason. */
function reject(
  call: grpc.ServerDuplexStream<NodeMessage, SnapshotMsg>,
  code: grpc.status,
  details: string,
): void {
  call.emit('error', fail(code, details));
}

/**
 * The streams' credential check: settles to the node id, or to undefined once the stream has been refused.
 * Messages, the end and errors all wait on it in order (a TokenReview takes a round trip), so a stream that
 * goes away before its check is done leaves no session behind.
 */
function authenticateStream(
  cp: ControlPlane,
  call: grpc.ServerDuplexStream<unknown, unknown>,
  auth: NodeAuthOptions,
): Promise<string | undefined> {
  return authenticate(cp, call.metadata, auth).catch((refusal: Refusal) => {
    call.emit('error', refusal);
    return undefined;
  });
}

async function issue(
  cp: ControlPlane,
  auth: NodeAuthOptions,
  call: grpc.ServerUnaryCall<CertificateRequestMsg, IssuedCertificateMsg>,
): Promise<IssuedCertificateMsg> {
  const tokenNode = await authenticate(cp, call.metadata, auth);
  const claimed = call.request.node?.nodeId;
  if (claimed !== tokenNode) {
    throw fail(grpc.status.PERMISSION_DENIED, `token is for node "${tokenNode}", not "${claimed ?? ''}"`);
  }
  const issued = await cp.issueCertificate(tokenNode, call.request).catch((err: Error) => {
    const code =
      err instanceof CsrRefusedError
        ? grpc.status.PERMISSION_DENIED
        : err instanceof InvalidCsrError
          ? grpc.status.INVALID_ARGUMENT
          : grpc.status.INTERNAL;
    throw fail(code, err.message);
  });
  if (!issued) throw fail(grpc.status.FAILED_PRECONDITION, 'mTLS is off on this control plane');
  return {
    certificateChain: issued.certPem,
    caBundle: cp.issuer!.ca.certPem,
    trustDomain: cp.issuer!.trustDomain,
    notAfterMs: issued.notAfter.getTime(),
  };
}

export function discoveryService(
  cp: ControlPlane,
  auth: NodeAuthOptions = {},
): grpc.UntypedServiceImplementation {
  return {
    Stream(call: grpc.ServerDuplexStream<NodeMessage, SnapshotMsg>) {
      const authenticated = authenticateStream(cp, call, auth);
      let nodeId: string | undefined;
      const session: NodeSession = {
        sentVersion: -1,
        send: (snapshot) => call.write(snapshot),
      };
      const handle = (tokenNode: string, msg: NodeMessage) => {
        try {
          if (msg.subscribe) {
            if (msg.subscribe.nodeId !== tokenNode) {
              reject(
                call,
                grpc.status.PERMISSION_DENIED,
                `token is for node "${tokenNode}", not "${msg.subscribe.nodeId}"`,
              );
              return;
            }
            nodeId = msg.subscribe.nodeId;
            cp.subscribe(msg.subscribe, session);
          } else if (!nodeId) {
            reject(call, grpc.status.FAILED_PRECONDITION, 'the first message must be subscribe');
          } else if (msg.ack) {
            cp.ack(nodeId, msg.ack.version, msg.ack.ready);
          } else if (msg.nack) {
            cp.nack(nodeId, msg.nack.version, msg.nack.reason);
          } else if (msg.heartbeat) {
            cp.heartbeat(nodeId, msg.heartbeat);
          }
        } catch (err) {
          const e = toRoamError(err);
          reject(call, grpc.status.INVALID_ARGUMENT, e.message);
        }
      };
      call.on('data', (msg: NodeMessage) => {
        void authenticated.then((tokenNode) => {
          if (tokenNode !== undefined) handle(tokenNode, msg);
        });
      });
      const end = () => {
        if (nodeId) cp.disconnect(nodeId, session);
      };
      call.on('end', () => {
        void authenticated.then(() => {
          end();
          call.end();
        });
      });
      call.on('error', () => void authenticated.then(end));
      call.on('cancelled', () => void authenticated.then(end));
    },

    FetchModule(
      call: grpc.ServerUnaryCall<{ digest: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      authenticate(cp, call.metadata, auth).then(
        () => {
          try {
            const bytes = cp.state.modules.bytes(call.request.digest);
            callback(null, { digest: call.request.digest, module: Buffer.from(bytes) });
          } catch (err) {
            callback(fail(grpc.status.NOT_FOUND, toRoamError(err).message));
          }
        },
        (refusal: Refusal) => callback(refusal),
      );
    },

    IssueCertificate(
      call: grpc.ServerUnaryCall<CertificateRequestMsg, IssuedCertificateMsg>,
      callback: grpc.sendUnaryData<IssuedCertificateMsg>,
    ) {
      issue(cp, auth, call).then(
        (issued) => callback(null, issued),
        (refusal: Refusal) => callback(refusal),
      );
    },

    // Each batch goes into the profile store and is answered with the nodes to probe: every other node up.
    Report(call: grpc.ServerDuplexStream<ReportBatchMsg, ReportAckMsg>) {
      const authenticated = authenticateStream(cp, call, auth);
      const handle = (tokenNode: string, batch: ReportBatchMsg) => {
        if (batch.nodeId !== tokenNode) {
          call.emit(
            'error',
            fail(grpc.status.PERMISSION_DENIED, `token is for node "${tokenNode}", not "${batch.nodeId}"`),
          );
          return;
        }
        let accepted: number;
        try {
          accepted = cp.profiles.ingest(batch);
        } catch (err) {
          call.emit(
            'error',
            fail(grpc.status.INVALID_ARGUMENT, `report refused: ${toRoamError(err).message}`),
          );
          return;
        }
        const peers = cp.state
          .nodes()
          .filter((n) => n.id !== tokenNode && n.status === 'up' && n.address)
          .map((n) => ({ nodeId: n.id, address: n.address }));
        call.write({ accepted, peers });
      };
      call.on('data', (batch: ReportBatchMsg) => {
        void authenticated.then((tokenNode) => {
          if (tokenNode !== undefined) handle(tokenNode, batch);
        });
      });
      call.on('end', () => void authenticated.then(() => call.end()));
    },
  };
}

/**
 * Serves discovery on HOST:PORT: over TLS with `tls` (the control plane's certificate, swapped in for new
 * connections as it renews), else in plaintext. Nodes authenticate with their credentials (`auth`) either way;
 * they have no certificate before they ask this server for one, so none is requested.
 */
export async function startDiscoveryServer(
  cp: ControlPlane,
  host: string,
  port: number,
  tls?: ServingCertificate,
  auth: NodeAuthOptions = {},
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(Discovery.service, discoveryService(cp, auth));
  const credentials = tls ? servingCredentials(tls) : grpc.ServerCredentials.createInsecure();
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port: bound };
}

function servingCredentials(tls: ServingCertificate): grpc.ServerCredentials {
  const listeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  const current = () => ({ certificate: Buffer.from(tls.certPem), privateKey: Buffer.from(tls.keyPem) });
  tls.onRenew(() => {
    for (const l of listeners) l(current());
  });
  const provider: grpc.experimental.CertificateProvider = {
    addCaCertificateListener() {},
    removeCaCertificateListener() {},
    addIdentityCertificateListener(listener) {
      listeners.add(listener);
      // grpc-js registers its watcher only after this returns: an answer given at once would reach nobody.
      queueMicrotask(() => listener(current()));
    },
    removeIdentityCertificateListener(listener) {
      listeners.delete(listener);
    },
  };
  // grpc-js's declaration names its first parameter the CA provider, but passes it on as the identity one.
  return grpc.experimental.createCertificateProviderServerCredentials(provider, null, false);
}
