// HTTP/1.1 spoken by hand over a socket, for what an HTTP client will not do: declare a body and not send it,
// wait on `expect: 100-continue`, send half a request head, keep one connection across requests.
import { connect, type Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves once what was received matches `pattern` (and rejects if the connection closes before). */
  waitFor(pattern: RegExp): Promise<string>;
  /** Resolves with everything received once the server has closed the connection. */
  closed: Promise<string>;
}

/** Opens a connection to `url`'s host and port and writes `text` on it. */
export function rawRequest(url: string, text: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(text);
      resolve(conn);
    });
    let data = '';
    const waiters = new Set<() => void>();
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      for (const w of waiters) w();
    });
    const closed = new Promise<string>((done) => socket.on('close', () => done(data)));
    socket.on('error', reject);
    const conn: RawConnection = {
      socket,
      received: () => data,
      waitFor: (pattern) =>
        new Promise((found, lost) => {
          const check = () => {
            if (!pattern.test(data)) return;
            waiters.delete(check);
            found(data);
          };
          waiters.add(check);
          check();
          void closed.then(() => {
            if (waiters.delete(check)) lost(new Error(`connection closed before ${pattern}: ${data}`));
          });
        }),
      closed,
    };
  });
}
