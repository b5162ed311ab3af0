// The gRPC face of the control plane (protocol/roam.proto): the discovery stream, module fetches and the
// report stream. Every call presents a node token; a node can only subscribe as itself.
import * as grpc from '@grpc/grpc-js';
import { toRoamError } from '../core/errors.ts';
import { bearer, verifyNodeToken } from './auth.ts';
import type { ControlPlane, NodeSession } from './control-plane.ts';
import {
  Discovery,
  type NodeMessage,
  type ReportAckMsg,
  type ReportBatchMsg,
  type SnapshotMsg,
} from './proto.ts';

function authenticate(cp: ControlPlane, metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  return verifyNodeToken(cp.state.secret(), bearer(typeof value === 'string' ? value : value?.toString()));
}

function fail(code: grpc.status, details: string): Partial<grpc.StatusObject> {
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

export function discoveryService(cp: ControlPlane): grpc.UntypedServiceImplementation {
  return {
    Stream(call: grpc.ServerDuplexStream<NodeMessage, SnapshotMsg>) {
      const tokenNode = authenticate(cp, call.metadata);
      if (!tokenNode) {
        reject(call, grpc.status.UNAUTHENTICATED, 'missing or invalid node token');
        return;
      }
      let nodeId: string | undefined;
      const session: NodeSession = {
        sentVersion: -1,
        send: (snapshot) => call.write(snapshot),
      };
      call.on('data', (msg: NodeMessage) => {
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
      });
      const end = () => {
        if (nodeId) cp.disconnect(nodeId, session);
      };
      call.on('end', () => {
        end();
        call.end();
      });
      call.on('error', end);
      call.on('cancelled', end);
    },

    FetchModule(
      call: grpc.ServerUnaryCall<{ digest: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      if (!authenticate(cp, call.metadata)) {
        callback(fail(grpc.status.UNAUTHENTICATED, 'missing or invalid node token'));
        return;
      }
      try {
        const bytes = cp.state.modules.bytes(call.request.digest);
        callback(null, { digest: call.request.digest, module: Buffer.from(bytes) });
      } catch (err) {
        callback(fail(grpc.status.NOT_FOUND, toRoamError(err).message));
      }
    },

    // Each batch goes into the profile store and is answered with the nodes to probe: every other node up.
    Report(call: grpc.ServerDuplexStream<ReportBatchMsg, ReportAckMsg>) {
      const tokenNode = authenticate(cp, call.metadata);
      if (!tokenNode) {
        call.emit('error', fail(grpc.status.UNAUTHENTICATED, 'missing or invalid node token'));
        return;
      }
      call.on('data', (batch: ReportBatchMsg) => {
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
      });
      call.on('end', () => call.end());
    },
  };
}

export async function startDiscoveryServer(
  cp: ControlPlane,
  host: string,
  port: number,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(Discovery.service, discoveryService(cp));
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port: bound };
}
