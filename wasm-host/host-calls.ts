// Host calls from a worker thread: the module runs on the worker, but stores, endpoint calls and their
// accounting live on the host's main thread. Each task that may make host calls carries a MessagePort; the
// worker side is a HostServices whose methods post a request and await the answer.
import type { MessagePort } from 'node:worker_threads';
import { errorFromCode, type RoamError, toRoamError } from '../core/errors.ts';
import { decodeResponse, type EndpointRequest, encodeResponse } from './abi.ts';
import type { HostServices } from './host-services.ts';

type Op = 'kvGet' | 'kvPut' | 'kvDelete' | 'kvList' | 'call' | 'log';

interface HostCall {
  id: number;
  op: Op;
  args: unknown[];
}

type HostReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; code: string; message: string };

/** Main-thread side: answers one task's host calls with the endpoint's bound services. */
export function serveHostCalls(port: MessagePort, services: HostServices): void {
  port.on('message', async (msg: HostCall) => {
    let reply: HostReply;
    try {
      let value: unknown;
      const a = msg.args;
      switch (msg.op) {
        case 'kvGet':
          value = await services.kvGet(a[0] as string, a[1] as string);
          break;
        case 'kvPut':
          value = await services.kvPut(a[0] as string, a[1] as string, a[2] as Uint8Array);
          break;
        case 'kvDelete':
          value = await services.kvDelete(a[0] as string, a[1] as string);
          break;
        case 'kvList':
          value = await services.kvList(a[0] as string, a[1] as string, a[2] as number);
          break;
        case 'call': {
          const res = await services.call(
            a[0] as string,
            a[1] as EndpointRequest,
            a[2] as string | undefined,
          );
          value = encodeResponse(res);
          break;
        }
        case 'log':
          services.log(a[0] as number, a[1] as string);
          return;
      }
      reply = { id: msg.id, ok: true, value };
    } catch (err) {
      const e = toRoamError(err);
      reply = { id: msg.id, ok: false, code: e.code, message: e.message };
    }
    port.postMessage(reply);
  });
}

/** Worker side: HostServices that forward to the main thread over `port`. */
export function portServices(port: MessagePort): HostServices {
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: RoamError) => void }>();
  port.on('message', (reply: HostReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(errorFromCode(reply.code, reply.message));
  });
  const send = <T>(op: Op, args: unknown[]): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      port.postMessage({ id, op, args } satisfies HostCall);
    });
  return {
    kvGet: (store, key) => send('kvGet', [store, key]),
    kvPut: (store, key, value) => send('kvPut', [store, key, value]),
    kvDelete: (store, key) => send('kvDelete', [store, key]),
    kvList: (store, prefix, limit) => send('kvList', [store, prefix, limit]),
    call: async (name, req, traceparent) =>
      decodeResponse(await send<Uint8Array>('call', [name, req, traceparent])),
    log: (level, message) =>
      port.postMessage({ id: -1, op: 'log', args: [level, message] } satisfies HostCall),
  };
}
