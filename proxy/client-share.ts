// Per-client fairness for the upstream's connections: each client address may have a bounded number of
// passthrough requests in flight, so one client that sends or reads slowly (or opens many streams) cannot
// take every upstream connection from the others. Past its share a client gets 503 at once.
import { OverloadedError } from '../core/errors.ts';

export class ClientShares {
  private readonly inFlight = new Map<string, number>();
  private readonly max: number;

  constructor(maxPerClient: number) {
    this.max = maxPerClient;
  }

  /** Takes one slot for `client`, or throws OverloadedError (503); the returned function gives it back. */
  acquire(client: string): () => void {
    const n = this.inFlight.get(client) ?? 0;
    if (n >= this.max) {
      throw new OverloadedError(
        `client ${client} already has ${n} requests in flight to the upstream (the limit per client)`,
      );
    }
    this.inFlight.set(client, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.inFlight.get(client)! - 1;
      if (left === 0) this.inFlight.delete(client);
      else this.inFlight.set(client, left);
    };
  }
}
