// Mutual TLS inside the mesh on the ports nodes already have (issue 17). A proxy's port takes the
// application's own traffic as the application sends it (plaintext HTTP) and mesh traffic from other nodes
// (TLS with a client certificate) alike, as Linkerd's inbound port does: a connection's first byte decides
// (22 opens a TLS handshake record; no HTTP request starts with it). Who the peer is, and whether a request
// may use what it asks for, is then decided per request from the connection (meshPeer).
import type { IncomingMessage, Server } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { type MeshIdentity, meshIdentity, type Peer, peerOf } from './mesh-identity.ts';

/** The first byte of a TLS handshake record (RFC 8446 5.1: ContentType handshake). */
const TLS_HANDSHAKE = 0x16;

/** Whether a connection that opened with `head` is a TLS client this process can answer as a mesh node. */
export function isMeshTls(head: Buffer): boolean {
  return head.length > 0 && head[0] === TLS_HANDSHAKE && meshIdentity() !== undefined;
}

/**
 * Answers mesh TLS handshakes on sockets whose first bytes were already read, with this node's certificate,
 * asking the client for its own, and hands each connection to `secure` once the handshake is done. A client
 * without a valid certificate still completes the handshake: its requests are then refused with the reason
 * (403 and a stable code), which a person can act on, where a failed handshake says little. A handshake that
 * fails or takes longer than `timeoutMs` closes the connection. Node's TLS server does the verification
 * (`authorized`, `authorizationError`); it never listens itself. A rotation (or a new identity) replaces its
 * context for the connections that follow.
 */
export class MeshTlsAcceptor {
  private readonly secure: (s: TLSSocket) => void;
  private readonly timeoutMs: number;
  private server: tls.Server | undefined;
  private holder: MeshIdentity | undefined;
  private generation = -1;

  constructor(timeoutMs: number, secure: (s: TLSSocket) => void) {
    this.timeoutMs = timeoutMs;
    this.secure = secure;
  }

  accept(socket: Socket, head: Buffer): void {
    const identity = meshIdentity()!;
    if (!this.server) {
      this.server = tls.createServer({
        requestCert: true,
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
        handshakeTimeout: this.timeoutMs,
      });
      this.server.on('secureConnection', this.secure);
      this.server.on('tlsClientError', (_err, s) => s.destroy());
    }
    if (identity !== this.holder || identity.generation !== this.generation) {
      this.server.setSecureContext({ key: identity.keyPem, cert: identity.certPem, ca: identity.caPem });
      this.holder = identity;
      this.generation = identity.generation;
    }
    // Node's TLSSocket reads what is already buffered on the socket before its handle: the bytes read to
    // sniff go back there, and the handshake goes on natively (no JavaScript stream in between). The socket
    // stays paused: resumed, it would hand its bytes to JavaScript rather than to the TLS layer.
    socket.unshift(head);
    this.server.emit('connection', socket);
  }
}

/**
 * Who sent `req` as the mesh sees it: `undefined` when this process holds no mesh identity (mTLS off: the
 * network is trusted, as before), the peer when it came over mesh TLS with a valid certificate of this trust
 * domain, or why it is not one.
 */
export function meshPeer(req: IncomingMessage): Peer | { refused: string } | undefined {
  const identity = meshIdentity();
  if (!identity) return undefined;
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted) return { refused: 'the request came in plaintext, not over mesh TLS' };
  // A connection's peer is fixed by its handshake: read its certificate once, not on every kept-alive request
  // (getPeerCertificate builds the whole certificate as an object each time).
  let peer = peers.get(socket as TLSSocket);
  if (peer === undefined) {
    peer = peerOf(socket as TLSSocket, identity);
    peers.set(socket as TLSSocket, peer);
  }
  return peer;
}

const peers = new WeakMap<TLSSocket, Peer | { refused: string }>();

/**
 * A port for an HTTP server that never listens itself (a standalone host's API): mesh TLS and plaintext on the
 * same port, as on the proxy. A connection that sends nothing is closed after `headersTimeoutMs`.
 */
export class MeshPort {
  private readonly tcp: net.Server;
  private readonly tls: MeshTlsAcceptor;

  constructor(server: Server, headersTimeoutMs: number) {
    this.tls = new MeshTlsAcceptor(headersTimeoutMs, (t) => server.emit('connection', t));
    // The HTTP server's headersTimeout and requestTimeout checks start on 'listening'; it never listens itself.
    server.emit('listening');
    this.tcp = net.createServer((socket) => {
      socket.on('error', () => socket.destroy());
      // As Node's HTTP server sets its own: an answer written in parts (a TLS record each) must not wait on
      // Nagle's algorithm for the client's delayed ACK.
      socket.setNoDelay(true);
      socket.setTimeout(headersTimeoutMs, () => socket.destroy());
      socket.once('data', (head: Buffer) => {
        socket.setTimeout(0);
        socket.pause();
        if (isMeshTls(head)) {
          this.tls.accept(socket, head);
          return;
        }
        socket.unshift(head);
        server.emit('connection', socket);
        socket.resume();
      });
    });
    server.once('close', () => this.tcp.close());
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(port, host, () => resolve(this.tcp.address() as AddressInfo));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.tcp.close(() => resolve()));
  }
}
