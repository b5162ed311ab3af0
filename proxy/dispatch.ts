// Endpoint dispatch as a stack of small layers, each a `next => dispatch` function (undici's interceptor
// shape): timeout -> retry -> balancer -> load shedding -> outlier accounting -> transport. The proxy only
// composes them; each layer has one job and its own file under layers/.
import type { Context } from '@opentelemetry/api';
import type { EndpointRequest, EndpointResponse } from '../wasm-host/index.ts';
import type { EndpointTargets, Route, Target } from './route-table.ts';

export interface EndpointCall {
  endpoint: EndpointTargets;
  route: Route | undefined;
  req: EndpointRequest;
  traceparent: string | undefined;
  /** Trace context of the request's server span (or of the invocation making an endpoint call). */
  context: Context | undefined;
  /** Aborted when the route's timeout passes or the client goes away; attempts in flight stop with it. */
  signal: AbortSignal;
  cancel(reason: Error): void;
  /** GET, HEAD, OPTIONS, PUT, DELETE: safe to send twice. */
  idempotent: boolean;
  /** Set by the balancer for the attempt in progress. */
  target: Target | undefined;
  attempt: number;
  /** Targets already tried for this call, so a retry goes elsewhere when it can. */
  tried: Set<string>;
}

export type Dispatch = (call: EndpointCall) => Promise<EndpointResponse>;
export type Layer = (next: Dispatch) => Dispatch;

/** compose([a, b, c], t) = a(b(c(t))): the first layer sees the call first. */
export function compose(layers: Layer[], transport: Dispatch): Dispatch {
  return layers.reduceRight((next, layer) => layer(next), transport);
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}
